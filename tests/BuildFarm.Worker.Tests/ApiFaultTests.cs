using BuildFarm.Contracts;

namespace BuildFarm.Worker.Tests;

/// <summary>Kubernetes API faults (429 with Retry-After, 500) are retried by the client's Polly pipeline.</summary>
public sealed class ApiFaultTests
{
    [Fact]
    public async Task ApiThrottlingAndErrors_AreRetried_AllBuildsSucceedWithOnePodEach()
    {
        await using var worker = await WorkerHarness.StartAsync("api: { throttleRate: 0.2, retryAfterSeconds: 0, errorRate: 0.2 }");
        var ids = Enumerable.Range(1, 5).Select(i => $"api{i}").ToList();
        await Task.WhenAll(ids.Select(id => worker.PublishAsync(WorkerHarness.Command(id))));

        foreach (var id in ids)
        {
            var end = await worker.Events.WaitEndAsync(id);
            Assert.True(end is BuildSucceeded, $"{id} ended with {end}");
            Assert.Equal([$"bf-{id}-1"], await worker.PodsOfAsync(id));
        }
        var requests = (await worker.StatsAsync()).Requests;
        Assert.Contains(requests, r => r.Code == 429);
        Assert.Contains(requests, r => r.Code == 500);
    }
}
