using BuildFarm.Kaniko.Pods;

namespace BuildFarm.Worker.Options;

/// <summary>The <c>Worker</c> configuration section: concurrency, retries, leases and pod retention.</summary>
public sealed class WorkerOptions
{
    public const string SectionName = "Worker";

    /// <summary>Concurrent builds on this worker (consumer concurrency and prefetch).</summary>
    public int Slots { get; set; } = 4;

    /// <summary>Attempts per build, the first included; each attempt is a new pod.</summary>
    public int MaxAttempts { get; set; } = 4;

    /// <summary>Delay before the second attempt; doubles per attempt (with jitter) up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan BackoffBase { get; set; } = TimeSpan.FromSeconds(2);

    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a failed attempt's pod is kept for debugging before the janitor deletes it. Succeeded pods are deleted at once.</summary>
    public TimeSpan KeepFailedPodsFor { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// How long the janitor leaves a succeeded pod before deleting it. A build deletes its own succeeded pod at once; one
    /// outlives its build only when the worker died between the build's completion and the delete (or a redelivered
    /// message has yet to adopt it), so this is a backstop against leaks, well above the time a redelivery takes.
    /// </summary>
    public TimeSpan KeepSucceededPodsFor { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Time to live of the dedupe claim, destination locks and registry slots; they expire this long after a worker dies.</summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often held leases are renewed; must be well under <see cref="LeaseTtl"/>.</summary>
    public TimeSpan LeaseRenewInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Concurrent builds per destination registry host, across all workers: the most the adaptive limit grants
    /// (or the fixed limit when <see cref="AdaptiveRegistryLimit"/> is off).</summary>
    public int RegistrySlotLimit { get; set; } = 20;

    /// <summary>Adapt each registry's slot limit between <see cref="RegistrySlotFloor"/> and <see cref="RegistrySlotLimit"/>:
    /// multiplied by up to RegistryLimitDecreaseFactor when builds meet connection resets, 429s or 5xx from it, grown back by one per limit's worth of clean builds
    /// (docs/scheduling.md). Off: the limit is <see cref="RegistrySlotLimit"/>, fixed.</summary>
    public bool AdaptiveRegistryLimit { get; set; } = true;

    /// <summary>The adaptive limit never goes below this.</summary>
    public int RegistrySlotFloor { get; set; } = 2;

    /// <summary>How often a worker sends its reports and reads the limits back (one Redis round trip per registry
    /// with reports, whatever the number of builds).</summary>
    public TimeSpan RegistryLimitWindow { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>On congestion when every recent build met it, a registry's limit is multiplied by this (0–1, exclusive);
    /// when a share a of them did, by 1 − (1 − factor) × a.</summary>
    public double RegistryLimitDecreaseFactor { get; set; } = 0.7;

    /// <summary>How far each build's report moves a registry's running congested share towards 1 (congested) or 0
    /// (clean), above 0 and at most 1; 1: only the last window counts (every congestion decreases by the full factor).</summary>
    public double RegistryLimitCongestionWeight { get; set; } = 1.0 / 16;

    /// <summary>After a decrease, congestion does not decrease a registry's limit again for this long.</summary>
    public TimeSpan RegistryLimitCooldown { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a succeeded build answers identical builds with its digest.</summary>
    public TimeSpan DedupeCompletedTtl { get; set; } = TimeSpan.FromHours(24);

    /// <summary>First and longest wait between polls for a busy lock, a full registry or an identical build in flight.</summary>
    public TimeSpan WaitPollMin { get; set; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan WaitPollMax { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>On shutdown, how long running builds may go on before their messages are handed back (their pods keep running
    /// and are adopted after redelivery).</summary>
    public TimeSpan ShutdownGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a CancelBuild is remembered for a build no worker runs yet (still queued).</summary>
    public TimeSpan CancelMarkerTtl { get; set; } = TimeSpan.FromHours(24);

    /// <summary>When Redis or the Kubernetes API is unreachable (past the client's own retries): how many times the build is
    /// tried again in this worker before its message is put back at the tail of the queue.</summary>
    public int UnavailableRetries { get; set; } = 5;

    /// <summary>Wait before the first such retry; doubles per retry up to <see cref="UnavailableRetryMaxDelay"/>. The
    /// message is also requeued after this delay.</summary>
    public TimeSpan UnavailableRetryDelay { get; set; } = TimeSpan.FromSeconds(2);

    public TimeSpan UnavailableRetryMaxDelay { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The longest this worker holds one BuildImage delivery unacknowledged. Past it the build stops waiting here (its
    /// pod keeps running) and the message is put back at the tail of the queue, so another take adopts the pod. Keep it
    /// below the broker's <c>consumer_timeout</c> (6 h in deploy/rabbitmq/rabbitmq.conf): RabbitMQ closes the channel of
    /// a delivery held longer, which hands back every build on that channel at once.
    /// </summary>
    public TimeSpan MaxMessageHold { get; set; } = TimeSpan.FromHours(5);

    /// <summary>How often Redis is pinged; while it does not answer the worker takes no new builds and is not ready.</summary>
    public TimeSpan RedisProbeInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Destination allow-list patterns passed to the spec validator (empty: any destination).</summary>
    public IList<string> AllowedDestinations { get; set; } = [];

    /// <summary>
    /// Directories a <c>dir://</c> build context may name, on this worker (docs/security.md "dir:// contexts"). Empty (the
    /// default): every <c>dir://</c> build fails before any file is read. A context is allowed when its directory and its
    /// Dockerfile lie under one of these once <c>..</c> and symbolic links are resolved.
    /// </summary>
    public IList<string> AllowedContextRoots { get; set; } = [];

    /// <summary>Largest Dockerfile the preflight reads from a <c>dir://</c> context, in bytes; a larger one fails the build.</summary>
    public long MaxDockerfileBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Retry an attempt that was OOM-killed once, in a new pod with twice the memory limit and request (at most
    /// <see cref="OomMemoryCap"/>), and start the image's next builds from that figure (docs/scheduling.md "Memory learned
    /// from history"). Off: <c>oom_killed</c> fails the build at once, and nothing is learned.
    /// </summary>
    public bool OomRetry { get; set; } = true;

    /// <summary>
    /// The most memory (a Kubernetes quantity) a raised or learned memory limit may reach. An attempt OOM-killed at or above it
    /// is not retried. Keep it at or below the API's <c>Api:MaxResources:Memory</c> (256Gi by default) and what a node (and
    /// any LimitRange) allows, or the raised pod is refused.
    /// </summary>
    public string OomMemoryCap { get; set; } = "16Gi";

    /// <summary>How long a learned memory figure is kept after the OOM kill that raised it.</summary>
    public TimeSpan MemoryHistoryTtl { get; set; } = TimeSpan.FromDays(30);

    /// <summary><see cref="OomMemoryCap"/> in bytes (0 when it does not parse; <see cref="Validate"/> reports it).</summary>
    public long OomMemoryCapBytes => PodMemory.TryParseBytes(OomMemoryCap, out var bytes) ? bytes : 0;

    /// <summary>Every problem with these options, each naming its setting.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Slots is < 1 or > 1000)
        {
            errors.Add($"Worker:Slots: {Slots} must be between 1 and 1000");
        }
        if (MaxAttempts is < 1 or > 20)
        {
            errors.Add($"Worker:MaxAttempts: {MaxAttempts} must be between 1 and 20");
        }
        if (BackoffBase < TimeSpan.Zero)
        {
            errors.Add($"Worker:BackoffBase: {BackoffBase} must not be negative");
        }
        if (MaxBackoff < BackoffBase)
        {
            errors.Add($"Worker:MaxBackoff: {MaxBackoff} must be at least BackoffBase ({BackoffBase})");
        }
        if (KeepFailedPodsFor < TimeSpan.Zero)
        {
            errors.Add($"Worker:KeepFailedPodsFor: {KeepFailedPodsFor} must not be negative");
        }
        if (KeepSucceededPodsFor < TimeSpan.Zero)
        {
            errors.Add($"Worker:KeepSucceededPodsFor: {KeepSucceededPodsFor} must not be negative");
        }
        if (LeaseTtl < TimeSpan.FromSeconds(1))
        {
            errors.Add($"Worker:LeaseTtl: {LeaseTtl} must be at least 1 second");
        }
        if (LeaseRenewInterval <= TimeSpan.Zero || LeaseRenewInterval * 2 > LeaseTtl)
        {
            errors.Add($"Worker:LeaseRenewInterval: {LeaseRenewInterval} must be positive and at most half of LeaseTtl ({LeaseTtl})");
        }
        if (RegistrySlotLimit is < 1 or > 100_000)
        {
            errors.Add($"Worker:RegistrySlotLimit: {RegistrySlotLimit} must be between 1 and 100000");
        }
        if (RegistrySlotFloor < 1 || RegistrySlotFloor > RegistrySlotLimit)
        {
            errors.Add($"Worker:RegistrySlotFloor: {RegistrySlotFloor} must be at least 1 and at most RegistrySlotLimit ({RegistrySlotLimit})");
        }
        if (RegistryLimitWindow < TimeSpan.FromMilliseconds(100) || RegistryLimitWindow > TimeSpan.FromMinutes(5))
        {
            errors.Add($"Worker:RegistryLimitWindow: {RegistryLimitWindow} must be between 100 ms and 5 minutes");
        }
        if (!(RegistryLimitDecreaseFactor > 0 && RegistryLimitDecreaseFactor < 1))
        {
            errors.Add($"Worker:RegistryLimitDecreaseFactor: {RegistryLimitDecreaseFactor} must be between 0 and 1, exclusive");
        }
        if (!(RegistryLimitCongestionWeight > 0 && RegistryLimitCongestionWeight <= 1))
        {
            errors.Add($"Worker:RegistryLimitCongestionWeight: {RegistryLimitCongestionWeight} must be above 0 and at most 1");
        }
        if (RegistryLimitCooldown < TimeSpan.Zero || RegistryLimitCooldown > TimeSpan.FromHours(1))
        {
            errors.Add($"Worker:RegistryLimitCooldown: {RegistryLimitCooldown} must be between 0 and 1 hour");
        }
        if (DedupeCompletedTtl < TimeSpan.FromSeconds(1))
        {
            errors.Add($"Worker:DedupeCompletedTtl: {DedupeCompletedTtl} must be at least 1 second");
        }
        if (ShutdownGracePeriod < TimeSpan.Zero)
        {
            errors.Add($"Worker:ShutdownGracePeriod: {ShutdownGracePeriod} must not be negative");
        }
        if (WaitPollMin <= TimeSpan.Zero || WaitPollMax < WaitPollMin)
        {
            errors.Add($"Worker:WaitPollMin/WaitPollMax: {WaitPollMin}/{WaitPollMax} must be positive and min ≤ max");
        }
        if (CancelMarkerTtl < TimeSpan.FromSeconds(1))
        {
            errors.Add($"Worker:CancelMarkerTtl: {CancelMarkerTtl} must be at least 1 second");
        }
        if (UnavailableRetries is < 0 or > 100)
        {
            errors.Add($"Worker:UnavailableRetries: {UnavailableRetries} must be between 0 and 100");
        }
        if (UnavailableRetryDelay <= TimeSpan.Zero || UnavailableRetryMaxDelay < UnavailableRetryDelay)
        {
            errors.Add($"Worker:UnavailableRetryDelay/UnavailableRetryMaxDelay: {UnavailableRetryDelay}/{UnavailableRetryMaxDelay} must be positive and delay ≤ max");
        }
        if (MaxMessageHold < TimeSpan.FromSeconds(1))
        {
            errors.Add($"Worker:MaxMessageHold: {MaxMessageHold} must be at least 1 second (and below the broker's consumer_timeout)");
        }
        if (RedisProbeInterval <= TimeSpan.Zero)
        {
            errors.Add($"Worker:RedisProbeInterval: {RedisProbeInterval} must be positive");
        }
        if (MaxDockerfileBytes is < 1 or > 64 * 1024 * 1024)
        {
            errors.Add($"Worker:MaxDockerfileBytes: {MaxDockerfileBytes} must be between 1 and 67108864");
        }
        if (OomMemoryCapBytes == 0)
        {
            errors.Add($"Worker:OomMemoryCap: '{OomMemoryCap}' must be a positive Kubernetes quantity of at most 1Pi, such as 16Gi");
        }
        if (MemoryHistoryTtl < TimeSpan.FromSeconds(1) || MemoryHistoryTtl > TimeSpan.FromDays(365))
        {
            errors.Add($"Worker:MemoryHistoryTtl: {MemoryHistoryTtl} must be between 1 second and 365 days");
        }
        for (var i = 0; i < AllowedContextRoots.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(AllowedContextRoots[i]) || !AllowedContextRoots[i].StartsWith('/'))
            {
                errors.Add($"Worker:AllowedContextRoots:{i}: '{AllowedContextRoots[i]}' must be an absolute path");
            }
        }
        return errors;
    }
}
