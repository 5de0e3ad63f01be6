using BuildFarm.ClusterSim.Hosting;
using BuildFarm.Contracts;
using k8s;

namespace BuildFarm.Worker.Tests;

/// <summary>
/// Issue 16's drill of a scale-down: the worker process receives SIGTERM (what the kubelet sends when KEDA/the HPA removes
/// a replica, or a node is drained) mid-build, over the real RabbitMQ and Redis and the simulator over HTTP.
/// </summary>
public sealed partial class RabbitMqIntegrationTests
{
    /// <summary>deploy/base/worker-deployment.yaml's terminationGracePeriodSeconds: the hand-back must fit in it.</summary>
    private static readonly TimeSpan PodTerminationGracePeriod = TimeSpan.FromSeconds(45);

    [Fact]
    public async Task RabbitMq_WorkerProcessSigtermMidBuild_ExitsCleanly_HandsBackWithoutDeletingThePod_AnotherWorkerAdopts_BuildEndsOnce()
    {
        var redisPrefix = $"bfrabbittest:{Guid.NewGuid():N}:";
        await using var sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions
        {
            // A push long enough (7.5 s of wall time at the fast scenario's timeScale 400) that the build is still running
            // when the signal has been handled, short enough to stay within the pod's default deadline (3600 s simulated).
            Scenario = WorkerHarness.Scenario("timings: { push: { median: 3000, p95: 3200 } }"),
            Seed = 7,
        });
        await using var client = await RabbitClient.StartAsync();
        var kubeconfig = Path.Combine(Path.GetTempPath(), $"worker-process-test-{Guid.NewGuid():N}.kubeconfig");
        sim.WriteKubeconfig(kubeconfig);
        using var kubernetes = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig));
        var id = Unique("sigterm");
        var pod = $"bf-{id}-1";
        try
        {
            await using (var process = WorkerProcess.Start(ProcessSettings(kubeconfig, redisPrefix)))
            {
                await client.PublishAsync(WorkerHarness.Command(id));
                await Eventually.UntilAsync(() => Task.FromResult(client.Events.Of<BuildStarted>(id).Count > 0 || process.HasExited),
                    "the worker process to start the build", TimeSpan.FromSeconds(60));
                Assert.False(process.HasExited, "the worker process exited:\n" + process.Output);
                await Eventually.UntilAsync(async () =>
                    (await kubernetes.CoreV1.ReadNamespacedPodAsync(pod, WorkerHarness.Namespace)).Status?.Phase == "Running", "the pod to run");

                var clock = System.Diagnostics.Stopwatch.StartNew();
                var code = await process.TerminateAsync(PodTerminationGracePeriod);
                // A graceful stop (not a crash), within the pod's grace period: the kubelet would not need SIGKILL.
                Assert.True(code == 0, $"the worker exited {code} on SIGTERM:\n{process.Output}");
                Assert.True(clock.Elapsed < PodTerminationGracePeriod, $"the hand-back took {clock.Elapsed}");
            }

            // The build's pod is left running for another worker, and nothing ended the build.
            var left = await kubernetes.CoreV1.ReadNamespacedPodAsync(pod, WorkerHarness.Namespace);
            Assert.Null(left.Metadata.DeletionTimestamp);
            Assert.Equal("Running", left.Status?.Phase);
            Assert.DoesNotContain(client.Events.For(id), e => e is BuildSucceeded or BuildFailed or BuildCancelled);
            // Handed back: neither acked nor dead-lettered, the message waits in the build queue.
            await Eventually.UntilAsync(async () => await QueueDepthAsync() == 1, "the handed-back BuildImage in the build queue");

            await using var second = await RabbitWorker.StartAsync(sim, redisPrefix, ShortLeases);
            var end = await client.Events.WaitEndAsync(id, seconds: 60);
            Assert.True(end is BuildSucceeded, $"the build ended with {end}");
            var succeeded = (BuildSucceeded)end;
            Assert.Equal(1, succeeded.Attempts);
            // One pod for the one attempt: the second worker adopted it by name (409 on create) instead of making another.
            Assert.Equal([pod], await second.PodsOfAsync(id));
            var started = client.Events.Of<BuildStarted>(id);
            Assert.Equal(2, started.Count);
            Assert.All(started, s => Assert.Equal(pod, s.Pod));
            Assert.Contains((await StatsAsync(sim)).Requests, r => r.Verb == "create" && r.Code == 409);
            await Eventually.UntilAsync(async () => await QueueDepthAsync() == 0, "the build queue to drain");
            Assert.Single(client.Events.Of<BuildSucceeded>(id));
            Assert.DoesNotContain(client.Events.For(id), e => e is BuildFailed or BuildCancelled);
        }
        finally
        {
            File.Delete(kubeconfig);
        }
    }
}
