namespace BuildFarm.Coordination.InMemory;

/// <summary>In-process learned memory figures with the same semantics as the Redis ones (for demo and unit tests).</summary>
public sealed class InMemoryMemoryHistory(TimeProvider time) : IMemoryHistory
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (LearnedMemory Memory, DateTimeOffset Expires)> _figures = new(StringComparer.Ordinal);

    public Task<LearnedMemory?> FindAsync(string repository, CancellationToken cancellationToken)
    {
        LearnedMemory.CheckRepository(repository);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return Task.FromResult(_figures.TryGetValue(repository, out var entry) && entry.Expires > time.GetUtcNow() ? entry.Memory : null);
        }
    }

    public Task RecordAsync(string repository, LearnedMemory memory, TimeSpan ttl, CancellationToken cancellationToken)
    {
        LearnedMemory.Check(repository, memory, ttl);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var now = time.GetUtcNow();
            foreach (var expired in _figures.Where(f => f.Value.Expires <= now).Select(f => f.Key).ToList())
            {
                _figures.Remove(expired);
            }
            _figures[repository] = (memory, now + ttl);
        }
        return Task.CompletedTask;
    }
}
