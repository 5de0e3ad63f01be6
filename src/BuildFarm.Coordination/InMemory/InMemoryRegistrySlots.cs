namespace BuildFarm.Coordination.InMemory;

/// <summary>In-process registry slots with the same semantics as the Redis ones (for demo and unit tests).</summary>
public sealed class InMemoryRegistrySlots(TimeProvider time) : IRegistrySlots
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Dictionary<string, DateTimeOffset>> _slots = new(StringComparer.Ordinal);

    public Task<Lease?> TryAcquireAsync(string registry, string holder, int limit, TimeSpan ttl, CancellationToken cancellationToken)
    {
        LeaseArguments.Check(registry, holder, ttl);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var now = time.GetUtcNow();
            var held = Live(registry, now);
            if (!held.ContainsKey(holder) && held.Count >= limit)
            {
                return Task.FromResult<Lease?>(null);
            }
            held[holder] = now + ttl;
            return Task.FromResult<Lease?>(new Lease(registry, holder, 0));
        }
    }

    public Task<bool> RenewAsync(Lease lease, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var now = time.GetUtcNow();
            var held = Live(lease.Resource, now);
            if (!held.ContainsKey(lease.Holder))
            {
                return Task.FromResult(false);
            }
            held[lease.Holder] = now + ttl;
            return Task.FromResult(true);
        }
    }

    public Task ReleaseAsync(Lease lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            if (_slots.TryGetValue(lease.Resource, out var held))
            {
                held.Remove(lease.Holder);
            }
        }
        return Task.CompletedTask;
    }

    public Task<int> CountAsync(string registry, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(registry);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return Task.FromResult(Live(registry, time.GetUtcNow()).Count);
        }
    }

    private Dictionary<string, DateTimeOffset> Live(string registry, DateTimeOffset now)
    {
        if (!_slots.TryGetValue(registry, out var held))
        {
            held = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
            _slots[registry] = held;
        }
        foreach (var expired in held.Where(h => h.Value <= now).Select(h => h.Key).ToList())
        {
            held.Remove(expired);
        }
        return held;
    }
}
