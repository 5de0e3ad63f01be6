using BuildFarm.Contracts;
using BuildFarm.Coordination;
using Microsoft.Extensions.DependencyInjection;

namespace BuildFarm.Worker.Tests;

/// <summary>Destination locks and registry slots, checked from the simulator's pod and concurrency history.</summary>
public sealed class CoordinationFlowTests
{
    private const string SlowPush = "timings: { push: { median: 100, p95: 120 } }";

    [Fact]
    public async Task TwoBuildsToOneDestination_NeverOverlap()
    {
        await using var worker = await WorkerHarness.StartAsync(SlowPush);
        var destination = "registry.example.com/team/contended:latest";
        var first = WorkerHarness.Command("lock-a", WorkerHarness.Spec(destination));
        var second = WorkerHarness.Command("lock-b", WorkerHarness.Spec(destination) with { BuildArgs = new Dictionary<string, string> { ["V"] = "2" } });
        await Task.WhenAll(worker.PublishAsync(first), worker.PublishAsync(second));

        Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync("lock-a"));
        Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync("lock-b"));
        var pods = (await worker.StatsAsync()).Pods.Where(p => p.Destinations.Contains(destination)).OrderBy(p => p.Start).ToList();
        Assert.Equal(2, pods.Count);
        Assert.NotNull(pods[0].End);
        Assert.True(pods[0].End <= pods[1].Start, $"{pods[0].Name} ran {pods[0].Start:O}–{pods[0].End:O}, {pods[1].Name} started {pods[1].Start:O}");
        Assert.Empty(worker.Events.Of<BuildDeduplicated>("lock-b"));
    }

    [Fact]
    public async Task RegistrySlotLimit_IsNeverExceeded()
    {
        await using var worker = await WorkerHarness.StartAsync(SlowPush, new Dictionary<string, string?> { ["Worker:RegistrySlotLimit"] = "2" });
        var ids = Enumerable.Range(1, 6).Select(i => $"slot{i}").ToList();
        await Task.WhenAll(ids.Select(id => worker.PublishAsync(WorkerHarness.Command(id, WorkerHarness.Spec($"slots.example.com/team/{id}:1")))));

        foreach (var id in ids)
        {
            Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync(id));
        }
        var stats = await worker.StatsAsync();
        Assert.Equal(6, stats.Pods.Count(p => p.Name.StartsWith("bf-slot", StringComparison.Ordinal)));
        var registry = stats.Registries["slots.example.com"];
        Assert.Equal(2, registry.Peak);
    }

    [Fact]
    public async Task RegistrySlot_GoesBackWithTheFencingCheck_BeforeTheDedupeCompletes()
    {
        // The push is over once the pod has ended: the slot is released in the fencing check's round trip, not after the
        // dedupe completion, the success event and the pod's deletion.
        var order = new List<string>();
        await using var worker = await WorkerHarness.StartAsync(configure: services =>
        {
            var slots = services.Last(d => d.ServiceType == typeof(IRegistrySlots)).ImplementationFactory!;
            var dedupe = services.Last(d => d.ServiceType == typeof(IBuildDedupe)).ImplementationFactory!;
            services.AddSingleton<IRegistrySlots>(sp => new OrderedSlots((IRegistrySlots)slots(sp), order));
            services.AddSingleton<IBuildDedupe>(sp => new OrderedDedupe((IBuildDedupe)dedupe(sp), order));
        });
        await worker.PublishAsync(WorkerHarness.Command("early-slot"));

        Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync("early-slot"));
        await Eventually.UntilAsync(() => Snapshot(order).Contains("slot released"), "the registry slot was never released");
        var seen = Snapshot(order);
        Assert.True(seen.IndexOf("slot released") < seen.IndexOf("dedupe completed"), string.Join(", ", seen));
    }

    private static List<string> Snapshot(List<string> order)
    {
        lock (order)
        {
            return [.. order];
        }
    }

    private static void Note(List<string> order, string what)
    {
        lock (order)
        {
            order.Add(what);
        }
    }

    private sealed class OrderedSlots(IRegistrySlots inner, List<string> order) : IRegistrySlots
    {
        public Task<Lease?> TryAcquireAsync(string registry, string holder, int limit, TimeSpan ttl, CancellationToken cancellationToken) =>
            inner.TryAcquireAsync(registry, holder, limit, ttl, cancellationToken);

        public Task<bool> RenewAsync(Lease lease, TimeSpan ttl, CancellationToken cancellationToken) => inner.RenewAsync(lease, ttl, cancellationToken);

        public Task ReleaseAsync(Lease lease, CancellationToken cancellationToken)
        {
            Note(order, "slot released");
            return inner.ReleaseAsync(lease, cancellationToken);
        }

        public Task<int> CountAsync(string registry, CancellationToken cancellationToken) => inner.CountAsync(registry, cancellationToken);
    }

    private sealed class OrderedDedupe(IBuildDedupe inner, List<string> order) : IBuildDedupe
    {
        public Task<DedupeClaim> ClaimAsync(string buildKey, string buildId, TimeSpan inFlightTtl, CancellationToken cancellationToken) =>
            inner.ClaimAsync(buildKey, buildId, inFlightTtl, cancellationToken);

        public Task<bool> RenewAsync(string buildKey, string buildId, TimeSpan inFlightTtl, CancellationToken cancellationToken) =>
            inner.RenewAsync(buildKey, buildId, inFlightTtl, cancellationToken);

        public Task<bool> CompleteAsync(string buildKey, string buildId, string digest, TimeSpan completedTtl, CancellationToken cancellationToken)
        {
            Note(order, "dedupe completed");
            return inner.CompleteAsync(buildKey, buildId, digest, completedTtl, cancellationToken);
        }

        public Task AbandonAsync(string buildKey, string buildId, CancellationToken cancellationToken) => inner.AbandonAsync(buildKey, buildId, cancellationToken);
    }

    [Fact]
    public async Task EvictedPod_IsRetriedInNewPod()
    {
        await using var worker = await WorkerHarness.StartAsync("faults: { evicted: 1 }", new Dictionary<string, string?> { ["Worker:BackoffBase"] = "00:00:01", ["Worker:MaxBackoff"] = "00:00:01" });
        await worker.PublishAsync(WorkerHarness.Command("evicted"));

        var failed = await worker.Events.WaitAsync<BuildAttemptFailed>("evicted");
        worker.Sim.Reload(WorkerHarness.Scenario());
        Assert.Equal(FailureReasons.PodEvicted, failed.Reason);
        Assert.True(failed.Transient);
        var succeeded = Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync("evicted"));
        Assert.Equal(2, succeeded.Attempts);
        Assert.Equal(["bf-evicted-1", "bf-evicted-2"], await worker.PodsOfAsync("evicted"));
    }

    [Fact]
    public async Task NodeLost_PodDeletedUnderTheBuild_IsRetriedInNewPod()
    {
        await using var worker = await WorkerHarness.StartAsync("faults: { nodeLost: 1 }", new Dictionary<string, string?> { ["Worker:BackoffBase"] = "00:00:01", ["Worker:MaxBackoff"] = "00:00:01" });
        await worker.PublishAsync(WorkerHarness.Command("lost"));

        var failed = await worker.Events.WaitAsync<BuildAttemptFailed>("lost");
        worker.Sim.Reload(WorkerHarness.Scenario());
        Assert.Equal(FailureReasons.NodeLost, failed.Reason);
        var succeeded = Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync("lost"));
        Assert.Equal(2, succeeded.Attempts);
    }
}
