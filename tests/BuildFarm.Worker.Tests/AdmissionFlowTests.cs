using BuildFarm.Contracts;
using BuildFarm.Coordination.Scheduling;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace BuildFarm.Worker.Tests;

/// <summary>
/// Admission (docs/scheduling.md "Admission") through a whole worker: ready builds wait in the admission store and the
/// worker's dispatcher releases them one free slot at a time, in the scheduling policy's order.
/// </summary>
public sealed class AdmissionFlowTests
{
    private static readonly Dictionary<string, string?> OneSlotWithAdmission = new()
    {
        ["Worker:Slots"] = "1",
        ["Scheduling:Admission"] = "true",
        ["Scheduling:DispatchInterval"] = "00:00:00.050",
    };

    private static AdmissionEntry Entry(string buildId, string tenant, int priority) =>
        new(new ReadyBuild(buildId, tenant, "", priority, 0, 0), BuildImagePayload.Serialize(WorkerHarness.Command(buildId) with { Priority = priority }));

    [Fact]
    public async Task OneSlot_ReleasesBuildsOneAtATime_InThePolicysOrder()
    {
        await using var worker = await WorkerHarness.StartAsync(settings: OneSlotWithAdmission,
            configure: s => s.Replace(ServiceDescriptor.Singleton<ISchedulingPolicy, NewestFirstPolicy>()));
        var store = worker.Host.Services.GetRequiredService<IAdmissionStore>();

        // One atomic enqueue: the dispatcher sees all four at once. Within team-a the priority-9 build comes first
        // (SchedulingOrder.WithinGroup); between the groups' first builds the test policy takes the newest.
        await store.EnqueueAsync([Entry("adm-a1", "team-a", 5), Entry("adm-a2", "team-a", 5), Entry("adm-a3", "team-a", 9), Entry("adm-b1", "team-b", 5)],
            CancellationToken.None);

        string[] expected = ["adm-b1", "adm-a3", "adm-a1", "adm-a2"];
        foreach (var id in expected)
        {
            Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync(id, 60));
        }
        // Started in that order, and each only after the one before had ended: never more in flight than the one slot.
        var ordered = worker.Events.All().Where(e => e is BuildStarted or BuildSucceeded).ToList();
        var running = 0;
        var maxRunning = 0;
        var startedIds = new HashSet<string>();
        foreach (var e in ordered)
        {
            if (e is BuildStarted s && startedIds.Add(s.BuildId))
            {
                maxRunning = Math.Max(maxRunning, ++running);
            }
            else if (e is BuildSucceeded)
            {
                running--;
            }
        }
        Assert.Equal(1, maxRunning);
        Assert.Equal(expected, ordered.OfType<BuildStarted>().Select(s => s.BuildId).Distinct());

        // The capacity comes back: nothing in flight, the slot free.
        await Eventually.UntilAsync(async () => (await store.SnapshotAsync(1, 1, CancellationToken.None)) is { InFlight: 0, FreeSlots: 1, ReadyCount: 0 },
            "the admission store to show the slot free again", TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task ALateCopyOfAnAdmittedBuild_IsDroppedWithoutRunning()
    {
        await using var worker = await WorkerHarness.StartAsync(settings: OneSlotWithAdmission);
        var store = worker.Host.Services.GetRequiredService<IAdmissionStore>();
        await store.EnqueueAsync([Entry("adm-once", "team-a", 5)], CancellationToken.None);
        Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync("adm-once", 60));

        // A second copy (as a sweep's republish arriving after the build ended): consumed, acked, nothing run.
        var copy = NewId.NextGuid();
        await worker.Bus.Bus.Publish(WorkerHarness.Command("adm-once"), c => c.MessageId = copy);
        Assert.True(await worker.Bus.Consumed.Any<BuildImage>(m => m.Context.MessageId == copy).WaitAsync(TimeSpan.FromSeconds(60)),
            "the copy was not consumed");

        Assert.Single(worker.Events.Of<BuildStarted>("adm-once"));
        Assert.Single(worker.Events.Of<BuildSucceeded>("adm-once"));
        Assert.Empty(worker.Events.Of<BuildDeduplicated>("adm-once"));
        Assert.Single(await worker.PodsOfAsync("adm-once"));
    }

    /// <summary>Among the groups' candidates, the one that became ready last: the opposite of FIFO, so that the order seen
    /// can only come from the policy.</summary>
    private sealed class NewestFirstPolicy : ISchedulingPolicy
    {
        public IReadOnlyList<ReadyBuild> Choose(SchedulingSnapshot snapshot, int slots) =>
            [.. snapshot.Ready.OrderByDescending(r => r.Sequence).Take(slots)];
    }
}
