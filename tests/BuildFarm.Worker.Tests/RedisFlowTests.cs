using BuildFarm.Contracts;

namespace BuildFarm.Worker.Tests;

/// <summary>
/// The same flow with the Redis coordination against the real redis-server that ./test.sh starts
/// (BUILDFARM_TEST_REDIS); each test uses its own key prefix.
/// </summary>
[NeedsServer(Server.Redis)]
public sealed class RedisFlowTests
{
    internal static Dictionary<string, string?> RedisSettings() => new()
    {
        ["Redis:ConnectionString"] = TestEnvironment.Redis,
        ["Redis:KeyPrefix"] = $"bfworkertest:{Guid.NewGuid():N}:",
    };

    [Fact]
    public async Task Redis_SameSpecTenTimes_OnePod_OthersDeduplicated_AndSecondBuildToDestinationWaits()
    {
        await using var worker = await WorkerHarness.StartAsync("timings: { push: { median: 100, p95: 120 } }", RedisSettings());
        var spec = WorkerHarness.Spec("registry.example.com/team/redis:1");
        var ids = Enumerable.Range(1, 10).Select(i => $"redis{i}").ToList();
        var other = WorkerHarness.Command("redis-other", spec with { BuildArgs = new Dictionary<string, string> { ["V"] = "2" } });
        await Task.WhenAll(ids.Select(id => worker.PublishAsync(WorkerHarness.Command(id, spec))).Append(worker.PublishAsync(other)));

        foreach (var id in ids.Append("redis-other"))
        {
            Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync(id));
        }
        var pods = (await worker.StatsAsync()).Pods.Where(p => p.Destinations.Contains("registry.example.com/team/redis:1")).OrderBy(p => p.Start).ToList();
        Assert.Equal(2, pods.Count); // one for the ten identical builds, one for the other spec
        Assert.True(pods[0].End <= pods[1].Start, "the two builds to one destination overlapped");
        Assert.Equal(9, ids.Sum(id => worker.Events.Of<BuildDeduplicated>(id).Count));
    }

    [Fact]
    public async Task Redis_PermanentFailure_AbandonsClaim_SoTheSameSpecBuildsAgain()
    {
        await using var worker = await WorkerHarness.StartAsync("faults: { unauthorized: 1 }", RedisSettings());
        var spec = WorkerHarness.Spec("registry.example.com/team/again:1");
        await worker.PublishAsync(WorkerHarness.Command("again1", spec));
        Assert.IsType<BuildFailed>(await worker.Events.WaitEndAsync("again1"));

        worker.Sim.Reload(WorkerHarness.Scenario());
        await worker.PublishAsync(WorkerHarness.Command("again2", spec));
        Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync("again2"));
        Assert.Empty(worker.Events.Of<BuildDeduplicated>("again2"));
        Assert.Equal(["bf-again2-1"], await worker.PodsOfAsync("again2"));
    }
}
