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

    [Fact]
    public async Task QuotaFull_BuildsWaitForCapacity_AllSucceedWithOnePodEach_NeverAboveTheQuota()
    {
        // Pushes of a second: the worker's four slots hold more builds than the quota admits, however slow the machine.
        await using var worker = await WorkerHarness.StartAsync("""
            quota: { podsPerNamespace: 2 }
            timings: { push: { median: 1000, p95: 1100 } }
            """);
        var ids = Enumerable.Range(1, 6).Select(i => $"quota{i}").ToList();
        await Task.WhenAll(ids.Select(id => worker.PublishAsync(WorkerHarness.Command(id))));

        foreach (var id in ids)
        {
            var end = await worker.Events.WaitEndAsync(id);
            Assert.True(end is BuildSucceeded, $"{id} ended with {end}");
            Assert.Equal([$"bf-{id}-1"], await worker.PodsOfAsync(id));
            Assert.Empty(worker.Events.Of<BuildAttemptFailed>(id));
        }
        var stats = await worker.StatsAsync();
        // Six builds at once against a quota of two: some creates were refused, and waited out.
        Assert.Contains(stats.Requests, r => r.Verb == "create" && r.Code == 403 && r.Count > 0);
        Assert.InRange(stats.PeakConcurrentPods, 1, 2);
    }

    [Fact]
    public async Task PodRefusedByLimitRange_BuildFailsUnknownNamingTheRefusal_NoPodNoRetry()
    {
        await using var worker = await WorkerHarness.StartAsync("quota: { maxContainerMemory: 6Gi }");
        var spec = WorkerHarness.Spec() with { Resources = new BuildResources { MemoryLimit = "8Gi" } };
        await worker.PublishAsync(WorkerHarness.Command("toobig", spec));

        var failed = Assert.IsType<BuildFailed>(await worker.Events.WaitEndAsync("toobig"));
        Assert.Equal(FailureReasons.Unknown, failed.Reason);
        Assert.Equal(1, failed.Attempts);
        Assert.Contains("403 Forbidden", failed.Detail, StringComparison.Ordinal);
        Assert.Contains("maximum memory usage per Container is 6Gi, but limit is 8Gi", failed.Detail, StringComparison.Ordinal);
        Assert.Empty(await worker.PodsOfAsync("toobig"));
        Assert.Empty(worker.Events.Of<BuildStarted>("toobig"));

        // A build within the limit still runs.
        await worker.PublishAsync(WorkerHarness.Command("fits"));
        Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync("fits"));
    }
}
