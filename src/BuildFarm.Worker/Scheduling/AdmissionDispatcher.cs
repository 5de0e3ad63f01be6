using System.Diagnostics.Metrics;
using BuildFarm.Contracts;
using BuildFarm.Coordination.Scheduling;
using BuildFarm.Worker.Metrics;
using BuildFarm.Worker.Options;
using MassTransit;
using Microsoft.Extensions.Options;

namespace BuildFarm.Worker.Scheduling;

/// <summary>
/// The worker's side of admission (docs/scheduling.md "Admission"), on with <c>Scheduling:Admission</c>. Every worker
/// replica runs one; there is no leader. It offers this worker's slots to the admission store (a heartbeat), and on a short
/// timer, or at once when a build of this worker ends or the store signals builds waiting with slots free: takes a snapshot of the ready builds and the free capacity, lets the
/// <see cref="ISchedulingPolicy"/> choose, claims the chosen builds (the store's atomic step decides races between
/// replicas and never admits past the capacity) and publishes each. It also republishes builds claimed but never started
/// (their releaser died between its claim and its publish). The build's consumer calls <see cref="StartAsync"/> (dropping
/// a second copy) and <see cref="EndAsync"/> (ends of several builds go to the store in one call).
/// </summary>
public sealed class AdmissionDispatcher : BackgroundService
{
    /// <summary>At most this many tenants get their own <c>tenant</c> label on the ready gauge; the others are summed as "other".</summary>
    public const int MaxTenantLabels = 20;

    private static readonly TimeSpan EndWait = TimeSpan.FromSeconds(10);

    /// <summary>A woken round waits this long first, so that the ends of builds finishing together go in one call.</summary>
    public static readonly TimeSpan WakeGather = TimeSpan.FromMilliseconds(10);

    private readonly IAdmissionStore _store;
    private readonly ISchedulingPolicy _policy;
    private readonly IServiceProvider _services;
    private readonly AdmissionOptions _options;
    private readonly int _slots;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly TimeProvider _time;
    private readonly ILogger<AdmissionDispatcher> _logger;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly Lock _gate = new();
    private List<(string BuildId, TaskCompletionSource Done)> _ends = [];
    private List<AdmittedBuild> _unpublished = [];
    private AdmissionSnapshot? _last;
    private DateTimeOffset _lastAt = DateTimeOffset.MinValue;
    private readonly Counter<long>? _admitted;
    private readonly Counter<long>? _expired;

    public AdmissionDispatcher(IAdmissionStore store, ISchedulingPolicy policy, IServiceProvider services, IOptions<AdmissionOptions> options, IOptions<WorkerOptions> worker,
        IHostApplicationLifetime lifetime, TimeProvider time, IMeterFactory meters, ILogger<AdmissionDispatcher> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(worker);
        ArgumentNullException.ThrowIfNull(meters);
        _store = store;
        _policy = policy;
        // The bus is resolved only when admission is on: hosts without a bus of their own (the demo's workers) run without it.
        _services = services;
        _options = options.Value;
        _slots = worker.Value.Slots;
        _lifetime = lifetime;
        _time = time;
        _logger = logger;
        WorkerId = $"{Environment.MachineName}-{Guid.NewGuid():N}";
        if (!Enabled)
        {
            return;
        }
        var meter = meters.Create(BuildFarmMetrics.MeterName);
        _admitted = meter.CreateCounter<long>("buildfarm.admission.admitted", description: "Builds this worker released to the broker (claims and republishes)");
        _expired = meter.CreateCounter<long>("buildfarm.admission.expired",
            description: "Builds this worker's sweep ended after Scheduling:MaxInFlightAge in flight (their end never reached the store)");
        meter.CreateObservableGauge("buildfarm.admission.ready", ReadyByTenant,
            description: "Ready builds waiting in the admission store, by tenant (the farm's backlog as this worker last saw it)");
        meter.CreateObservableGauge("buildfarm.admission.in_flight", () => _last?.InFlight ?? 0,
            description: "Builds admitted and not ended, farm-wide, as this worker last saw it");
        meter.CreateObservableGauge("buildfarm.admission.free_slots", () => _last?.FreeSlots ?? 0,
            description: "Slots of live workers minus builds in flight, farm-wide, as this worker last saw it");
    }

    public bool Enabled => _options.Admission;

    /// <summary>This worker in the admission store (its heartbeat and its claims).</summary>
    public string WorkerId { get; }

    /// <summary>Marks an admitted build started by the message <paramref name="messageId"/>; without admission (or a message
    /// id) no round trip: <see cref="AdmissionStart.NotAdmitted"/>.</summary>
    public Task<AdmissionStart> StartAsync(string buildId, string? messageId, CancellationToken cancellationToken) =>
        Enabled && messageId is not null ? _store.StartAsync(buildId, messageId, cancellationToken) : Task.FromResult(AdmissionStart.NotAdmitted);

