namespace BuildFarm.Coordination.InMemory;

/// <summary>In-process cancel markers with the same semantics as the Redis ones (for demo and unit tests).</summary>
public sealed class InMemoryCancelRequests(TimeProvider time) : ICancelRequests
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (CancelRequest Request, DateTimeOffset Expires)> _requests = new(StringComparer.Ordinal);

    public Task RequestAsync(string buildId, string? requestedBy, TimeSpan ttl, CancellationToken cancellationToken)
    {
        LeaseArguments.Check(buildId, requestedBy ?? "-", ttl);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var now = time.GetUtcNow();
            PruneLocked(now);
            if (!_requests.ContainsKey(buildId))
            {
                _requests[buildId] = (new CancelRequest(requestedBy), now + ttl);
            }
        }
        return Task.CompletedTask;
    }

    public Task<CancelRequest?> FindAsync(string buildId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(buildId);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return Task.FromResult(_requests.TryGetValue(buildId, out var entry) && entry.Expires > time.GetUtcNow() ? entry.Request : null);
        }
    }

    private void PruneLocked(DateTimeOffset now)
    {
        foreach (var expired in _requests.Where(r => r.Value.Expires <= now).Select(r => r.Key).ToList())
        {
            _requests.Remove(expired);
        }
    }
}
