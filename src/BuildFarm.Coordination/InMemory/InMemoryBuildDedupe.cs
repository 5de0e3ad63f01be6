namespace BuildFarm.Coordination.InMemory;

/// <summary>In-process build dedupe with the same semantics as the Redis one (for demo and unit tests).</summary>
public sealed class InMemoryBuildDedupe(TimeProvider time) : IBuildDedupe
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (DedupeClaim Claim, DateTimeOffset Expires)> _entries = new(StringComparer.Ordinal);

    public Task<DedupeClaim> ClaimAsync(string buildKey, string buildId, TimeSpan inFlightTtl, CancellationToken cancellationToken)
    {
        LeaseArguments.Check(buildKey, buildId, inFlightTtl);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var now = time.GetUtcNow();
            var current = Current(buildKey, now);
            if (current is null || IsOwnInFlight(current, buildId))
            {
                var claim = new DedupeClaim(DedupeState.InFlight, buildId, null);
                _entries[buildKey] = (claim, now + inFlightTtl);
                return Task.FromResult(new DedupeClaim(DedupeState.Claimed, buildId, null));
            }
            return Task.FromResult(current);
        }
    }

    public Task<bool> RenewAsync(string buildKey, string buildId, TimeSpan inFlightTtl, CancellationToken cancellationToken)
    {
        LeaseArguments.Check(buildKey, buildId, inFlightTtl);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var now = time.GetUtcNow();
            var current = Current(buildKey, now);
            if (current is null || !IsOwnInFlight(current, buildId))
            {
                return Task.FromResult(false);
            }
            _entries[buildKey] = (current, now + inFlightTtl);
            return Task.FromResult(true);
        }
    }

    public Task<bool> CompleteAsync(string buildKey, string buildId, string digest, TimeSpan completedTtl, CancellationToken cancellationToken)
    {
        LeaseArguments.Check(buildKey, buildId, completedTtl);
        ArgumentException.ThrowIfNullOrWhiteSpace(digest);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var now = time.GetUtcNow();
            var current = Current(buildKey, now);
            if (current is not null && !IsOwnInFlight(current, buildId))
            {
                return Task.FromResult(false);
            }
            _entries[buildKey] = (new DedupeClaim(DedupeState.Completed, buildId, digest), now + completedTtl);
            return Task.FromResult(true);
        }
    }

    public Task AbandonAsync(string buildKey, string buildId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(buildKey);
        ArgumentException.ThrowIfNullOrWhiteSpace(buildId);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var current = Current(buildKey, time.GetUtcNow());
            if (current is not null && IsOwnInFlight(current, buildId))
            {
                _entries.Remove(buildKey);
            }
        }
        return Task.CompletedTask;
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
