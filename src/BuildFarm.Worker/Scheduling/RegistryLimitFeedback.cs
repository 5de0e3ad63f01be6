using System.Diagnostics.Metrics;
using BuildFarm.Contracts;
using BuildFarm.Coordination.Adaptive;
using BuildFarm.Kaniko;
using BuildFarm.Kaniko.Logs;
using BuildFarm.Worker.Metrics;
using BuildFarm.Worker.Options;
using Microsoft.Extensions.Options;

namespace BuildFarm.Worker.Scheduling;

/// <summary>
/// The worker's side of the adaptive registry limits (docs/scheduling.md): each finished attempt reports whether its
/// push met congestion (<see cref="Report"/>); every <c>Worker:RegistryLimitWindow</c> the reports go to the shared
/// <see cref="IRegistryLimits"/> in one call, which answers the limits every worker then uses (<see cref="Current"/>,
/// read from memory: acquiring a slot costs no extra round trip). With <c>Worker:AdaptiveRegistryLimit</c> off the
/// limit is <c>Worker:RegistrySlotLimit</c> and nothing is sent.
/// </summary>
public sealed class RegistryLimitFeedback : BackgroundService
{
    /// <summary>At most this many registries are tracked (names come from build specs); others get the maximum.</summary>
    public const int MaxRegistries = 1000;

    private readonly IRegistryLimits _limits;
    private readonly WorkerOptions _options;
    private readonly AdaptiveLimitSettings _settings;
    private readonly TimeProvider _time;
    private readonly ILogger<RegistryLimitFeedback> _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, int> _current = new(StringComparer.OrdinalIgnoreCase);
    private Dictionary<string, LimitReports> _pending = new(StringComparer.OrdinalIgnoreCase);

    public RegistryLimitFeedback(IRegistryLimits limits, IOptions<WorkerOptions> options, TimeProvider time, IMeterFactory meters,
        ILogger<RegistryLimitFeedback> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(meters);
        _limits = limits;
        _options = options.Value;
        _time = time;
        _logger = logger;
        _settings = new AdaptiveLimitSettings
        {
            Floor = Math.Min(_options.RegistrySlotFloor, _options.RegistrySlotLimit),
            Max = _options.RegistrySlotLimit,
            Cooldown = _options.RegistryLimitCooldown,
            DecreaseFactor = _options.RegistryLimitDecreaseFactor,
            CongestionWeight = _options.RegistryLimitCongestionWeight,
        };
        // The meter of BuildFarmMetrics (the factory hands out one Meter per name): buildfarm_registry_slot_limit, and
        // the floor beside it (the BuildFarmRegistryAtSlotFloor alert compares the two).
        var meter = meters.Create(BuildFarmMetrics.MeterName);
        meter.CreateObservableGauge("buildfarm.registry_slot_limit",
            () => Snapshot().Select(kv => new Measurement<int>(kv.Value, new KeyValuePair<string, object?>("registry", kv.Key))),
            description: "The slot limit of each registry this worker builds for, as the adaptive limit last set it");
        if (_options.AdaptiveRegistryLimit)
        {
            meter.CreateObservableGauge("buildfarm.registry_slot_floor", () => _settings.Floor,
                description: "The floor of the adaptive registry slot limit (Worker:RegistrySlotFloor)");
        }
    }

    /// <summary>The slot limit of <paramref name="registry"/> as last read (the maximum until the first read).</summary>
    public int Current(string registry)
    {
        if (!_options.AdaptiveRegistryLimit)
        {
            return _options.RegistrySlotLimit;
        }
        lock (_gate)
        {
            if (_current.TryGetValue(registry, out var limit))
            {
                return limit;
            }
            if (_current.Count < MaxRegistries)
            {
                // Known from now on: the next window reads its limit even if this worker has nothing to report.
                _current[registry] = _options.RegistrySlotLimit;
            }
            return _options.RegistrySlotLimit;
        }
    }

    /// <summary>Every registry's limit as last read, for the gauge.</summary>
    public IReadOnlyList<KeyValuePair<string, int>> Snapshot()
    {
        lock (_gate)
        {
            return [.. _current];
        }
    }

    /// <summary>Reports a finished attempt that pushed to <paramref name="registry"/>: congested when its push met a
    /// connection reset or a refusal (429, 5xx) that Kaniko retried, or it failed on one of them; clean when it
    /// succeeded without; other failures say nothing about the registry.</summary>
    public void Report(string registry, KanikoLogAnalysis? analysis, bool succeeded, string? failureReason)
    {
        if (!_options.AdaptiveRegistryLimit || string.IsNullOrEmpty(registry))
        {
            return;
        }
        var congested = (analysis?.ResetsIn(KanikoPhase.Push) ?? 0) + (analysis?.RefusalsIn(KanikoPhase.Push) ?? 0) > 0
            || failureReason is FailureReasons.ConnectionReset or FailureReasons.RegistryUnavailable;
        if (!congested && !succeeded)
        {
            return;
        }
        lock (_gate)
        {
            if (!_pending.ContainsKey(registry) && _pending.Count >= MaxRegistries)
            {
                return;
            }
            var window = _pending.GetValueOrDefault(registry);
            _pending[registry] = congested ? window with { Congested = window.Congested + 1 } : window with { Clean = window.Clean + 1 };
        }
    }

    /// <summary>Sends the reports gathered since the last call and reads every known registry's limit back.</summary>
    public async Task FlushAsync(CancellationToken ct)
    {
        Dictionary<string, LimitReports> reports;
        lock (_gate)
        {
            reports = _pending;
            _pending = new Dictionary<string, LimitReports>(StringComparer.OrdinalIgnoreCase);
            foreach (var registry in _current.Keys)
            {
                reports.TryAdd(registry, default);
            }
        }
        if (reports.Count == 0)
        {
            return;
        }
        IReadOnlyDictionary<string, AdaptiveLimitState> states;
        try
        {
            states = await _limits.ApplyAsync(reports, _settings, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Redis away: keep the reports for the next window and the limits as they were.
            lock (_gate)
            {
                foreach (var (registry, window) in reports)
                {
                    if (window.Clean == 0 && window.Congested == 0)
                    {
                        continue;
                    }
                    var later = _pending.GetValueOrDefault(registry);
                    _pending[registry] = new LimitReports(later.Clean + window.Clean, later.Congested + window.Congested);
                }
            }
            _logger.LogWarning("registry limits: could not send this window's reports ({Error}); keeping the limits as they were", e.Message);
            return;
        }
        lock (_gate)
        {
            foreach (var (registry, state) in states)
            {
                if (_current.TryGetValue(registry, out var before) && before != state.Slots)
                {
                    _logger.LogInformation("registry {Registry}: slot limit {Before} → {After}", registry, before, state.Slots);
                }
                if (_current.ContainsKey(registry) || _current.Count < MaxRegistries)
                {
                    _current[registry] = state.Slots;
                }
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.AdaptiveRegistryLimit)
        {
            return;
        }
        using var timer = new PeriodicTimer(_options.RegistryLimitWindow, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                await FlushAsync(stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
