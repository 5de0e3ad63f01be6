using BuildFarm.ClusterSim.Hosting;
using BuildFarm.Contracts;
using BuildFarm.Coordination.Redis;
using BuildFarm.Coordination.Scheduling;
using StackExchange.Redis;

namespace BuildFarm.Worker.Tests;

/// <summary>
/// Issue 17's admission (docs/scheduling.md "Admission") over the real RabbitMQ and Redis and the simulator: two workers
/// of one slot each, one a process killed with SIGKILL mid-build.
/// </summary>
public sealed partial class RabbitMqIntegrationTests
{
    private static readonly Dictionary<string, string?> OneSlotAdmission = new()
    {
        ["Worker:Slots"] = "1",
        ["Scheduling:Admission"] = "true",
        ["Scheduling:DispatchInterval"] = "00:00:00.100",
        ["Scheduling:HeartbeatInterval"] = "00:00:00.500",
        ["Scheduling:HeartbeatTtl"] = "00:00:03",
    };

    [Fact]
    public async Task RabbitMq_Admission_TwoWorkersOneKilledMidBuild_EveryBuildEndsOnce_NeverMoreInFlightThanSlots_CapacityComesBack()
    {
        var redisPrefix = $"bfrabbittest:{Guid.NewGuid():N}:";
        await using var sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions
        {
            Scenario = WorkerHarness.Scenario("timings: { push: { median: 1500, p95: 1700 } }"),
            Seed = 7,
        });
        await using var client = await RabbitClient.StartAsync();
        var kubeconfig = Path.Combine(Path.GetTempPath(), $"worker-process-test-{Guid.NewGuid():N}.kubeconfig");
        sim.WriteKubeconfig(kubeconfig);
        var settings = ProcessSettings(kubeconfig, redisPrefix);
        foreach (var (key, value) in OneSlotAdmission)
        {
            settings[key] = value;
        }
        var redis = await ConnectionMultiplexer.ConnectAsync(Redis());
        await using (redis)
        {
            var store = new RedisAdmissionStore(redis, new RedisKeys(redisPrefix));
            var ids = Enumerable.Range(1, 5).Select(i => Unique($"admitted{i}")).ToList();
            using var sampling = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            try
            {
                await using var process = WorkerProcess.Start(settings);
                await using var second = await RabbitWorker.StartAsync(sim, redisPrefix, new Dictionary<string, string?>(OneSlotAdmission.Concat(ShortLeases)));
                await Eventually.UntilAsync(async () => (await store.SnapshotAsync(1, 1, CancellationToken.None)).FreeSlots == 2 || process.HasExited,
                    "both workers to offer their slot", TimeSpan.FromSeconds(60));
                Assert.False(process.HasExited, "the worker process exited:\n" + process.Output);

                await store.EnqueueAsync([.. ids.Select(id => new AdmissionEntry(new ReadyBuild(id, "team-a", "", 5, 0, 0),
                    BuildImagePayload.Serialize(WorkerHarness.Command(id))))], CancellationToken.None);
                // Sampled all along: admitted and not ended never exceeds the two slots (a dead worker's build stays counted).
                var maxInFlight = 0;
                var sampler = Task.Run(async () =>
                {
                    while (!sampling.IsCancellationRequested)
                    {
                        maxInFlight = Math.Max(maxInFlight, (await store.SnapshotAsync(1, 1, CancellationToken.None)).InFlight);
                        await Task.Delay(50, CancellationToken.None);
                    }
                });

                // Both slots busy: one of the two running builds is the process's. Kill it mid-build.
                await Eventually.UntilAsync(() => Task.FromResult(ids.Count(id => client.Events.Of<BuildStarted>(id).Count > 0) >= 2),
                    "two builds to start", TimeSpan.FromSeconds(60));
                await process.KillAsync();

                foreach (var id in ids)
                {
                    Assert.IsType<BuildSucceeded>(await client.Events.WaitEndAsync(id, seconds: 120));
                }
                await Eventually.UntilAsync(async () => (await store.SnapshotAsync(1, 1, CancellationToken.None)) is { InFlight: 0, ReadyCount: 0, FreeSlots: 1 },
                    "the capacity to come back (the dead worker's slot gone, every build ended)", TimeSpan.FromSeconds(30));
                await sampling.CancelAsync();
                await sampler.WaitAsync(TimeSpan.FromSeconds(30));

                Assert.InRange(maxInFlight, 1, 2);
                foreach (var id in ids)
                {
                    // Ended once, with one pod: the killed worker's build was redelivered and its pod adopted.
                    Assert.Single(client.Events.Of<BuildSucceeded>(id));
                    Assert.Empty(client.Events.Of<BuildFailed>(id));
                    Assert.Equal([$"bf-{id}-1"], await second.PodsOfAsync(id));
                }
                await Eventually.UntilAsync(async () => await QueueDepthAsync() == 0, "the build queue to drain");
            }
            finally
            {
                await sampling.CancelAsync();
                File.Delete(kubeconfig);
            }
        }
    }
}
