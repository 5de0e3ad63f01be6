using System.Net.Http.Json;
using System.Text.Json;
using BuildFarm.ClusterSim.Hosting;
using BuildFarm.Contracts;
using BuildFarm.Coordination;
using BuildFarm.Kaniko.Pods;
using BuildFarm.Worker.Builds;
using BuildFarm.Worker.Hosting;
using k8s;
using Microsoft.Extensions.DependencyInjection;

namespace BuildFarm.Worker.Tests;

/// <summary>Crash, outage and early-cancel behaviour of the worker, in process against the simulator (issue 4).</summary>
public sealed class FaultTests
{
    [Fact]
    public async Task CancelBuild_WhileQueued_BuildTakenLater_EndsCancelledWithoutPod()
    {
        await using var worker = await WorkerHarness.StartAsync();
        var requests = worker.Host.Services.GetRequiredService<ICancelRequests>();
        await worker.PublishAsync(new CancelBuild { BuildId = "early", RequestedBy = "test", RequestedAt = DateTimeOffset.UtcNow });
        // No worker ran "early" when the cancel arrived: it is remembered as a marker.
        await Eventually.UntilAsync(async () => await requests.FindAsync("early", CancellationToken.None) is not null, "the cancel marker");

        await worker.PublishAsync(WorkerHarness.Command("early"));

        var cancelled = Assert.IsType<BuildCancelled>(await worker.Events.WaitEndAsync("early"));
        Assert.Equal("test", cancelled.RequestedBy);
        Assert.Equal(0, cancelled.Attempts);
        Assert.Empty(worker.Events.Of<BuildStarted>("early"));
        Assert.Empty(await worker.PodsOfAsync("early"));
    }

    [Fact]
    public async Task CancelMarker_ArrivingDuringBackoff_StopsBeforeTheNextAttempt()
    {
        await using var worker = await WorkerHarness.StartAsync("faults: { pushReset: 1 }", new Dictionary<string, string?>
        {
            ["Worker:BackoffBase"] = "00:00:02",
            ["Worker:MaxBackoff"] = "00:00:02",
        });
        await worker.PublishAsync(WorkerHarness.Command("between"));
        await worker.Events.WaitAsync<BuildAttemptFailed>("between");
        // Only the marker (as if the CancelBuild had reached another worker): the build checks it after its backoff.
        await worker.Host.Services.GetRequiredService<ICancelRequests>().RequestAsync("between", "elsewhere", TimeSpan.FromMinutes(1), CancellationToken.None);

        var cancelled = Assert.IsType<BuildCancelled>(await worker.Events.WaitEndAsync("between"));
        Assert.Equal("elsewhere", cancelled.RequestedBy);
        Assert.Equal(["bf-between-1"], await worker.PodsOfAsync("between"));
    }

