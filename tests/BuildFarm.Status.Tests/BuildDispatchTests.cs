using BuildFarm.Contracts;
using BuildFarm.Status.Batches;
using BuildFarm.Coordination.Scheduling;
using BuildFarm.Status.Scheduling;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Status.Tests;

/// <summary>How a producer hands a ready build over (docs/scheduling.md "Admission"): published at once, queued, or admitted
/// by its own enqueue (the fast path) and then published by the producer.</summary>
public sealed class BuildDispatchTests
{
    private static readonly CancellationToken None = CancellationToken.None;
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);

    private readonly FakeTimeProvider _time = new(Records.T0);
    private readonly InMemoryAdmissionStore _store;
    private readonly List<string> _published = [];

    public BuildDispatchTests() => _store = new InMemoryAdmissionStore(_time);

    private BuildDispatch Dispatch(bool admission)
    {
        var services = new ServiceCollection().AddSingleton<IAdmissionStore>(_store).BuildServiceProvider();
        return new BuildDispatch(Options.Create(new AdmissionOptions { Admission = admission }), services, NullLogger<BuildDispatch>.Instance);
    }

    private static BuildImage Command(string id) => new() { BuildId = id, Spec = Records.Spec(id) };

    private Task Publish(BuildImage command)
    {
        _published.Add(command.BuildId);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task AdmissionOff_PublishesAtOnce_WithoutTheStore()
    {
        await _store.HeartbeatAsync("worker-1", 4, Long, None);

        await Dispatch(admission: false).DispatchAsync(Command("b1"), "team-a", Publish, None);

        Assert.Equal(["b1"], _published);
        var snapshot = await _store.SnapshotAsync(1, 1, None);
        Assert.Equal((0, 0), (snapshot.InFlight, snapshot.ReadyCount));
    }

    [Fact]
    public async Task AdmissionOn_PublishesOnlyWhatItsEnqueueAdmitted()
    {
        await _store.HeartbeatAsync("worker-1", 2, Long, None);
        var dispatch = Dispatch(admission: true);

        await dispatch.DispatchAsync(Command("fast-1"), "team-a", Publish, None);
        await dispatch.DispatchAsync(Command("fast-2"), "team-a", Publish, None);
        await dispatch.DispatchAsync(Command("waits"), "team-a", Publish, None);

        Assert.Equal(["fast-1", "fast-2"], _published);
        var snapshot = await _store.SnapshotAsync(10, 10, None);
        Assert.Equal((2, 1), (snapshot.InFlight, snapshot.ReadyCount));
        Assert.NotNull(await _store.RemoveReadyAsync("waits", None));
        Assert.Equal(2, snapshot.Scheduling.RunningByTenant["team-a"]);
    }

    [Fact]
    public async Task AdmissionOn_WithoutWorkers_QueuesAndPublishesNothing()
    {
        await Dispatch(admission: true).DispatchAsync(Command("b1"), null, Publish, None);

        Assert.Empty(_published);
        Assert.Equal(1, (await _store.SnapshotAsync(1, 1, None)).ReadyCount);
    }

    [Fact]
    public async Task AdmissionOn_AFailedPublishAfterTheClaim_DoesNotThrow_AndTheSweepRepublishes()
    {
        await _store.HeartbeatAsync("worker-1", 2, TimeSpan.FromDays(1), None);
        var attempts = 0;

        await Dispatch(admission: true).DispatchAsync(Command("b1"), "team-a", _ =>
        {
            attempts++;
            throw new InvalidOperationException("broker unreachable");
        }, None);

        Assert.Equal(1, attempts);
        Assert.Equal(1, (await _store.SnapshotAsync(1, 1, None)).InFlight);
        var republishAfter = new AdmissionOptions().RepublishAfter;
        Assert.Empty(await _store.SweepAsync(republishAfter, 10, None));
        _time.Advance(republishAfter);
        Assert.Equal("b1", Assert.Single(await _store.SweepAsync(republishAfter, 10, None)).BuildId);
    }
}

/// <summary>The order a batch's release hands builds over in (docs/scheduling.md "Admission", the fast path).</summary>
public sealed class ReleaseOrderTests
{
    private static ReleaseStep Step(string id, int priority, double? path) =>
        new(new StoredBuildRecord(Records.Build(id) with { Priority = priority }) { PathSeconds = path }, Records.Spec(id));

    [Fact]
    public void ReleaseOrder_IsPriorityThenLongerPathFirst_TiesInPlanOrder()
    {
        IReadOnlyList<ReleaseStep> plan =
            [Step("short", 5, 10), Step("none", 5, null), Step("long", 5, 600), Step("urgent", 9, 1), Step("tie", 5, 10), Step("low", 0, 5000)];

        var order = BatchOrchestrator.ReleaseOrder(plan).Select(s => s.Build.BuildId);

        Assert.Equal(["urgent", "long", "short", "tie", "none", "low"], order);
    }
}
