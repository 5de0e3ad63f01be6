namespace BuildFarm.Coordination.Scheduling;

/// <summary>
/// The farm's admission store (docs/scheduling.md "Admission"): ready builds wait here, and the farm releases to the
/// broker only as many as there are free slots across live workers. Every operation is one atomic step (one Redis
/// script), so several replicas may dispatch at once: <see cref="ClaimAsync"/> decides their races.
/// </summary>
public interface IAdmissionStore
{
    /// <summary>Adds ready builds; idempotent per build id (a build already queued, admitted or recently ended is left
    /// alone). Returns how many were new.</summary>
    Task<int> EnqueueAsync(IReadOnlyList<AdmissionEntry> entries, CancellationToken cancellationToken);

    /// <summary>
    /// Adds ready builds as <see cref="EnqueueAsync(IReadOnlyList{AdmissionEntry}, CancellationToken)"/>, with the fast path
    /// when <paramref name="admitAs"/> is set: if nothing else is ready in the whole store and all the new builds fit in the
    /// free slots (no choice to make), the same atomic step admits them all, claimed by <paramref name="admitAs"/> as
    /// <see cref="ClaimAsync"/> does. The caller then publishes those it was told were admitted (a caller that dies first
    /// leaves them to <see cref="SweepAsync"/>). Otherwise they wait for a dispatcher's round.
    /// </summary>
    Task<AdmissionEnqueued> EnqueueAsync(IReadOnlyList<AdmissionEntry> entries, string? admitAs, CancellationToken cancellationToken);

    /// <summary>
    /// In one step: for each (tenant, group) with ready builds (the <paramref name="maxGroups"/> that became ready first), its
    /// first builds in <see cref="SchedulingOrder.WithinGroup"/> order — at most <paramref name="perGroup"/> and at most the
    /// free slots —, the running counts, and the free capacity.
    /// </summary>
    Task<AdmissionSnapshot> SnapshotAsync(int perGroup, int maxGroups, CancellationToken cancellationToken);

    /// <summary>
    /// Atomically admits, in the given order, each of <paramref name="buildIds"/> that is still ready while free capacity
    /// remains: it moves to in flight (claimed by <paramref name="claimant"/>, not yet started). Returns what was admitted;
    /// the caller publishes each payload.
    /// </summary>
    Task<IReadOnlyList<AdmittedBuild>> ClaimAsync(IReadOnlyList<string> buildIds, string claimant, CancellationToken cancellationToken);

    /// <summary>A live worker offers <paramref name="slots"/> until <paramref name="ttl"/> passes without another heartbeat.</summary>
    Task HeartbeatAsync(string workerId, int slots, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>A worker stopping cleanly takes its slots out at once.</summary>
    Task LeaveAsync(string workerId, CancellationToken cancellationToken);

    /// <summary>
    /// Calls <paramref name="wake"/> whenever an enqueue leaves builds waiting while slots are free (the fast path could not
    /// take them: something else was already waiting, or they did not all fit): every dispatcher should look at once rather
    /// than at its next tick. Best effort (a missed signal costs one dispatch interval). Dispose to stop.
    /// </summary>
    Task<IAsyncDisposable> OnWaitingAsync(Action wake, CancellationToken cancellationToken);

    /// <summary>The worker consuming message <paramref name="messageId"/> marks the admitted build started.</summary>
    Task<AdmissionStart> StartAsync(string buildId, string messageId, CancellationToken cancellationToken);

    /// <summary>The builds ended (any outcome): out of flight, their slots free again. Idempotent; returns how many were in
    /// flight, and whether any build is ready (waiting for a slot) once they have ended.</summary>
    Task<AdmissionEnded> EndAsync(IReadOnlyList<string> buildIds, CancellationToken cancellationToken);

    /// <summary>Takes a build that is still ready out of the queue (a cancel): its payload, or null when it was not ready.</summary>
    Task<string?> RemoveReadyAsync(string buildId, CancellationToken cancellationToken);

    /// <summary>
    /// Builds admitted more than <paramref name="notStartedFor"/> ago and never started (the replica that claimed them may have
    /// died before publishing): up to <paramref name="max"/> of them, each handed out again no sooner than after another
    /// <paramref name="notStartedFor"/>. The caller publishes them again; <see cref="StartAsync"/> drops the second copy.
    /// </summary>
    Task<IReadOnlyList<AdmittedBuild>> SweepAsync(TimeSpan notStartedFor, int max, CancellationToken cancellationToken);

    /// <summary>
    /// Ends, as <see cref="EndAsync"/> does, up to <paramref name="max"/> builds admitted more than <paramref name="inFlightFor"/>
    /// ago and not ended (an end that never reached the store must not hold a slot forever). Returns their ids.
    /// </summary>
    Task<IReadOnlyList<string>> ExpireAsync(TimeSpan inFlightFor, int max, CancellationToken cancellationToken);
}

/// <summary>A ready build and its serialized command (published as is when admitted).</summary>
public sealed record AdmissionEntry(ReadyBuild Build, string Payload);

/// <summary>What an enqueue did: how many builds were new, and which of them it admitted at once (the fast path).</summary>
public sealed record AdmissionEnqueued(int Added, IReadOnlyList<string> Admitted)
{
    public static AdmissionEnqueued None { get; } = new(0, []);
}

/// <summary>What an end call did: how many of the builds were in flight, and whether any build is ready (waiting) after it:
/// when none is, the slots it freed have nothing to go to and the dispatcher need not look.</summary>
public sealed record AdmissionEnded(int Ended, bool ReadyWaiting);

/// <summary>A build admitted by a claim or a sweep: its serialized command.</summary>
public sealed record AdmittedBuild(string BuildId, string Payload);

/// <param name="Scheduling">What the policy sees.</param>
/// <param name="FreeSlots">Σ slots of live workers − builds in flight (never below 0).</param>
/// <param name="ReadyCount">All ready builds (not only those offered).</param>
/// <param name="InFlight">Builds admitted and not ended.</param>
/// <param name="ReadyByTenant">Ready builds by tenant.</param>
public sealed record AdmissionSnapshot(SchedulingSnapshot Scheduling, int FreeSlots, int ReadyCount, int InFlight, IReadOnlyDictionary<string, int> ReadyByTenant);

public enum AdmissionStart
{
    /// <summary>Not known to admission (published without it, or taken out by a cancel): run as usual.</summary>
    NotAdmitted,

