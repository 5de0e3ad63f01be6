namespace BuildFarm.Coordination;

/// <summary>
/// One build pushes a given destination at a time. The lock is a lease held by a build id: it expires
/// if not renewed, and it is re-entrant for the same build (a redelivered message takes its own lock
/// back at once, with a new fencing token that makes the old holder's lease stale).
/// </summary>
public interface IDestinationLocks
{
    /// <summary>Takes the lock for <paramref name="holder"/>, or returns null while another holder has it.</summary>
    Task<Lease?> TryAcquireAsync(string destination, string holder, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>Extends the lease; false when it was lost (expired and taken, or re-granted).</summary>
    Task<bool> RenewAsync(Lease lease, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>The fencing check before success is published: true only while this exact lease is the current one.</summary>
    Task<bool> IsCurrentAsync(Lease lease, CancellationToken cancellationToken);

    /// <summary>
    /// Releases the lock if this lease still holds it: true when it did. False when the lease was no longer the current
    /// one (expired and taken, or re-granted), and then nothing is released. This is also the fencing check before
    /// success is published, in the same round trip: a build's push is over by then, so the lock has done its work.
    /// </summary>
    Task<bool> ReleaseAsync(Lease lease, CancellationToken cancellationToken);
}
