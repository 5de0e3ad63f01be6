namespace BuildFarm.Coordination.InMemory;

/// <summary>In-process destination locks with the same semantics as the Redis ones (for demo and unit tests).</summary>
public sealed class InMemoryDestinationLocks(TimeProvider time) : IDestinationLocks
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (Lease Lease, DateTimeOffset Expires)> _locks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _fences = new(StringComparer.Ordinal);

    public Task<Lease?> TryAcquireAsync(string destination, string holder, TimeSpan ttl, CancellationToken cancellationToken)
    {
        LeaseArguments.Check(destination, holder, ttl);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (_locks.TryGetValue(destination, out var held) && held.Expires > now && held.Lease.Holder != holder)
            {
                return Task.FromResult<Lease?>(null);
            }
            var token = _fences.GetValueOrDefault(destination) + 1;
            _fences[destination] = token;
            var lease = new Lease(destination, holder, token);
            _locks[destination] = (lease, now + ttl);
            return Task.FromResult<Lease?>(lease);
        }
    }

    public Task<bool> RenewAsync(Lease lease, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (!IsCurrent(lease, now))
            {
                return Task.FromResult(false);
            }
            _locks[lease.Resource] = (lease, now + ttl);
            return Task.FromResult(true);
        }
    }

    public Task<bool> IsCurrentAsync(Lease lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return Task.FromResult(IsCurrent(lease, time.GetUtcNow()));
        }
    }

    public Task<bool> ReleaseAsync(Lease lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return Task.FromResult(IsCurrent(lease, time.GetUtcNow()) && _locks.Remove(lease.Resource));
        }
    }

    private bool IsCurrent(Lease lease, DateTimeOffset now) =>
        _locks.TryGetValue(lease.Resource, out var held) && held.Expires > now && held.Lease == lease;
}
