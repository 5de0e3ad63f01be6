namespace BuildFarm.Coordination;

/// <summary>
/// A distributed counting semaphore per registry host: at most <c>limit</c> builds talk to one registry at
/// once, so that fan-outs do not cause the connection resets in the first place. Each slot is a lease
/// held by a build id; slots of a dead worker expire.
/// </summary>
public interface IRegistrySlots
{
    /// <summary>Takes a slot for <paramref name="holder"/> (re-entrant), or returns null when all <paramref name="limit"/> slots are held.</summary>
    Task<Lease?> TryAcquireAsync(string registry, string holder, int limit, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>Extends the slot; false when it was lost (it expired).</summary>
    Task<bool> RenewAsync(Lease lease, TimeSpan ttl, CancellationToken cancellationToken);

    Task ReleaseAsync(Lease lease, CancellationToken cancellationToken);

    /// <summary>How many unexpired slots are held for the registry.</summary>
    Task<int> CountAsync(string registry, CancellationToken cancellationToken);
}
