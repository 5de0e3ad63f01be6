using BuildFarm.Contracts;

namespace BuildFarm.Worker.Tests;

public sealed class ShutdownTests
{
    [Fact]
    public async Task WorkerStopsMidBuild_PodKept_NoOutcome_RedeliveryToAnotherWorkerAdoptsPod_BuildEndsOnce()
    {
        await using var first = await WorkerHarness.StartAsync("timings: { push: { median: 600, p95: 700 } }");
        var command = WorkerHarness.Command("handover");
        await first.PublishAsync(command);
        await first.Events.WaitAsync<BuildStarted>("handover");

        await first.Host.StopAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.False(await first.PodGoneAsync("bf-handover-1"), "a stopping worker must not delete its build's pod");
        Assert.DoesNotContain(first.Events.For("handover"), e => e is BuildSucceeded or BuildFailed or BuildCancelled);

        // The broker redelivers the unacknowledged message to another worker (simulated: the same message again).
        await using var second = await WorkerHarness.StartAsync(sharedSim: first.Sim);
        await second.PublishAsync(command);
        var succeeded = Assert.IsType<BuildSucceeded>(await second.Events.WaitEndAsync("handover"));
        Assert.Equal(1, succeeded.Attempts);
        Assert.Equal(["bf-handover-1"], await second.PodsOfAsync("handover"));
        Assert.Equal("bf-handover-1", Assert.Single(second.Events.Of<BuildStarted>("handover")).Pod);
    }
}
