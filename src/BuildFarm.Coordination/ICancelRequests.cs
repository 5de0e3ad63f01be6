namespace BuildFarm.Coordination;

/// <summary>
/// Cancellations that must outlive the moment they arrive: a <c>CancelBuild</c> for a build still queued (no worker
/// runs it yet) is recorded as a marker with a time to live, and the worker that later takes the build checks it
/// before it starts and between attempts.
/// </summary>
public interface ICancelRequests
{
    /// <summary>Records that <paramref name="buildId"/> is cancelled, for <paramref name="ttl"/>. Idempotent: the first request's requester is kept.</summary>
    Task RequestAsync(string buildId, string? requestedBy, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>The recorded request for <paramref name="buildId"/>, or null when none (or it expired).</summary>
    Task<CancelRequest?> FindAsync(string buildId, CancellationToken cancellationToken);
}

/// <param name="RequestedBy">Who asked, as given in the CancelBuild (may be null).</param>
public sealed record CancelRequest(string? RequestedBy);
