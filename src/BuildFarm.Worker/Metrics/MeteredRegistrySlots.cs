using System.Collections.Concurrent;
using BuildFarm.Coordination;

namespace BuildFarm.Worker.Metrics;

/// <summary>
/// Counts the registry slots this worker holds in <c>buildfarm_registry_slots_in_use{registry}</c> around any
/// <see cref="IRegistrySlots"/>: +1 when a slot is granted, −1 when it is released. A re-entrant grant to the same holder
/// is counted once, and a release of a slot not counted here changes nothing.
/// </summary>
public sealed class MeteredRegistrySlots(IRegistrySlots inner, BuildFarmMetrics metrics) : IRegistrySlots
{
    private readonly ConcurrentDictionary<(string Registry, string Holder), byte> _held = new();

    public async Task<Lease?> TryAcquireAsync(string registry, string holder, int limit, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var lease = await inner.TryAcquireAsync(registry, holder, limit, ttl, cancellationToken).ConfigureAwait(false);
        if (lease is not null && _held.TryAdd((registry, holder), 0))
        {
            metrics.RecordRegistrySlot(registry, +1);
        }
        return lease;
    }

    public Task<bool> RenewAsync(Lease lease, TimeSpan ttl, CancellationToken cancellationToken) => inner.RenewAsync(lease, ttl, cancellationToken);

    public async Task ReleaseAsync(Lease lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        try
        {
            await inner.ReleaseAsync(lease, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Given back (or expiring on its own when the release failed): no longer this worker's to use.
            if (_held.TryRemove((lease.Resource, lease.Holder), out _))
            {
                metrics.RecordRegistrySlot(lease.Resource, -1);
            }
        }
    }

    public Task<int> CountAsync(string registry, CancellationToken cancellationToken) => inner.CountAsync(registry, cancellationToken);
}
