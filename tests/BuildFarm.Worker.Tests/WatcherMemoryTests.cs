using BuildFarm.Contracts;
using BuildFarm.Worker.Pods;
using k8s;
using Microsoft.Extensions.DependencyInjection;

namespace BuildFarm.Worker.Tests;

/// <summary>The watcher's cache must not grow with the number of builds (issue 4: worker memory flat over 10,000 builds).</summary>
public sealed class WatcherMemoryTests
{
    [Fact]
    public async Task PodWatcher_BuildsSucceededAndPodsDeletedByTheirBuilds_KeepsNoPodsNorTombstones()
    {
        await using var worker = await WorkerHarness.StartAsync();
        var watcher = worker.Host.Services.GetRequiredService<PodWatcher>();
        var ids = Enumerable.Range(1, 12).Select(i => $"mem{i}").ToList();
        await Task.WhenAll(ids.Select(id => worker.PublishAsync(WorkerHarness.Command(id))));
        foreach (var id in ids)
        {
            Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync(id, seconds: 60));
        }
        foreach (var id in ids)
        {
            await Eventually.UntilAsync(() => worker.PodGoneAsync($"bf-{id}-1"), $"pod bf-{id}-1 to be deleted");
        }

        // Every deletion has reached the watch: nothing of the 12 pods is left in the watcher.
        await Eventually.UntilAsync(() => Task.FromResult(watcher.CacheSizes() == (0, 0, 0)),
            $"an empty watcher cache (pods, tombstones, released: {watcher.CacheSizes()})");
    }

    [Fact]
    public async Task PodWatcher_PodDeletedByAnotherClient_KeepsItsTombstoneForALateWaiter()
    {
        await using var worker = await WorkerHarness.StartAsync("timings: { push: { median: 600, p95: 700 } }");
        var watcher = worker.Host.Services.GetRequiredService<PodWatcher>();
        await worker.PublishAsync(WorkerHarness.Command("memother"));
        var started = await worker.Events.WaitAsync<BuildStarted>("memother", seconds: 60);
        var uid = (await worker.Kubernetes.CoreV1.ReadNamespacedPodAsync(started.Pod, WorkerHarness.Namespace)).Metadata.Uid;

        // Deleted by someone else (kubectl, an eviction): the build was not done with it, so the final state is kept.
        await worker.Kubernetes.CoreV1.DeleteNamespacedPodAsync(started.Pod, WorkerHarness.Namespace, gracePeriodSeconds: 0);
        await Eventually.UntilAsync(() => worker.PodGoneAsync(started.Pod), "the pod to be deleted");
        await Eventually.UntilAsync(() => Task.FromResult(watcher.CacheSizes().Tombstones >= 1), "a tombstone for the deleted pod");
        await Assert.ThrowsAsync<PodGoneException>(() => watcher.WaitAsync(started.Pod, uid, _ => false, CancellationToken.None));
    }
}
