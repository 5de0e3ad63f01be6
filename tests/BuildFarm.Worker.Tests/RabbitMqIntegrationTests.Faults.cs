using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using BuildFarm.ClusterSim.Hosting;
using BuildFarm.Contracts;
using BuildFarm.Coordination.Redis;
using BuildFarm.Worker.Hosting;
using k8s;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace BuildFarm.Worker.Tests;

/// <summary>
/// Issue 4's integration tests 1, 2, 5 and 7 over the real RabbitMQ and Redis, the simulator over HTTP (kubeconfig):
/// a worker process killed with SIGKILL mid-build, 200 builds with resets, 20 identical builds, cancellation, deadline,
/// simulator API faults and a Redis restart mid-run.
/// </summary>
public sealed partial class RabbitMqIntegrationTests(ITestOutputHelper output)
{
    /// <summary>Short leases so that a killed worker's lock and slot expire within the test (long enough that a worker
    /// slowed down by a loaded machine still renews them in time).</summary>
    private static readonly Dictionary<string, string?> ShortLeases = new()
    {
        ["Worker:LeaseTtl"] = "00:00:05",
        ["Worker:LeaseRenewInterval"] = "00:00:01",
    };

    [Fact]
    public async Task RabbitMq_WorkerProcessKilledMidBuild_Redelivered_PodAdopted_BuildSucceedsOnce_LeasesExpire()
    {
        var redisPrefix = $"bfrabbittest:{Guid.NewGuid():N}:";
        await using var sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions
        {
            Scenario = WorkerHarness.Scenario("timings: { push: { median: 2400, p95: 2600 } }"),
            Seed = 7,
        });
        await using var client = await RabbitClient.StartAsync();
        var kubeconfig = Path.Combine(Path.GetTempPath(), $"worker-process-test-{Guid.NewGuid():N}.kubeconfig");
        sim.WriteKubeconfig(kubeconfig);
        using var kubernetes = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig));
        var id = Unique("killed");
        var command = WorkerHarness.Command(id);
        var destination = command.Spec.Destinations[0];
        try
        {
            await using (var process = WorkerProcess.Start(ProcessSettings(kubeconfig, redisPrefix)))
            {
                await client.PublishAsync(command);
                await Eventually.UntilAsync(() => Task.FromResult(client.Events.Of<BuildStarted>(id).Count > 0 || process.HasExited),
                    "the worker process to start the build", TimeSpan.FromSeconds(60));
                Assert.False(process.HasExited, "the worker process exited:\n" + process.Output);
                await Eventually.UntilAsync(async () =>
                    (await kubernetes.CoreV1.ReadNamespacedPodAsync($"bf-{id}-1", WorkerHarness.Namespace)).Status?.Phase == "Running", "the pod to run");

                await process.KillAsync();
            }
            var killedAt = DateTimeOffset.UtcNow;

            // The killed worker's lock and registry slot are still held, and expire with their leases (LeaseTtl 5 s).
            var redis = await ConnectionMultiplexer.ConnectAsync(Redis());
            await using (redis)
            {
                var keys = new RedisKeys(redisPrefix);
                var locks = new RedisDestinationLocks(redis, keys);
                var slots = new RedisRegistrySlots(redis, keys);
                Assert.Null(await locks.TryAcquireAsync(destination, "probe", TimeSpan.FromSeconds(1), CancellationToken.None));
                Assert.Equal(1, await slots.CountAsync("registry.example.com", CancellationToken.None));
                await Eventually.UntilAsync(async () => await slots.CountAsync("registry.example.com", CancellationToken.None) == 0,
                    "the dead worker's registry slot to expire", TimeSpan.FromSeconds(15));
                var probe = await locks.TryAcquireAsync(destination, "probe", TimeSpan.FromSeconds(1), CancellationToken.None);
                Assert.NotNull(probe);
                Assert.True(DateTimeOffset.UtcNow - killedAt < TimeSpan.FromSeconds(15));
                await locks.ReleaseAsync(probe, CancellationToken.None);
            }
            Assert.DoesNotContain(client.Events.For(id), e => e is BuildSucceeded or BuildFailed or BuildCancelled);
            // Unacknowledged when the connection died: the broker put the message back.
            await Eventually.UntilAsync(async () => await QueueDepthAsync() == 1, "the BuildImage back in the build queue");

            await using var second = await RabbitWorker.StartAsync(sim, redisPrefix, ShortLeases);
            var succeeded = Assert.IsType<BuildSucceeded>(await client.Events.WaitEndAsync(id, seconds: 60));
            Assert.Equal(1, succeeded.Attempts);
            // Exactly one pod for the attempt: the second worker adopted bf-<id>-1 (409) instead of creating another.
            Assert.Equal([$"bf-{id}-1"], await second.PodsOfAsync(id));
            var started = client.Events.Of<BuildStarted>(id);
            Assert.Equal(2, started.Count);
            Assert.All(started, s => Assert.Equal($"bf-{id}-1", s.Pod));
            Assert.Contains((await StatsAsync(sim)).Requests, r => r.Verb == "create" && r.Code == 409);
            await Eventually.UntilAsync(async () => await QueueDepthAsync() == 0, "the build queue to drain");
            Assert.Single(client.Events.Of<BuildSucceeded>(id));
        }
        finally
        {
            File.Delete(kubeconfig);
        }
    }

    [Fact]
    public async Task RabbitMq_TwoHundredBuildsWithResetsInEveryPhase_AllSucceed_OnePodPerAttempt_ResetsAndRetriesInMetricsAndEvents()
    {
        await using var sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions
        {
            Scenario = WorkerHarness.Scenario("faults: { pullReset: 0.05, extractReset: 0.05, pushReset: 0.05 }\ncapacity: { nodes: 8, podsPerNode: 10 }"),
            Seed = 11,
        });
        await using var worker = await RabbitWorker.StartAsync(sim, $"bfrabbittest:{Guid.NewGuid():N}:", new Dictionary<string, string?>
        {
            ["Worker:Slots"] = "40",
            ["Worker:RegistrySlotLimit"] = "40",
            ["Worker:MaxAttempts"] = "6",
            // Kaniko's own retries absorb most resets; without push retries a reset in the push fails the attempt, so
            // the worker's retries (a new pod) are exercised too.
            ["Kaniko:PushRetry"] = "0",
            ["Kaniko:ImageFsExtractRetry"] = "1",
            ["Kaniko:ImageDownloadRetry"] = "1",
        });
        using var meters = new MeterRecorder(worker.Host.Services.GetRequiredService<IMeterFactory>());
        await using var client = await RabbitClient.StartAsync();
        var ids = Enumerable.Range(1, 200).Select(i => Unique($"many{i}")).ToList();
        await Task.WhenAll(ids.Select(id => client.PublishAsync(WorkerHarness.Command(id))));

        var stats = await WaitAllAsync(client, ids, 60);
        var pods = (await StatsAsync(sim)).Pods;
        int attempts = 0, retried = 0, resets = 0;
        foreach (var id in ids)
        {
            var succeeded = Assert.IsType<BuildSucceeded>(client.Events.For(id).Single(e => e is BuildSucceeded or BuildFailed or BuildCancelled));
            var started = client.Events.Of<BuildStarted>(id);
            Assert.Equal(Enumerable.Range(1, succeeded.Attempts).Select(a => $"bf-{id}-{a}"), started.Select(s => s.Pod));
            Assert.Equal(started.Select(s => s.Pod), pods.Where(p => p.Name.StartsWith($"bf-{id}-", StringComparison.Ordinal)).Select(p => p.Name).Order(StringComparer.Ordinal));
            var failedAttempts = client.Events.Of<BuildAttemptFailed>(id);
            Assert.Equal(succeeded.Attempts - 1, failedAttempts.Count);
            Assert.All(failedAttempts, f => Assert.True(f.Transient && f.RetryAt is not null, $"{id} attempt {f.Attempt}: {f.Reason}"));
            attempts += succeeded.Attempts;
            retried += failedAttempts.Count;
            resets += succeeded.Resets;
        }
        output.WriteLine($"200 builds over RabbitMQ in {stats.TotalSeconds:0.0} s: {attempts} attempts, {retried} retried, {resets} resets");
        Assert.True(resets > 0, "with 5% resets per phase some of 200 builds must have met resets");
        Assert.True(retried > 0, "with 5% push resets and no push retries some attempts must have failed and been retried");
        // The same counts in the worker's metrics: every attempt, the failed ones by reason, and every reset.
        Assert.Equal(200, meters.Sum("buildfarm.build_attempts", "outcome=succeeded"));
        Assert.Equal(retried, meters.Sum("buildfarm.build_attempts", "outcome=failed"));
        Assert.Equal(retried, meters.Sum("buildfarm.build_attempts", "outcome=failed", "reason=connection_reset"));
        Assert.Equal(resets, meters.Sum("buildfarm.connection_resets"));
        Assert.Equal(200, meters.Sum("buildfarm.builds", "outcome=succeeded"));
        Assert.DoesNotContain(meters.Keys("buildfarm.connection_resets"), k => k.Contains("registry=unknown", StringComparison.Ordinal));
        await Eventually.UntilAsync(async () => await QueueDepthAsync() == 0, "the build queue to drain");
    }

    [Fact]
    public async Task RabbitMq_SameSpecTwentyTimesConcurrently_OneBuild_NineteenDeduplicated()
    {
        await using var sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions { Scenario = WorkerHarness.Scenario(), Seed = 7 });
        await using var worker = await RabbitWorker.StartAsync(sim, $"bfrabbittest:{Guid.NewGuid():N}:", new Dictionary<string, string?> { ["Worker:Slots"] = "20" });
        await using var client = await RabbitClient.StartAsync();
        var spec = WorkerHarness.Spec($"registry.example.com/team/{Unique("same")}:1");
        var ids = Enumerable.Range(1, 20).Select(i => Unique($"same{i}")).ToList();
        await Task.WhenAll(ids.Select(id => client.PublishAsync(WorkerHarness.Command(id, spec))));

        await WaitAllAsync(client, ids, 60);
        var ends = ids.Select(id => Assert.IsType<BuildSucceeded>(client.Events.For(id).Single(e => e is BuildSucceeded or BuildFailed or BuildCancelled))).ToList();
        Assert.Single(ends.Select(e => e.Digest).Distinct());
        Assert.Single((await StatsAsync(sim)).Pods, p => p.Destinations.Contains(spec.Destinations[0]));
        Assert.Single(ids, id => client.Events.Of<BuildStarted>(id).Count == 1);
        var deduplicated = ids.SelectMany(id => client.Events.Of<BuildDeduplicated>(id)).ToList();
        Assert.Equal(19, deduplicated.Count);
        Assert.All(deduplicated, d => Assert.Equal(ends[0].Digest, d.Digest));
    }

    [Fact]
    public async Task RabbitMq_CancelQueuedAndRunning_DeadlineExceeded_OthersSucceed()
    {
        await using var sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions
        {
            Scenario = WorkerHarness.Scenario("timings: { push: { median: 1000, p95: 1100 } }"),
            Seed = 7,
        });
        var redisPrefix = $"bfrabbittest:{Guid.NewGuid():N}:";
        await using var worker = await RabbitWorker.StartAsync(sim, redisPrefix);
        await using var client = await RabbitClient.StartAsync();
        string queued = Unique("cq"), running = Unique("cr"), late = Unique("dl"), fine = Unique("ok");

        // Cancelled before any worker took it: the marker ends it when it is taken.
        await client.PublishAsync(new CancelBuild { BuildId = queued, RequestedBy = "early", RequestedAt = DateTimeOffset.UtcNow });
        await using var redis = await ConnectionMultiplexer.ConnectAsync(Redis());
        var markers = new RedisCancelRequests(redis, new RedisKeys(redisPrefix));
        await Eventually.UntilAsync(async () => await markers.FindAsync(queued, CancellationToken.None) is not null, "the cancel marker in Redis");
        await client.PublishAsync(WorkerHarness.Command(queued));
        await client.PublishAsync(WorkerHarness.Command(running));
        await client.PublishAsync(WorkerHarness.Command(late) with { Deadline = DateTimeOffset.UtcNow.AddSeconds(1.5) });
        await client.PublishAsync(WorkerHarness.Command(fine));
        await client.Events.WaitAsync<BuildStarted>(running, seconds: 30);
        await client.PublishAsync(new CancelBuild { BuildId = running, RequestedBy = "later", RequestedAt = DateTimeOffset.UtcNow });

        var c1 = Assert.IsType<BuildCancelled>(await client.Events.WaitEndAsync(queued));
        Assert.Equal(0, c1.Attempts);
        Assert.Empty(await worker.PodsOfAsync(queued));
        var c2 = Assert.IsType<BuildCancelled>(await client.Events.WaitEndAsync(running));
        Assert.Equal("later", c2.RequestedBy);
        await Eventually.UntilAsync(() => worker.PodGoneAsync($"bf-{running}-1"), "the cancelled build's pod to be deleted");
        var d = Assert.IsType<BuildFailed>(await client.Events.WaitEndAsync(late));
        Assert.Equal(FailureReasons.DeadlineExceeded, d.Reason);
        Assert.IsType<BuildSucceeded>(await client.Events.WaitEndAsync(fine));
        await Eventually.UntilAsync(async () => await QueueDepthAsync() == 0, "the build queue to drain");
    }

    [Fact]
    public async Task RabbitMq_SimulatorApiFaults_ThrottlingErrorsDroppedWatches_AllBuildsSucceedWithOnePodEach()
    {
        await using var sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions
        {
            Scenario = WorkerHarness.Scenario("""
                api: { throttleRate: 0.15, retryAfterSeconds: 0, errorRate: 0.15, dropWatchRate: 1, dropAfterMilliseconds: 300 }
                timings: { push: { median: 200, p95: 250 } }
                """),
            Seed = 7,
        });
        await using var worker = await RabbitWorker.StartAsync(sim, $"bfrabbittest:{Guid.NewGuid():N}:", new Dictionary<string, string?>
        {
            ["Kubernetes:RetryBaseDelay"] = "00:00:00.020",
        });
        await using var client = await RabbitClient.StartAsync();
        var ids = Enumerable.Range(1, 20).Select(i => Unique($"api{i}")).ToList();
        await Task.WhenAll(ids.Select(id => client.PublishAsync(WorkerHarness.Command(id))));

        await WaitAllAsync(client, ids, 60);
        foreach (var id in ids)
        {
            var end = client.Events.For(id).Single(e => e is BuildSucceeded or BuildFailed or BuildCancelled);
            Assert.True(end is BuildSucceeded, $"{id} ended with {end}");
            Assert.Equal([$"bf-{id}-1"], await worker.PodsOfAsync(id));
        }
        var requests = (await StatsAsync(sim)).Requests;
        Assert.Contains(requests, r => r.Code == 429);
        Assert.Contains(requests, r => r.Code == 500);
        Assert.True(worker.Host.Services.GetRequiredService<Pods.PodWatcher>().Resyncs > 0, "dropped watches were resynced");
    }

    [Fact]
    public async Task RabbitMq_RedisRestartedMidRun_WorkerPausesAndResumes_AllBuildsSucceedOnceWithOnePodEach()
    {
        await using var redis = await RedisServerProcess.StartAsync();
        await using var sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions
        {
            Scenario = WorkerHarness.Scenario("timings: { push: { median: 600, p95: 700 } }"),
            Seed = 7,
        });
        var settings = new Dictionary<string, string?>(ShortLeases)
        {
            ["Redis:ConnectionString"] = redis.ConnectionString,
            ["Worker:RedisProbeInterval"] = "00:00:00.100",
            ["Worker:UnavailableRetryDelay"] = "00:00:00.100",
            ["Worker:UnavailableRetryMaxDelay"] = "00:00:00.500",
        };
        await using var worker = await RabbitWorker.StartAsync(sim, $"bfrabbittest:{Guid.NewGuid():N}:", settings);
        var gate = worker.Host.Services.GetRequiredService<CoordinationGate>();
        await using var client = await RabbitClient.StartAsync();
        var ids = Enumerable.Range(1, 12).Select(i => Unique($"redis{i}")).ToList();
        foreach (var id in ids.Take(6))
        {
            await client.PublishAsync(WorkerHarness.Command(id));
        }
        await Eventually.UntilAsync(() => Task.FromResult(ids.Take(6).Count(id => client.Events.Of<BuildStarted>(id).Count > 0) >= 3),
            "builds to start");

        await redis.StopAsync();
        await Eventually.UntilAsync(() => Task.FromResult(!gate.IsOpen), "the worker to stop taking builds");
        foreach (var id in ids.Skip(6))
        {
            await client.PublishAsync(WorkerHarness.Command(id));
        }
        // Let a running build reach its end while Redis is down (its success waits for the fencing check).
        await Eventually.UntilAsync(async () => (await StatsAsync(sim)).Pods.Any(p => p.End is not null), "a pod to finish with Redis down");
        var restarted = DateTimeOffset.UtcNow;
        await redis.StartAgainAsync();

        await WaitAllAsync(client, ids, 60);
        foreach (var id in ids)
        {
            Assert.IsType<BuildSucceeded>(Assert.Single(client.Events.For(id), e => e is BuildSucceeded or BuildFailed or BuildCancelled));
            Assert.Equal([$"bf-{id}-1"], await worker.PodsOfAsync(id));
        }
        Assert.All(ids.Skip(6).SelectMany(id => client.Events.Of<BuildStarted>(id)), s => Assert.True(s.At >= restarted, $"{s.BuildId} started while Redis was down"));
        await Eventually.UntilAsync(async () => await QueueDepthAsync() == 0, "the build queue to drain");
    }

    [Fact]
    public async Task RabbitMq_KubernetesApiDown_MessageRequeuedThroughTheBroker_NotFailed_BuiltWhenTheApiReturns()
    {
        var port = TestPorts.Free();
        var options = new ClusterSimulatorOptions { Scenario = WorkerHarness.Scenario(), Seed = 7, Port = port };
        var gone = await ClusterSimulator.StartAsync(options);
        await gone.DisposeAsync(); // the kubeconfig keeps its address; nothing listens there now
        await using var worker = await RabbitWorker.StartAsync(gone, $"bfrabbittest:{Guid.NewGuid():N}:", new Dictionary<string, string?>
        {
            ["Kubernetes:MaxRetries"] = "1",
            ["Kubernetes:RetryBaseDelay"] = "00:00:00.050",
            ["Worker:UnavailableRetries"] = "1",
            ["Worker:UnavailableRetryDelay"] = "00:00:00.100",
            ["Worker:UnavailableRetryMaxDelay"] = "00:00:00.200",
        });
        var requeues = new RequeueObserver();
        using var observing = worker.Host.Services.GetRequiredService<MassTransit.IBus>().ConnectConsumeMessageObserver(requeues);
        await using var client = await RabbitClient.StartAsync();
        var id = Unique("apidown");
        await client.PublishAsync(WorkerHarness.Command(id));

        // The BuildImage comes back from the broker with the requeue header, again and again while the API is down.
        await Eventually.UntilAsync(() => Task.FromResult(requeues.Highest(id) >= 2), "the BuildImage requeued through the broker twice");
        Assert.Empty(client.Events.For(id));

        await using var back = await ClusterSimulator.StartAsync(options);
        var succeeded = Assert.IsType<BuildSucceeded>(await client.Events.WaitEndAsync(id, seconds: 60));
        Assert.Equal(1, succeeded.Attempts);
        Assert.DoesNotContain(client.Events.For(id), e => e is BuildFailed or BuildAttemptFailed);
        Assert.Equal([$"bf-{id}-1"], (await StatsAsync(back)).Pods.Select(p => p.Name).Where(n => n.StartsWith($"bf-{id}-", StringComparison.Ordinal)));
        await Eventually.UntilAsync(async () => await QueueDepthAsync() == 0, "the build queue to drain");
    }

    /// <summary>Records the BuildFarm-Requeued header of every BuildImage the worker consumes.</summary>
    private sealed class RequeueObserver : MassTransit.IConsumeMessageObserver<BuildImage>
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _highest = new(StringComparer.Ordinal);

        public int Highest(string buildId) => _highest.GetValueOrDefault(buildId);

        public Task PreConsume(MassTransit.ConsumeContext<BuildImage> context)
        {
            var requeued = context.Headers.Get<int>(Messaging.BuildImageConsumer.RequeuedHeader) ?? 0;
            _highest.AddOrUpdate(context.Message.BuildId, requeued, (_, old) => Math.Max(old, requeued));
            return Task.CompletedTask;
        }

        public Task PostConsume(MassTransit.ConsumeContext<BuildImage> context) => Task.CompletedTask;

        public Task ConsumeFault(MassTransit.ConsumeContext<BuildImage> context, Exception exception) => Task.CompletedTask;
    }

    private static Dictionary<string, string?> ProcessSettings(string kubeconfig, string redisPrefix)
    {
        var broker = Broker();
        var userInfo = broker.UserInfo.Split(':', 2);
        var settings = WorkerHarness.Settings(kubeconfig, ShortLeases);
        settings["Bus:Transport"] = "RabbitMq";
        settings["Bus:Host"] = broker.Host;
        settings["Bus:Port"] = broker.Port.ToString(CultureInfo.InvariantCulture);
        settings["Bus:Username"] = Uri.UnescapeDataString(userInfo[0]);
        settings["Bus:Password"] = userInfo.Length > 1 ? Uri.UnescapeDataString(userInfo[1]) : "";
        settings["Redis:ConnectionString"] = Redis();
        settings["Redis:KeyPrefix"] = redisPrefix;
        return settings;
    }

    private static async Task<SimStatsSnapshot> StatsAsync(ClusterSimulator sim)
    {
        using var http = new HttpClient();
        return (await http.GetFromJsonAsync<SimStatsSnapshot>(new Uri(sim.Address, "/_sim/stats"), new JsonSerializerOptions(JsonSerializerDefaults.Web)))!;
    }

    /// <summary>Waits until every build has its terminal event; returns the time it took.</summary>
    private static async Task<TimeSpan> WaitAllAsync(RabbitClient client, List<string> ids, double seconds)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Eventually.UntilAsync(() => Task.FromResult(ids.All(id => client.Events.For(id).Any(e => e is BuildSucceeded or BuildFailed or BuildCancelled))),
            $"all {ids.Count} builds to end ({ids.Count(id => client.Events.For(id).Any(e => e is BuildSucceeded or BuildFailed or BuildCancelled))} ended)", TimeSpan.FromSeconds(seconds));
        return clock.Elapsed;
    }
}
