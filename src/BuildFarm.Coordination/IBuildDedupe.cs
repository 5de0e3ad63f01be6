namespace BuildFarm.Coordination;

/// <summary>
/// Identical builds (same build key) run once. The first build to claim a key builds it; later ones
/// either attach to the build in flight or, within the completed TTL, get its digest without a pod.
/// </summary>
public interface IBuildDedupe
{
    /// <summary>
    /// Claims <paramref name="buildKey"/> for <paramref name="buildId"/>. Re-entrant for the same build id
    /// (a redelivered message keeps its claim). The in-flight claim is a lease of <paramref name="inFlightTtl"/>.
    /// </summary>
    Task<DedupeClaim> ClaimAsync(string buildKey, string buildId, TimeSpan inFlightTtl, CancellationToken cancellationToken);

    /// <summary>Extends an in-flight claim; false when the claim is no longer this build's.</summary>
    Task<bool> RenewAsync(string buildKey, string buildId, TimeSpan inFlightTtl, CancellationToken cancellationToken);

    /// <summary>Records that the build succeeded: later identical builds get <paramref name="digest"/> for <paramref name="completedTtl"/>.</summary>
    Task<bool> CompleteAsync(string buildKey, string buildId, string digest, TimeSpan completedTtl, CancellationToken cancellationToken);

    /// <summary>Drops an in-flight claim (the build failed or was cancelled) so that a later identical build runs again.</summary>
    Task AbandonAsync(string buildKey, string buildId, CancellationToken cancellationToken);
}

public enum DedupeState
{
    /// <summary>This build holds the claim and must build.</summary>
    Claimed,

    /// <summary>Another build with the same key is in flight (<see cref="DedupeClaim.BuildId"/>).</summary>
    InFlight,

    /// <summary>A build with the same key succeeded recently (<see cref="DedupeClaim.Digest"/>).</summary>
    Completed,
}

/// <param name="State">Whether this build must build, or attach to another build in flight or completed.</param>
/// <param name="BuildId">The build that holds or completed the key.</param>
/// <param name="Digest">The pushed digest when <see cref="State"/> is <see cref="DedupeState.Completed"/>.</param>
public sealed record DedupeClaim(DedupeState State, string BuildId, string? Digest);
