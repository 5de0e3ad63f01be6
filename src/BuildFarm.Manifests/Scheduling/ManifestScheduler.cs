using BuildFarm.Contracts;
using BuildFarm.Manifests.Model;
using BuildFarm.Manifests.Parsing;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BuildFarm.Manifests.Scheduling;

/// <summary>One occurrence the scheduler published.</summary>
public sealed record ScheduleFired(string Image, DateTimeOffset Occurrence, string BatchId, int Images, int Coalesced);

/// <summary>
/// Fires a manifest's schedules. Every instance competes for a leader lease; the leader, each poll, decides per schedule
/// (<see cref="ScheduleCalculator.Decide"/>) and, for an occurrence to run, claims it, publishes a <see cref="SubmitBatch"/>
/// of the image and its dependents through MassTransit, marks it fired and records it as handled. The claim makes each
/// occurrence fire once even when leadership moves mid-way; the recorded last occurrence lets <see cref="MissedSchedulePolicy.RunOnce"/>
/// catch up after downtime. Time comes from <see cref="TimeProvider"/>.
/// </summary>
public sealed class ManifestScheduler : BackgroundService
{
    private readonly IScheduleCoordinator _coordinator;
    private readonly IServiceScopeFactory _scopes;
    private readonly TimeProvider _time;
    private readonly ManifestSchedulerOptions _options;
    private readonly ILogger<ManifestScheduler> _logger;
    private readonly List<ScheduleFired> _fired = [];
    private readonly Lock _firedLock = new();

    // Per schedule, occurrences claimed (by this instance or one that may have died) but not known to be published. Each
    // is published on its own once this instance can claim it, never folded into a later occurrence. Polls only.
    private readonly Dictionary<string, SortedSet<DateTimeOffset>> _owed = new(StringComparer.Ordinal);
    private bool _leading;
    private long _lastPollTicks = DateTimeOffset.MinValue.UtcTicks;
    private long _waitingSinceTicks = DateTimeOffset.MinValue.UtcTicks;

    public ManifestScheduler(
        IScheduleCoordinator coordinator, IServiceScopeFactory scopes, TimeProvider time, IOptions<ManifestSchedulerOptions> options, ILogger<ManifestScheduler> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _coordinator = coordinator;
        _scopes = scopes;
        _time = time;
        _options = options.Value;
        _logger = logger;
        InstanceId = string.IsNullOrWhiteSpace(_options.InstanceId) ? $"{Environment.MachineName}-{Guid.NewGuid():N}"[..^20] : _options.InstanceId;
        Manifest = LoadManifest(_options);
    }

    /// <summary>This instance's id in the lease and the claims.</summary>
    public string InstanceId { get; }

    public Manifest Manifest { get; }

    /// <summary>The time of this instance's last completed poll (<see cref="DateTimeOffset.MinValue"/> before the first).</summary>
    public DateTimeOffset LastPoll => new(Interlocked.Read(ref _lastPollTicks), TimeSpan.Zero);

    /// <summary>When the service last went to sleep until its next poll (its timer is set by then); tests on fake time wait for it.</summary>
    public DateTimeOffset WaitingSince => new(Interlocked.Read(ref _waitingSinceTicks), TimeSpan.Zero);

    /// <summary>True while this instance holds the leader lease (as of its last poll).</summary>
    public bool IsLeading => Volatile.Read(ref _leading);

    /// <summary>What this instance published, oldest first.</summary>
    public IReadOnlyList<ScheduleFired> Fired
    {
        get
        {
            lock (_firedLock)
            {
                return [.. _fired];
            }
        }
    }

    /// <summary>Raised after each publish (the CLI prints it).</summary>
    public event Action<ScheduleFired>? OnFired;