    /// <summary>This message runs the admitted build (first start, or a redelivery of the same message).</summary>
    Started,

    /// <summary>Another message already started this build: ack this one and drop it.</summary>
    Duplicate,

    /// <summary>The build has ended (this is a late copy): ack this one and drop it.</summary>
    Ended,
}

/// <summary>Bounds of every number a caller controls.</summary>
public static class AdmissionLimits
{
    /// <summary>Builds per enqueue call.</summary>
    public const int MaxEntriesPerEnqueue = 1000;

    /// <summary>Characters of a build id, worker id, message id, tenant or group.</summary>
    public const int MaxIdLength = 256;

    /// <summary>Ready builds a snapshot offers per group.</summary>
    public const int MaxPerGroup = 1000;

    /// <summary>Characters of one serialized command.</summary>
    public const int MaxPayloadChars = 1024 * 1024;

    /// <summary>Groups a snapshot offers.</summary>
    public const int MaxGroups = 1000;

    /// <summary>Builds per claim, end or sweep call.</summary>
    public const int MaxClaim = 1000;

    /// <summary>Slots one worker may offer.</summary>
    public const int MaxSlotsPerWorker = 10_000;

    /// <summary>Longest remaining path stored (seconds, ~115 days); longer counts as this.</summary>
    public const double MaxPathSeconds = 1e7;

    internal static void CheckId(string value, string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(value, name);
        if (value.Length > MaxIdLength)
        {
            throw new ArgumentOutOfRangeException(name, value.Length, $"{name} is longer than {MaxIdLength} characters");
        }
    }

    internal static void CheckName(string value, string name)
    {
        ArgumentNullException.ThrowIfNull(value, name);
        if (value.Length > MaxIdLength || value.Contains('\n', StringComparison.Ordinal))
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be at most {MaxIdLength} characters without a line break");
        }
    }

    internal static void Check(IReadOnlyList<AdmissionEntry> entries, string? admitAs)
    {
        ArgumentNullException.ThrowIfNull(entries);
        if (admitAs is not null)
        {
            CheckId(admitAs, "claimant");
        }
        ArgumentOutOfRangeException.ThrowIfGreaterThan(entries.Count, MaxEntriesPerEnqueue, nameof(entries));
        foreach (var (build, payload) in entries)
        {
            ArgumentNullException.ThrowIfNull(build);
            CheckId(build.BuildId, "build id");
            CheckName(build.Tenant, "tenant");
            CheckName(build.Group, "group");
            ArgumentOutOfRangeException.ThrowIfLessThan(build.Priority, 0, "priority");
            ArgumentOutOfRangeException.ThrowIfGreaterThan(build.Priority, 9, "priority");
            if (!double.IsFinite(build.PathSeconds) || build.PathSeconds < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(entries), build.PathSeconds, "the remaining path must be a finite number of seconds ≥ 0");
            }
            ArgumentException.ThrowIfNullOrEmpty(payload, "payload");
            ArgumentOutOfRangeException.ThrowIfGreaterThan(payload.Length, MaxPayloadChars, "payload");
        }
    }

    internal static void CheckSnapshot(int perGroup, int maxGroups)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(perGroup, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(perGroup, MaxPerGroup);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxGroups, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxGroups, MaxGroups);
    }

    internal static void CheckClaim(IReadOnlyList<string> buildIds, string claimant)
    {
        CheckIds(buildIds);
        CheckId(claimant, "claimant");
    }

    internal static void CheckIds(IReadOnlyList<string> buildIds)
    {
        ArgumentNullException.ThrowIfNull(buildIds);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(buildIds.Count, MaxClaim, nameof(buildIds));
        foreach (var id in buildIds)
        {
            CheckId(id, "build id");
        }
    }

    internal static void CheckWorker(string workerId, int slots, TimeSpan ttl)
    {
        CheckId(workerId, "worker id");
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(slots, MaxSlotsPerWorker);
        if (ttl < TimeSpan.FromMilliseconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(ttl), ttl, "a heartbeat needs a positive time to live");
        }
    }

    internal static void CheckSweep(TimeSpan notStartedFor, int max)
    {
        if (notStartedFor < TimeSpan.FromMilliseconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(notStartedFor), notStartedFor, "the sweep bound must be positive");
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(max, MaxClaim);
    }
}
