namespace BuildFarm.Manifests.Scheduling;

/// <summary>The state of one occurrence's claim.</summary>
public enum OccurrenceClaim
{
    /// <summary>This instance holds the claim: it publishes, then marks the occurrence fired.</summary>
    Claimed,

    /// <summary>The occurrence was fired already (by any instance).</summary>
    AlreadyFired,

    /// <summary>Another instance claimed it and has not finished; its claim expires if it died.</summary>
    HeldByOther,
}

/// <summary>
/// Coordination between scheduler replicas: a leader lease (one active instance), the last handled occurrence per
/// schedule (so that missed occurrences are known after a restart) and a claim per occurrence (so that each fires once,
/// even across leader changes). Redis in production; in process for one instance, the demo and tests.
/// </summary>
public interface IScheduleCoordinator
{
    /// <summary>Takes the leader lease, or extends it when <paramref name="holder"/> holds it; false when another instance leads.</summary>
    Task<bool> TryLeadAsync(string holder, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>Gives the lease up if <paramref name="holder"/> holds it.</summary>
    Task ResignAsync(string holder, CancellationToken cancellationToken);

    /// <summary>The last occurrence handled (fired or skipped) for <paramref name="schedule"/>, or null before the first start.</summary>
    Task<DateTimeOffset?> GetLastHandledAsync(string schedule, CancellationToken cancellationToken);

    /// <summary>Records <paramref name="instant"/> unless a later one is recorded (it never moves back).</summary>
    Task AdvanceLastHandledAsync(string schedule, DateTimeOffset instant, CancellationToken cancellationToken);

    /// <summary>Claims an occurrence for <paramref name="holder"/> for <paramref name="ttl"/> (re-entrant for the same holder).</summary>
    Task<OccurrenceClaim> TryClaimAsync(string schedule, DateTimeOffset occurrence, string holder, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>Marks a claimed occurrence fired, remembered for <paramref name="retention"/>.</summary>
    Task MarkFiredAsync(string schedule, DateTimeOffset occurrence, string holder, TimeSpan retention, CancellationToken cancellationToken);
}
