namespace BuildFarm.Coordination.InMemory;

/// <summary>In-process build dedupe with the same semantics as the Redis one (for demo and unit tests).</summary>
public sealed class InMemoryBuildDedupe(TimeProvider time) : IBuildDedupe
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (DedupeClaim Claim, DateTimeOffset Expires)> _entries = new(StringComparer.Ordinal);

    public Task<DedupeClaim> ClaimAsync(string buildKey, string buildId, TimeSpan inFlightTtl, CancellationToken cancellationToken)
    {
        LeaseArguments.Check(buildKey, buildId, inFlightTtl);
        return WithCurrent(buildKey, (current, now) =>
        {
            if (current is not null && !IsOwnInFlight(current, buildId))
            {
                return current;
            }
            _entries[buildKey] = (new DedupeClaim(DedupeState.InFlight, buildId, null), now + inFlightTtl);
            return new DedupeClaim(DedupeState.Claimed, buildId, null);
        }, cancellationToken);
    }

    public Task<bool> RenewAsync(string buildKey, string buildId, TimeSpan inFlightTtl, CancellationToken cancellationToken)
    {
        LeaseArguments.Check(buildKey, buildId, inFlightTtl);
        return WithCurrent(buildKey, (current, now) =>
        {
            if (current is null || !IsOwnInFlight(current, buildId))
            {
                return false;
            }
            _entries[buildKey] = (current, now + inFlightTtl);
            return true;
        }, cancellationToken);
    }

    public Task<bool> CompleteAsync(string buildKey, string buildId, string digest, TimeSpan completedTtl, CancellationToken cancellationToken)
    {
        LeaseArguments.Check(buildKey, buildId, completedTtl);
        ArgumentException.ThrowIfNullOrWhiteSpace(digest);
        return WithCurrent(buildKey, (current, now) =>
        {
            if (current is not null && !IsOwnInFlight(current, buildId))
            {
                return false;
            }
            _entries[buildKey] = (new DedupeClaim(DedupeState.Completed, buildId, digest), now + completedTtl);
            return true;
        }, cancellationToken);
    }

    public Task AbandonAsync(string buildKey, string buildId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(buildKey);
        ArgumentException.ThrowIfNullOrWhiteSpace(buildId);
        return WithCurrent(buildKey, (current, _) => current is not null && IsOwnInFlight(current, buildId) && _entries.Remove(buildKey), cancellationToken);
    }

    /// <summary>Runs <paramref name="body"/> under the lock with the key's live claim (null when none) and the time, as a completed task.</summary>
    private Task<T> WithCurrent<T>(string buildKey, Func<DedupeClaim?, DateTimeOffset, T> body, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var now = time.GetUtcNow();
            return Task.FromResult(body(Current(buildKey, now), now));
        }
    }

    private DedupeClaim? Current(string buildKey, DateTimeOffset now)
    {
        if (_entries.TryGetValue(buildKey, out var entry) && entry.Expires > now)
        {
            return entry.Claim;
        }
        _entries.Remove(buildKey);
        return null;
    }

    private static bool IsOwnInFlight(DedupeClaim claim, string buildId) =>
        claim.State == DedupeState.InFlight && claim.BuildId == buildId;
}
