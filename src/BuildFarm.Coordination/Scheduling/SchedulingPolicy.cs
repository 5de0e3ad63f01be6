namespace BuildFarm.Coordination.Scheduling;

/// <summary>
/// A build that is ready to run and waits for a slot. <paramref name="Tenant"/> owns it ("" for none);
/// <paramref name="Group"/> is its batch id, or "" for a single build (a tenant's single builds share one group);
/// <paramref name="Priority"/> is the spec's 0–9 (higher first); <paramref name="PathSeconds"/> the expected seconds from
/// its start to the end of its batch along its longest chain of dependents (0 when unknown); <paramref name="Sequence"/>
/// the order in which it became ready (the farm's FIFO order).
/// </summary>
public sealed record ReadyBuild(string BuildId, string Tenant, string Group, int Priority, double PathSeconds, long Sequence);

/// <summary>
/// What a scheduling decision sees: the ready builds offered (for each tenant and group at most as many as there are
/// slots to fill, the group's first in <see cref="SchedulingOrder.WithinGroup"/> order) and the builds running now, by
/// tenant and by (tenant, group) (<see cref="SchedulingOrder.GroupKey"/>).
/// </summary>
public sealed record SchedulingSnapshot(
    IReadOnlyList<ReadyBuild> Ready,
    IReadOnlyDictionary<string, int> RunningByTenant,
    IReadOnlyDictionary<string, int> RunningByGroup);

/// <summary>Decides which ready builds start when slots free up. Pure: the same snapshot gives the same answer.</summary>
public interface ISchedulingPolicy
{
    /// <summary>
    /// Up to <paramref name="slots"/> builds of <paramref name="snapshot"/>'s ready builds, in the order they should start.
    /// Within one group a policy never starts a build before one that comes earlier in
    /// <see cref="SchedulingOrder.WithinGroup"/> (which is why a group's first few are enough to offer).
    /// </summary>
    IReadOnlyList<ReadyBuild> Choose(SchedulingSnapshot snapshot, int slots);
}

/// <summary>Orders shared by every policy and by the stores that offer candidates.</summary>
public static class SchedulingOrder
{
    /// <summary>The order within one group: higher priority first, then the longer remaining path, then FIFO.</summary>
    public static IComparer<ReadyBuild> WithinGroup { get; } = Comparer<ReadyBuild>.Create((a, b) =>
    {
        var c = b.Priority.CompareTo(a.Priority);
        if (c == 0)
        {
            c = b.PathSeconds.CompareTo(a.PathSeconds);
        }
        return c != 0 ? c : a.Sequence.CompareTo(b.Sequence);
    });

    /// <summary>The key of a (tenant, group) pair in <see cref="SchedulingSnapshot.RunningByGroup"/>.</summary>
    public static string GroupKey(string tenant, string group) => tenant + "\n" + group;
}

/// <summary>Today's order: first ready, first started, whoever submitted it.</summary>
public sealed class FifoSchedulingPolicy : ISchedulingPolicy
{
    public IReadOnlyList<ReadyBuild> Choose(SchedulingSnapshot snapshot, int slots)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        return slots <= 0 ? [] : [.. snapshot.Ready.OrderBy(r => r.Sequence).Take(slots)];
    }
}