    /// <summary>
    /// The build ended here (any outcome): its slot goes back. Ends are sent with the dispatcher's next round (at once: this
    /// wakes it), several builds' in one call; waits until sent (at most 10 s; a failure is logged, not thrown: the build's
    /// message is acked either way).
    /// </summary>
    public async Task EndAsync(string buildId)
    {
        if (!Enabled)
        {
            return;
        }
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            _ends.Add((buildId, done));
        }
        Wake();
        try
        {
            await done.Task.WaitAsync(EndWait, _time).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or StackExchange.Redis.RedisException)
        {
            _logger.LogWarning("build {Build}: its end did not reach the admission store ({Error}); its slot stays counted until it does", buildId, e.Message);
        }
    }

    /// <summary>A cancel of a build still waiting for admission: takes it out of the store; the command, to be published at
    /// once (its worker finds the cancel marker and ends it without a pod), or null when it was not waiting.</summary>
    public async Task<BuildImage?> TakeBackReadyAsync(string buildId, CancellationToken cancellationToken) =>
        Enabled && await _store.RemoveReadyAsync(buildId, cancellationToken).ConfigureAwait(false) is { } payload ? BuildImagePayload.Deserialize(payload) : null;

    /// <summary>Runs a round at once instead of at the next tick.</summary>
    public void Wake()
    {
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already woken.
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Enabled)
        {
            return;
        }
        // Publish only once the host (and with it the bus) has started.
        await WhenStartedAsync(stoppingToken).ConfigureAwait(false);
        await using var waiting = await SubscribeAsync(stoppingToken).ConfigureAwait(false);
        var nextHeartbeat = DateTimeOffset.MinValue;
        var nextSweep = _time.GetUtcNow() + _options.RepublishAfter;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var now = _time.GetUtcNow();
                if (now >= nextHeartbeat)
                {
                    await _store.HeartbeatAsync(WorkerId, _slots, _options.HeartbeatTtl, stoppingToken).ConfigureAwait(false);
                    nextHeartbeat = now + _options.HeartbeatInterval;
                }
                if (now >= nextSweep)
                {
                    await RepublishAsync(await _store.SweepAsync(_options.RepublishAfter, AdmissionLimits.MaxClaim, stoppingToken).ConfigureAwait(false),
                        "republished (claimed, never started)", stoppingToken).ConfigureAwait(false);
                    var expired = await _store.ExpireAsync(_options.MaxInFlightAge, AdmissionLimits.MaxClaim, stoppingToken).ConfigureAwait(false);
                    if (expired.Count > 0)
                    {
                        _expired?.Add(expired.Count);
                        _logger.LogWarning("admission: ended {Count} build(s) in flight for over {MaxInFlightAge} (their end never reached the store): {Builds}",
                            expired.Count, _options.MaxInFlightAge, string.Join(", ", expired.Take(20)));
                    }
                    nextSweep = now + _options.RepublishAfter / 4;
                }
                await RunOnceAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                _logger.LogWarning("admission: {Error}; trying again in {Interval}", e.Message, _options.DispatchInterval);
            }
            try
            {
                if (await _wake.WaitAsync(_options.DispatchInterval, stoppingToken).ConfigureAwait(false))
                {
                    await Task.Delay(WakeGather, _time, stoppingToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        await LeaveAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// One round: sends the ends gathered, republishes what the last round could not publish, then snapshot → policy → claim →
    /// publish — unless the ends said no build is ready and the last snapshot is younger than the dispatch interval.
    /// Returns how many builds it released.
    /// </summary>
    public async Task<int> RunOnceAsync(CancellationToken cancellationToken)
    {
        var nothingWaits = await SendEndsAsync(cancellationToken).ConfigureAwait(false);
        List<AdmittedBuild> retry;
        lock (_gate)
        {
            (retry, _unpublished) = (_unpublished, []);
        }
        var released = await RepublishAsync(retry, "published after an earlier failure", cancellationToken).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        if (nothingWaits && now - _lastAt < _options.DispatchInterval)
        {
            // The ends freed slots and no build is ready to take them: nothing to choose. (The gauges' snapshot is
            // still taken at least once per DispatchInterval.)
            return released;
        }
        var snapshot = await _store.SnapshotAsync(_options.CandidatesPerGroup, _options.MaxGroups, cancellationToken).ConfigureAwait(false);
        _last = snapshot;
        _lastAt = now;
        if (snapshot.FreeSlots <= 0 || snapshot.Scheduling.Ready.Count == 0)
        {
            return released;
        }
        var chosen = _policy.Choose(snapshot.Scheduling, Math.Min(snapshot.FreeSlots, AdmissionLimits.MaxClaim));
        if (chosen.Count == 0)
        {
            return released;
        }
        var admitted = await _store.ClaimAsync([.. chosen.Take(AdmissionLimits.MaxClaim).Select(b => b.BuildId)], WorkerId, cancellationToken).ConfigureAwait(false);
        released += await RepublishAsync(admitted, "admitted", cancellationToken).ConfigureAwait(false);
        if (admitted.Count == chosen.Count && chosen.Count < snapshot.ReadyCount)
        {
            // Everything chosen was admitted and more is waiting: look again now rather than at the next tick.
            Wake();
        }
        return released;
    }

    /// <summary>Sends the ends gathered; true when some were sent and the store said no build is ready after them.</summary>
    private async Task<bool> SendEndsAsync(CancellationToken cancellationToken)
    {
        List<(string BuildId, TaskCompletionSource Done)> ends;
        lock (_gate)
        {
            (ends, _ends) = (_ends, []);
        }
        var nothingWaits = ends.Count > 0;
        foreach (var chunk in ends.Chunk(AdmissionLimits.MaxClaim))
        {
            try
            {
                nothingWaits &= !(await _store.EndAsync([.. chunk.Select(e => e.BuildId)], cancellationToken).ConfigureAwait(false)).ReadyWaiting;
            }
            catch (Exception e)
            {
                foreach (var end in chunk)
                {
                    end.Done.TrySetException(e);
                }
                throw;
            }
            foreach (var end in chunk)
            {
                end.Done.TrySetResult();
            }
        }
        return nothingWaits;
    }

    /// <summary>Publishes each build's command (the broker's confirm awaited within Scheduling:PublishTimeout); those that
    /// fail are kept for the next round (and, should this worker die, republished by another's sweep).</summary>
    private async Task<int> RepublishAsync(IReadOnlyList<AdmittedBuild> builds, string what, CancellationToken cancellationToken)
    {
        if (builds.Count == 0)
        {
            return 0;
        }
        var published = 0;
        await Parallel.ForEachAsync(builds, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken }, async (build, ct) =>
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_options.PublishTimeout);
            try
            {
                await _services.GetRequiredService<IBus>().Publish(BuildImagePayload.Deserialize(build.Payload), timeout.Token).ConfigureAwait(false);
                Interlocked.Increment(ref published);
                _logger.LogDebug("build {Build}: {What}", build.BuildId, what);
            }
            catch (Exception e) when (!ct.IsCancellationRequested && e is not System.Text.Json.JsonException)
            {
                _logger.LogWarning("build {Build}: admitted but not published ({Error}); trying again", build.BuildId, e.Message);
                lock (_gate)
                {
                    _unpublished.Add(build);
                }
            }
        }).ConfigureAwait(false);
        _admitted?.Add(published);
        return published;
    }

    /// <summary>Wakes this dispatcher when an enqueue leaves builds waiting with slots free; without the signal (Redis
    /// refused the subscription) it runs on its tick alone.</summary>
    private async Task<IAsyncDisposable?> SubscribeAsync(CancellationToken stoppingToken)
    {
        try
        {
            return await _store.OnWaitingAsync(Wake, stoppingToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!stoppingToken.IsCancellationRequested)
        {
            _logger.LogWarning("admission: no wake-up signal from the store ({Error}); builds that wait are released on the dispatcher's tick", e.Message);
            return null;
        }
    }

    private async Task WhenStartedAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var onStarted = _lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        await started.Task.WaitAsync(stoppingToken).ConfigureAwait(false);
    }

    /// <summary>Stopping: this worker's slots leave the capacity at once (else when its heartbeat expires), the last ends are sent.</summary>
    private async Task LeaveAsync()
    {
        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await SendEndsAsync(bounded.Token).ConfigureAwait(false);
            await _store.LeaveAsync(WorkerId, bounded.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _logger.LogWarning("admission: leaving the store failed ({Error}); this worker's slots drop out when its heartbeat expires", e.Message);
        }
    }

    private IEnumerable<Measurement<int>> ReadyByTenant()
    {
        if (_last is not { } last)
        {
            yield break;
        }
        var ranked = last.ReadyByTenant.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        foreach (var (tenant, count) in ranked.Take(MaxTenantLabels))
        {
            yield return new Measurement<int>(count, new KeyValuePair<string, object?>("tenant", tenant.Length == 0 ? "none" : tenant));
        }
        if (ranked.Count > MaxTenantLabels)
        {
            yield return new Measurement<int>(ranked.Skip(MaxTenantLabels).Sum(kv => kv.Value), new KeyValuePair<string, object?>("tenant", "other"));
        }
    }

    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }
}