    /// <summary>Parses the configured manifest and checks that each schedule can be planned (a bad revision for a git context
    /// fails here, at start, not at 03:00).</summary>
    public static Manifest LoadManifest(ManifestSchedulerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var manifest = string.IsNullOrWhiteSpace(options.ManifestYaml)
            ? ManifestParser.Load(options.ManifestPath ?? throw new InvalidOperationException("Scheduler:ManifestPath is required"))
            : ManifestParser.Parse(options.ManifestYaml, "Scheduler:ManifestYaml");
        var probe = new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);
        foreach (var image in manifest.Scheduled)
        {
            ScheduledBatches.Plan(manifest, image.Name, probe, options.Sha);
        }
        return manifest;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var scheduled = Manifest.Scheduled.ToList();
        _logger.LogInformation("Scheduler {Instance}: {Count} schedule(s) in {Manifest} ({Images}), missed occurrences: {Missed}",
            InstanceId, scheduled.Count, Manifest.Source, string.Join(", ", scheduled.Select(i => $"{i.Name} '{i.Schedule}'")), _options.Missed);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    await PollAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    // Redis or the broker away: lose the lead (the lease lapses) and try again next poll.
                    Volatile.Write(ref _leading, false);
                    _logger.LogWarning(e, "Scheduler {Instance}: poll failed; retrying in {Interval}", InstanceId, _options.PollInterval);
                }
                var delay = Task.Delay(NextWake(), _time, stoppingToken);
                Interlocked.Exchange(ref _waitingSinceTicks, _time.GetUtcNow().UtcTicks);
                await delay;
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
        finally
        {
            if (IsLeading)
            {
                try
                {
                    using var resign = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                    await _coordinator.ResignAsync(InstanceId, resign.Token);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    _logger.LogWarning(e, "Scheduler {Instance}: could not resign the lease; it expires by itself", InstanceId);
                }
            }
        }
    }

    /// <summary>One poll: renew or take the lease, and if leading, handle every schedule. Public so tests can drive it.</summary>
    public async Task PollAsync(CancellationToken cancellationToken)
    {
        var started = _time.GetUtcNow();
        try
        {
            await PollCoreAsync(cancellationToken);
        }
        finally
        {
            Interlocked.Exchange(ref _lastPollTicks, started.UtcTicks);
        }
    }

    private async Task PollCoreAsync(CancellationToken cancellationToken)
    {
        var leading = await _coordinator.TryLeadAsync(InstanceId, _options.LeaseTtl, cancellationToken);
        if (leading != IsLeading)
        {
            _logger.LogInformation("Scheduler {Instance}: {Role}", InstanceId, leading ? "leading" : "another instance leads");
        }
        Volatile.Write(ref _leading, leading);
        if (!leading)
        {
            return;
        }
        foreach (var image in Manifest.Scheduled)
        {
            await HandleAsync(image, cancellationToken);
        }
    }

    private async Task HandleAsync(ManifestImage image, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var last = await _coordinator.GetLastHandledAsync(image.Name, cancellationToken);
        if (last is null)
        {
            // First start ever: occurrences count from now on, never from the past.
            await _coordinator.AdvanceLastHandledAsync(image.Name, now, cancellationToken);
            return;
        }
        if (!_owed.TryGetValue(image.Name, out var owed))
        {
            _owed[image.Name] = owed = [];
        }
        foreach (var pending in owed.ToList())
        {
            // Claimed earlier and not known to be published: by this instance (its publish failed) or by a leader that
            // may have died. Published now if it can be claimed, even past LateTolerance: a claim means it was due.
            switch (await _coordinator.TryClaimAsync(image.Name, pending, InstanceId, _options.ClaimTtl, cancellationToken))
            {
                case OccurrenceClaim.HeldByOther:
                    return; // still its claimant's; later occurrences wait behind it (at most ClaimTtl)
                case OccurrenceClaim.Claimed:
                    await PublishAsync(image, pending, 0, cancellationToken);
                    await _coordinator.MarkFiredAsync(image.Name, pending, InstanceId, _options.ClaimRetention, cancellationToken);
                    break;
            }
            owed.Remove(pending);
            await _coordinator.AdvanceLastHandledAsync(image.Name, pending, cancellationToken);
            last = pending > last.Value ? pending : last;
        }
        var decision = ScheduleCalculator.Decide(image.ScheduleExpression!, last.Value, now, _options.Missed, _options.LateTolerance);
        if (decision.Fire is { } occurrence)
        {
            switch (await _coordinator.TryClaimAsync(image.Name, occurrence, InstanceId, _options.ClaimTtl, cancellationToken))
            {
                case OccurrenceClaim.HeldByOther:
                    // Its claimant publishes, or it died: then this instance publishes it once the claim expires, on its
                    // own (a later occurrence due by then must not fold it in).
                    owed.Add(occurrence);
                    return;
                case OccurrenceClaim.AlreadyFired:
                    break;
                default:
                    // Owed until published: a failed publish (broker down) is retried on its own at the next poll.
                    owed.Add(occurrence);
                    await PublishAsync(image, occurrence, decision.Missed, cancellationToken);
                    await _coordinator.MarkFiredAsync(image.Name, occurrence, InstanceId, _options.ClaimRetention, cancellationToken);
                    owed.Remove(occurrence);
                    break;
            }
        }
        else if (decision.Missed > 0)
        {
            _logger.LogWarning("Scheduler {Instance}: skipped {Missed} missed occurrence(s) of {Image} up to {Occurrence:O} (Missed = Skip)",
                InstanceId, decision.Missed, image.Name, decision.Advance);
        }
        if (decision.Advance is { } advance)
        {
            await _coordinator.AdvanceLastHandledAsync(image.Name, advance, cancellationToken);
        }
    }

    private async Task PublishAsync(ManifestImage image, DateTimeOffset occurrence, int coalesced, CancellationToken cancellationToken)
    {
        SubmitBatch batch;
        try
        {
            batch = ScheduledBatches.Plan(Manifest, image.Name, occurrence, _options.Sha);
        }
        catch (ManifestException e)
        {
            // Checked at start, so only a clock-dependent template can get here; firing again would fail the same way.
            _logger.LogError("Scheduler {Instance}: the schedule of {Image} at {Occurrence:O} cannot be planned: {Error}", InstanceId, image.Name, occurrence, e.Message);
            return;
        }
        using (var scope = _scopes.CreateScope())
        {
            await scope.ServiceProvider.GetRequiredService<IPublishEndpoint>().Publish(batch, cancellationToken);
        }
        var fired = new ScheduleFired(image.Name, occurrence, batch.BatchId, batch.Images.Count, coalesced);
        lock (_firedLock)
        {
            _fired.Add(fired);
        }
        _logger.LogInformation("Scheduler {Instance}: fired {Image} for {Occurrence:O}: batch {Batch} with {Count} image(s){Coalesced}",
            InstanceId, image.Name, occurrence, batch.BatchId, batch.Images.Count, coalesced > 0 ? $", {coalesced} missed occurrence(s) coalesced" : "");
        OnFired?.Invoke(fired);
    }

    private TimeSpan NextWake()
    {
        var now = _time.GetUtcNow();
        var wake = _options.PollInterval;
        foreach (var image in Manifest.Scheduled)
        {
            if (ScheduleCalculator.Next(image.ScheduleExpression!, now) is { } next && next - now < wake)
            {
                wake = next - now;
            }
        }
        return wake < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : wake;
    }
}