    [Theory]
    [InlineData("FROM alpine:3.19\nRUN rm -rf /workspace && mkdir /workspace\n", FailureReasons.FilesystemConflict, "BFK001")]
    [InlineData("RUN echo no base image\n", FailureReasons.DockerfileInvalid, "BFK101")]
    public async Task BuildImage_DirContextDockerfileFailsPreflight_FailsWithReason_WithoutPod(string dockerfile, string reason, string code)
    {
        var context = Directory.CreateTempSubdirectory("bf-preflight-");
        try
        {
            await File.WriteAllTextAsync(Path.Combine(context.FullName, "Dockerfile"), dockerfile);
            await using var worker = await WorkerHarness.StartAsync(settings: new Dictionary<string, string?> { ["Worker:AllowedContextRoots:0"] = context.FullName });
            var spec = WorkerHarness.Spec() with { Context = "dir://" + context.FullName };
            await worker.PublishAsync(WorkerHarness.Command("preflight", spec));

            var failed = Assert.IsType<BuildFailed>(await worker.Events.WaitEndAsync("preflight"));
            Assert.Equal(reason, failed.Reason);
            Assert.Contains(code, failed.Detail, StringComparison.Ordinal);
            Assert.Equal(0, failed.Attempts);
            Assert.Empty(await worker.PodsOfAsync("preflight"));
        }
        finally
        {
            context.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task BuildImage_DirContextDockerfileClean_Builds()
    {
        var context = Directory.CreateTempSubdirectory("bf-preflight-");
        try
        {
            Directory.CreateDirectory(Path.Combine(context.FullName, "app"));
            await File.WriteAllTextAsync(Path.Combine(context.FullName, "app", "build.Dockerfile"), "FROM alpine:3.19\nRUN echo ok\n");
            await using var worker = await WorkerHarness.StartAsync(settings: new Dictionary<string, string?> { ["Worker:AllowedContextRoots:0"] = context.FullName });
            var spec = WorkerHarness.Spec() with { Context = "dir://" + context.FullName, ContextSubPath = "app", Dockerfile = "build.Dockerfile" };
            Assert.Equal(Path.Combine(context.FullName, "app", "build.Dockerfile"), WorkerPreflight.DockerfilePath(spec));
            await worker.PublishAsync(WorkerHarness.Command("clean", spec));

            Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync("clean"));
        }
        finally
        {
            context.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Redelivered_ContinuesAtTheNewestAttemptPod_WithoutRecreatingEarlierAttempts()
    {
        await using var worker = await WorkerHarness.StartAsync();
        var command = WorkerHarness.Command("resumed");
        // A crashed worker had got to attempt 2 (attempt 1's pod kept, as failed pods are).
        foreach (var attempt in new[] { 1, 2 })
        {
            var pod = KanikoPodFactory.Create(command.Spec, command.BuildId, attempt, new KanikoPodOptions { Namespace = WorkerHarness.Namespace });
            await worker.Kubernetes.CoreV1.CreateNamespacedPodAsync(pod, WorkerHarness.Namespace);
        }
        var runner = worker.Host.Services.GetRequiredService<BuildRunner>();
        var events = new ListPublisher();
        using var cancellation = new RunningBuilds().Register(command.BuildId);

        var outcome = await runner.RunAsync(command, events, cancellation, CancellationToken.None, redelivered: true);

        Assert.Equal("succeeded", outcome.Outcome);
        Assert.Equal(2, outcome.Attempts);
        Assert.Equal(["bf-resumed-2"], events.Messages.OfType<BuildStarted>().Select(s => s.Pod));
        Assert.Equal(2, Assert.Single(events.Messages.OfType<BuildSucceeded>()).Attempts);
        Assert.Equal(["bf-resumed-1", "bf-resumed-2"], await worker.PodsOfAsync("resumed"));
        var lists = (await worker.StatsAsync()).Requests.Where(r => r.Verb == "list" && r.Resource.StartsWith("pods", StringComparison.Ordinal)).Sum(r => r.Count);
        Assert.True(lists >= 2, "the watcher's list and the runner's one list by build-id label");
    }

    [Fact]
    public async Task Redelivered_AfterItsOwnSuccess_ReportsSucceededAgain_NotDeduplicatedAgainstItself_NoNewPod()
    {
        await using var worker = await WorkerHarness.StartAsync();
        var command = WorkerHarness.Command("done");
        var runner = worker.Host.Services.GetRequiredService<BuildRunner>();
        var first = new ListPublisher();
        using (var cancellation = new RunningBuilds().Register(command.BuildId))
        {
            Assert.Equal("succeeded", (await runner.RunAsync(command, first, cancellation, CancellationToken.None)).Outcome);
        }
        var digest = Assert.Single(first.Messages.OfType<BuildSucceeded>()).Digest;

        // The worker died after completing (pod deleted) but before the ack: the message comes again.
        var again = new ListPublisher();
        using var second = new RunningBuilds().Register(command.BuildId);
        var outcome = await runner.RunAsync(command, again, second, CancellationToken.None, redelivered: true);

        Assert.Equal("succeeded", outcome.Outcome);
        Assert.Equal(digest, Assert.Single(again.Messages.OfType<BuildSucceeded>()).Digest);
        Assert.Empty(again.Messages.OfType<BuildDeduplicated>());
        Assert.Empty(again.Messages.OfType<BuildStarted>());
        Assert.Equal(["bf-done-1"], await worker.PodsOfAsync("done"));
    }

    [Fact]
    public async Task LockTakenOverWhileBuilding_SuccessNotPublished_LeaseLost_NewHolderKeepsLockAndPodStays()
    {
        await using var worker = await WorkerHarness.StartAsync();
        var locks = worker.Host.Services.GetRequiredService<IDestinationLocks>();
        var runner = worker.Host.Services.GetRequiredService<BuildRunner>();
        var command = WorkerHarness.Command("fenced");
        Lease? takeover = null;
        // While the pod runs, a redelivered copy of the message takes the lock back (same holder, newer fencing token).
        var events = new ListPublisher
        {
            OnPublish = async m =>
            {
                if (m is BuildStarted)
                {
                    takeover = await locks.TryAcquireAsync(command.Spec.Destinations[0], command.BuildId, TimeSpan.FromMinutes(1), CancellationToken.None);
                }
            },
        };
        using var cancellation = new RunningBuilds().Register(command.BuildId);

        await Assert.ThrowsAsync<LeaseLostException>(() => runner.RunAsync(command, events, cancellation, CancellationToken.None));

        Assert.NotNull(takeover);
        Assert.Empty(events.Messages.OfType<BuildSucceeded>());
        // The stale lease's release (the fencing check) left the newer holder's lock alone.
        Assert.True(await locks.IsCurrentAsync(takeover, CancellationToken.None));
        // The succeeded pod stays for the message that holds the lock now to adopt.
        Assert.Equal(["bf-fenced-1"], await worker.PodsOfAsync("fenced"));
        Assert.False(await worker.PodGoneAsync("bf-fenced-1"));
    }

    [Fact]
    public async Task KubernetesApiUnreachable_MessageRequeued_NotFailed_BuildsWhenTheApiReturns()
    {
        var port = TestPorts.Free();
        var options = new ClusterSimulatorOptions { Scenario = WorkerHarness.Scenario(), Seed = 7, Port = port };
        var gone = await ClusterSimulator.StartAsync(options);
        await gone.DisposeAsync(); // its address (and so the kubeconfig) stays; nothing listens there now
        await using var worker = await WorkerHarness.StartAsync(sharedSim: gone, settings: new Dictionary<string, string?>
        {
            ["Kubernetes:MaxRetries"] = "1",
            ["Kubernetes:RetryBaseDelay"] = "00:00:00.050",
            ["Worker:UnavailableRetries"] = "1",
            ["Worker:UnavailableRetryDelay"] = "00:00:00.100",
            ["Worker:UnavailableRetryMaxDelay"] = "00:00:00.200",
        });
        await worker.PublishAsync(WorkerHarness.Command("apidown"));

        // Past the client's retries and the consumer's own, the message goes back to the queue (sent again), not failed.
        await Eventually.UntilAsync(() => Task.FromResult(worker.Bus.Sent.Select<BuildImage>().Any()), "the BuildImage requeued");
        Assert.Empty(worker.Events.For("apidown"));

        await using var back = await ClusterSimulator.StartAsync(options);
        var succeeded = Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync("apidown"));
        Assert.Equal(1, succeeded.Attempts);
        Assert.Empty(worker.Events.Of<BuildFailed>("apidown"));
        Assert.Empty(worker.Events.Of<BuildAttemptFailed>("apidown"));
        using var http = new HttpClient();
        var stats = await http.GetFromJsonAsync<SimStatsSnapshot>(new Uri(back.Address, "/_sim/stats"), new JsonSerializerOptions(JsonSerializerDefaults.Web));
        Assert.Equal(["bf-apidown-1"], stats!.Pods.Select(p => p.Name).Where(n => n.StartsWith("bf-apidown-", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task MessageHeldPastMaxMessageHold_Requeued_NotFailed_BuildsOnceWhenTheWaitEnds()
    {
        await using var worker = await WorkerHarness.StartAsync(settings: new Dictionary<string, string?> { ["Worker:MaxMessageHold"] = "00:00:01" });
        var destination = "registry.example.com/team/held:1";
        // Another build holds the destination: this one waits for the lock past the hold limit.
        var locks = worker.Host.Services.GetRequiredService<IDestinationLocks>();
        var other = await locks.TryAcquireAsync(destination, "someone-else", TimeSpan.FromMinutes(5), CancellationToken.None);
        Assert.NotNull(other);
        await worker.PublishAsync(WorkerHarness.Command("held", WorkerHarness.Spec(destination)));

        await Eventually.UntilAsync(() => Task.FromResult(worker.Bus.Sent.Select<BuildImage>().Any(m => m.Context.Message.BuildId == "held")),
            "the held BuildImage put back in the queue");
        Assert.Empty(worker.Events.For("held"));

        Assert.True(await locks.ReleaseAsync(other, CancellationToken.None));
        var succeeded = Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync("held"));
        Assert.Equal(1, succeeded.Attempts);
        Assert.Single(worker.Events.Of<BuildSucceeded>("held"));
        Assert.Equal(["bf-held-1"], await worker.PodsOfAsync("held"));
    }

    [NeedsServer(Server.Redis)]
    [Fact]
    public async Task RedisDown_GateClosesAndNewBuildsWait_RedisBack_AllBuildsEndOnceAndCorrectly()
    {
        await using var redis = await RedisServerProcess.StartAsync();
        await using var worker = await WorkerHarness.StartAsync("timings: { push: { median: 1000, p95: 1100 } }", new Dictionary<string, string?>
        {
            ["Redis:ConnectionString"] = redis.ConnectionString,
            ["Redis:KeyPrefix"] = $"bffaulttest:{Guid.NewGuid():N}:",
            ["Worker:RedisProbeInterval"] = "00:00:00.100",
            ["Worker:LeaseTtl"] = "00:00:02",
            ["Worker:LeaseRenewInterval"] = "00:00:00.500",
            ["Worker:UnavailableRetryDelay"] = "00:00:00.100",
            ["Worker:UnavailableRetryMaxDelay"] = "00:00:00.500",
            ["Worker:UnavailableRetries"] = "100",
        });
        var gate = worker.Host.Services.GetRequiredService<CoordinationGate>();
        await Eventually.UntilAsync(() => Task.FromResult(gate.IsOpen), "the gate to open");
        await worker.PublishAsync(WorkerHarness.Command("inflight"));
        await worker.Events.WaitAsync<BuildStarted>("inflight");

        await redis.StopAsync();
        await Eventually.UntilAsync(() => Task.FromResult(!gate.IsOpen), "the gate to close with Redis down");
        await worker.PublishAsync(WorkerHarness.Command("waiting"));
        // The in-flight build's pod finishes while Redis is down: its success cannot pass the fencing check yet.
        await Eventually.UntilAsync(async () =>
            (await worker.Kubernetes.CoreV1.ReadNamespacedPodAsync("bf-inflight-1", WorkerHarness.Namespace)).Status?.Phase == "Succeeded",
            "the in-flight build's pod to finish");
        Assert.Empty(worker.Events.Of<BuildSucceeded>("inflight"));
        Assert.Empty(worker.Events.For("waiting"));

        var restarted = DateTimeOffset.UtcNow;
        await redis.StartAgainAsync();

        var inflight = Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync("inflight"));
        Assert.Equal(1, inflight.Attempts);
        Assert.Equal(["bf-inflight-1"], await worker.PodsOfAsync("inflight"));
        Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync("waiting"));
        Assert.All(worker.Events.Of<BuildStarted>("waiting"), s => Assert.True(s.At >= restarted, "a build started while Redis was down"));
        Assert.Single(worker.Events.Of<BuildSucceeded>("inflight"));
        Assert.Single(worker.Events.Of<BuildSucceeded>("waiting"));
    }

    private sealed class ListPublisher : IBuildEventPublisher
    {
        private readonly List<object> _messages = [];

        public IReadOnlyList<object> Messages
        {
            get
            {
                lock (_messages)
                {
                    return [.. _messages];
                }
            }
        }

        /// <summary>Runs before a message is recorded (a test's way to act at a precise point of a build).</summary>
        public Func<object, Task>? OnPublish { get; init; }

        public async Task PublishAsync<T>(T message, CancellationToken cancellationToken)
            where T : class
        {
            if (OnPublish is { } onPublish)
            {
                await onPublish(message);
            }
            lock (_messages)
            {
                _messages.Add(message);
            }
        }
    }
}
