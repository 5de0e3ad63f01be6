namespace BuildFarm.Manifests.Scheduling;

/// <summary>
/// <see cref="IScheduleCoordinator"/> in process, with expiries on <see cref="TimeProvider"/>: for one scheduler, the demo,
/// and tests (share one instance between schedulers to model replicas). Nothing survives the process.
/// </summary>
public sealed class InMemoryScheduleCoordinator(TimeProvider time) : IScheduleCoordinator
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, DateTimeOffset> _last = new(StringComparer.Ordinal);
    private readonly Dictionary<(string, DateTimeOffset), (string Holder, bool Fired, DateTimeOffset Expires)> _claims = [];
    private (string Holder, DateTimeOffset Expires)? _leader;

    public Task<bool> TryLeadAsync(string holder, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(holder);
        lock (_lock)
        {
            var now = time.GetUtcNow();
            if (_leader is { } current && current.Expires > now && current.Holder != holder)
            {
                return Task.FromResult(false);
            }
            _leader = (holder, now + ttl);
            return Task.FromResult(true);
        }
    }

    public Task ResignAsync(string holder, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_leader?.Holder == holder)
            {
                _leader = null;
            }
        }
        return Task.CompletedTask;
    }

    public Task<DateTimeOffset?> GetLastHandledAsync(string schedule, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult<DateTimeOffset?>(_last.TryGetValue(schedule, out var last) ? last : null);
        }
    }

    public Task AdvanceLastHandledAsync(string schedule, DateTimeOffset instant, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_last.TryGetValue(schedule, out var last) || last < instant)
            {
                _last[schedule] = instant;
            }
        }
        return Task.CompletedTask;
    }

    public Task<OccurrenceClaim> TryClaimAsync(string schedule, DateTimeOffset occurrence, string holder, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(holder);
        lock (_lock)
        {
            var now = time.GetUtcNow();
            var key = (schedule, occurrence);
            if (_claims.TryGetValue(key, out var claim) && claim.Expires > now)
            {
                if (claim.Fired)
                {
                    return Task.FromResult(OccurrenceClaim.AlreadyFired);
                }
                if (claim.Holder != holder)
                {
                    return Task.FromResult(OccurrenceClaim.HeldByOther);
                }
            }
            _claims[key] = (holder, false, now + ttl);
            return Task.FromResult(OccurrenceClaim.Claimed);
        }
    }

    public Task MarkFiredAsync(string schedule, DateTimeOffset occurrence, string holder, TimeSpan retention, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var now = time.GetUtcNow();
            _claims[(schedule, occurrence)] = (holder, true, now + retention);
            foreach (var expired in _claims.Where(c => c.Value.Expires <= now).Select(c => c.Key).ToList())
            {
                _claims.Remove(expired);
            }
        }
        return Task.CompletedTask;
    }
}
