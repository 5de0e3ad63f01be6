using System.Text.RegularExpressions;
using BuildFarm.Contracts;
using BuildFarm.Kaniko.Pods;
using BuildFarm.Worker.Pods;
using k8s;
using Microsoft.Extensions.DependencyInjection;

namespace BuildFarm.Worker.Tests;

/// <summary>The whole flow through the BuildImage consumer, against the cluster simulator.</summary>
public sealed partial class BuildFlowTests
{
    [Fact]
    public async Task BuildImage_Success_PublishesStartedAndSucceededWithDigestAndPhases_AndDeletesPod()
    {
        await using var worker = await WorkerHarness.StartAsync();
        await worker.PublishAsync(WorkerHarness.Command("ok1"));

        var succeeded = Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync("ok1"));
        var started = Assert.Single(worker.Events.Of<BuildStarted>("ok1"));
        Assert.Equal("bf-ok1-1", started.Pod);
        Assert.Equal(1, started.Attempt);
        Assert.Matches(DigestRegex(), succeeded.Digest);
        Assert.Equal($"registry.example.com/team/ok1@{succeeded.Digest}", Assert.Single(succeeded.Pushed));
        Assert.Equal(1, succeeded.Attempts);
        foreach (var phase in new[] { "pull", "extract", "push" })
        {
            Assert.True(succeeded.PhaseSeconds.TryGetValue(phase, out var seconds) && seconds > 0, $"phase {phase} seconds: {string.Join(", ", succeeded.PhaseSeconds)}");
        }
        Assert.Equal(["bf-ok1-1"], await worker.PodsOfAsync("ok1"));
        await Eventually.UntilAsync(() => worker.PodGoneAsync("bf-ok1-1"), "the succeeded pod to be deleted");
        var record = Assert.Single((await worker.StatsAsync()).Pods, p => p.Name == "bf-ok1-1");
        Assert.Equal(0, record.ExitCode);
    }

    [Fact]
    public async Task BuildImage_TransientPushReset_RetriesInNewPod_ThenSucceeds()
    {
        await using var worker = await WorkerHarness.StartAsync("faults: { pushReset: 1 }", new Dictionary<string, string?>
        {
            ["Worker:BackoffBase"] = "00:00:01",
            ["Worker:MaxBackoff"] = "00:00:01",
        });
        await worker.PublishAsync(WorkerHarness.Command("flaky"));

        var failed = await worker.Events.WaitAsync<BuildAttemptFailed>("flaky");
        worker.Sim.Reload(WorkerHarness.Scenario()); // the next pod gets no fault
        Assert.Equal(FailureReasons.ConnectionReset, failed.Reason);
        Assert.True(failed.Transient);
        Assert.Equal(1, failed.Attempt);
        Assert.NotNull(failed.RetryAt);

        var succeeded = Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync("flaky"));
        Assert.Equal(2, succeeded.Attempts);
        Assert.True(succeeded.Resets > 0, "the resets of the failed attempt are counted");
        Assert.Equal(["bf-flaky-1", "bf-flaky-2"], worker.Events.Of<BuildStarted>("flaky").Select(s => s.Pod));
        Assert.Equal(["bf-flaky-1", "bf-flaky-2"], await worker.PodsOfAsync("flaky"));
        // The failed attempt's pod is kept for debugging; the succeeded one is deleted.
        Assert.False(await worker.PodGoneAsync("bf-flaky-1"));
        await Eventually.UntilAsync(() => worker.PodGoneAsync("bf-flaky-2"), "the succeeded pod to be deleted");
    }

    [Theory]
    [InlineData("faults: { runFailure: 1, runExitCode: 3 }", FailureReasons.StepFailed)]
    [InlineData("faults: { unauthorized: 1 }", FailureReasons.Unauthorized)]
    [InlineData("faults: { baseImageNotFound: 1 }", FailureReasons.BaseImageNotFound)]
    [InlineData("faults: { oomKilled: 1 }", FailureReasons.OomKilled)] // with the OOM retry off (OomFlowTests: on)
    public async Task BuildImage_PermanentFailure_FailsWithReason_WithoutRetry(string faults, string reason)
    {
        await using var worker = await WorkerHarness.StartAsync(faults, new Dictionary<string, string?> { ["Worker:OomRetry"] = "false" });
        await worker.PublishAsync(WorkerHarness.Command("broken"));

        var failed = Assert.IsType<BuildFailed>(await worker.Events.WaitEndAsync("broken"));
        Assert.Equal(reason, failed.Reason);
        Assert.Equal(1, failed.Attempts);
        var attempt = Assert.Single(worker.Events.Of<BuildAttemptFailed>("broken"));
        Assert.False(attempt.Transient);
        Assert.Null(attempt.RetryAt);
        Assert.Equal(["bf-broken-1"], await worker.PodsOfAsync("broken"));
        Assert.False(await worker.PodGoneAsync("bf-broken-1"), "a failed pod is kept for debugging");
    }

    [Fact]
    public async Task BuildImage_TransientEveryAttempt_FailsAfterMaxAttempts_OnePodEach()
    {
        await using var worker = await WorkerHarness.StartAsync("faults: { pushReset: 1 }", new Dictionary<string, string?> { ["Worker:MaxAttempts"] = "3" });
        await worker.PublishAsync(WorkerHarness.Command("doomed"));

        var failed = Assert.IsType<BuildFailed>(await worker.Events.WaitEndAsync("doomed"));
        Assert.Equal(FailureReasons.ConnectionReset, failed.Reason);
        Assert.Equal(3, failed.Attempts);
        var attempts = worker.Events.Of<BuildAttemptFailed>("doomed");
        Assert.Equal([1, 2, 3], attempts.Select(a => a.Attempt));
        Assert.Equal([true, true, false], attempts.Select(a => a.RetryAt is not null));
        Assert.Equal(["bf-doomed-1", "bf-doomed-2", "bf-doomed-3"], await worker.PodsOfAsync("doomed"));
    }

    [Fact]
    public async Task BuildImage_InvalidSpec_FailsNamingTheField_WithoutPod()
    {
        await using var worker = await WorkerHarness.StartAsync();
        var spec = WorkerHarness.Spec() with { Destinations = ["not a reference!"] };
        await worker.PublishAsync(WorkerHarness.Command("invalid", spec));

        var failed = Assert.IsType<BuildFailed>(await worker.Events.WaitEndAsync("invalid"));
        Assert.Equal(FailureReasons.DockerfileInvalid, failed.Reason);
        Assert.Contains("destinations[0]", failed.Detail, StringComparison.Ordinal);
        Assert.Equal(0, failed.Attempts);
        Assert.Empty(await worker.PodsOfAsync("invalid"));
        Assert.Empty(worker.Events.Of<BuildStarted>("invalid"));
    }

    [Fact]
    public async Task BuildImage_SameSpecTwentyTimesConcurrently_OnePod_OthersDeduplicated()
    {
        await using var worker = await WorkerHarness.StartAsync();
        var spec = WorkerHarness.Spec("registry.example.com/team/shared:1");
        var ids = Enumerable.Range(1, 20).Select(i => $"same{i}").ToList();
        await Task.WhenAll(ids.Select(id => worker.PublishAsync(WorkerHarness.Command(id, spec))));

        var ends = new List<object>();
        foreach (var id in ids)
        {
            ends.Add(await worker.Events.WaitEndAsync(id));
        }
        var digests = ends.Select(e => Assert.IsType<BuildSucceeded>(e).Digest).Distinct().ToList();
        Assert.Single(digests);
        var pods = (await worker.StatsAsync()).Pods.Where(p => p.Name.StartsWith("bf-same", StringComparison.Ordinal)).ToList();
        Assert.Single(pods);
        var deduplicated = ids.SelectMany(id => worker.Events.Of<BuildDeduplicated>(id)).ToList();
        Assert.Equal(19, deduplicated.Count);
        Assert.All(deduplicated, d => Assert.Contains(d.Kind, new[] { "in_flight", "completed" }));
        Assert.All(deduplicated, d => Assert.Equal(digests[0], d.Digest));
        Assert.Single(ids, id => worker.Events.Of<BuildStarted>(id).Count == 1);
    }

    [Fact]
    public async Task BuildImage_PodAlreadyExists_IsAdopted_NotDuplicated()
    {
        await using var worker = await WorkerHarness.StartAsync();
        var command = WorkerHarness.Command("redelivered");
        // A previous delivery of the same message created the attempt's pod, then its worker died.
        var pod = KanikoPodFactory.Create(command.Spec, command.BuildId, 1, new KanikoPodOptions { Namespace = WorkerHarness.Namespace });
        var created = await worker.Kubernetes.CoreV1.CreateNamespacedPodAsync(pod, WorkerHarness.Namespace);
        await worker.PublishAsync(command);

        var succeeded = Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync("redelivered"));
        Assert.Equal(1, succeeded.Attempts);
        Assert.Equal("bf-redelivered-1", Assert.Single(worker.Events.Of<BuildStarted>("redelivered")).Pod);
        var records = (await worker.StatsAsync()).Pods.Where(p => p.Name == "bf-redelivered-1").ToList();
        Assert.Single(records);
        Assert.Equal(["bf-redelivered-1"], await worker.PodsOfAsync("redelivered"));
        var requests = (await worker.StatsAsync()).Requests;
        Assert.Contains(requests, r => r.Code == 409);
        Assert.NotNull(created.Metadata.Uid);
    }

    [Fact]
    public async Task CancelBuild_WhileRunning_DeletesPod_AndPublishesCancelled()
    {
        // Pushes take about 2.5 wall seconds: time to cancel mid-build.
        await using var worker = await WorkerHarness.StartAsync("timings: { push: { median: 1000, p95: 1100 } }");
        await worker.PublishAsync(WorkerHarness.Command("unwanted"));
        await worker.Events.WaitAsync<BuildStarted>("unwanted");
        await Eventually.UntilAsync(async () =>
            (await worker.Kubernetes.CoreV1.ReadNamespacedPodAsync("bf-unwanted-1", WorkerHarness.Namespace)).Status?.Phase == "Running",
            "the pod to run");

        await worker.PublishAsync(new CancelBuild { BuildId = "unwanted", RequestedBy = "test", RequestedAt = DateTimeOffset.UtcNow });

        var cancelled = Assert.IsType<BuildCancelled>(await worker.Events.WaitEndAsync("unwanted"));
        Assert.Equal("test", cancelled.RequestedBy);
        Assert.Equal(1, cancelled.Attempts);
        await Eventually.UntilAsync(() => worker.PodGoneAsync("bf-unwanted-1"), "the cancelled build's pod to be deleted");
        Assert.Empty(worker.Events.Of<BuildSucceeded>("unwanted"));
    }

    [Fact]
    public async Task BuildImage_DeadlinePassesWhileWaitingForTheDestinationLock_FailsDeadlineExceeded_WithoutPod()
    {
        await using var worker = await WorkerHarness.StartAsync("timings: { push: { median: 1000, p95: 1100 } }");
        var destination = "registry.example.com/team/busy:1";
        await worker.PublishAsync(WorkerHarness.Command("holder", WorkerHarness.Spec(destination)));
        await worker.Events.WaitAsync<BuildStarted>("holder");
        var late = WorkerHarness.Command("late", WorkerHarness.Spec(destination) with { BuildArgs = new Dictionary<string, string> { ["V"] = "2" } })
            with { Deadline = DateTimeOffset.UtcNow.AddSeconds(1) };
        await worker.PublishAsync(late);

        var failed = Assert.IsType<BuildFailed>(await worker.Events.WaitEndAsync("late"));
        Assert.Equal(FailureReasons.DeadlineExceeded, failed.Reason);
        Assert.Equal(0, failed.Attempts);
        Assert.Empty(await worker.PodsOfAsync("late"));
        Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync("holder"));
    }

    [Fact]
    public async Task BuildImage_WithDeadline_BoundsThePodsActiveDeadlineSeconds()
    {
        await using var worker = await WorkerHarness.StartAsync("timings: { push: { median: 1000, p95: 1100 } }");
        await worker.PublishAsync(WorkerHarness.Command("bounded") with { Deadline = DateTimeOffset.UtcNow.AddSeconds(100) });
        await worker.Events.WaitAsync<BuildStarted>("bounded");

        var pod = await worker.Kubernetes.CoreV1.ReadNamespacedPodAsync("bf-bounded-1", WorkerHarness.Namespace);
        Assert.InRange(pod.Spec.ActiveDeadlineSeconds ?? 0, 90, 100);
        // The simulator counts activeDeadlineSeconds in simulated time (400x): the kubelet ends the pod first.
        var failed = Assert.IsType<BuildFailed>(await worker.Events.WaitEndAsync("bounded"));
        Assert.Equal(FailureReasons.DeadlineExceeded, failed.Reason);
        Assert.Equal(1, failed.Attempts);
    }

    [Fact]
    public async Task FailedPod_IsDeletedByTheJanitor_AfterKeepFailedPodsFor()
    {
        await using var worker = await WorkerHarness.StartAsync("faults: { unauthorized: 1 }", new Dictionary<string, string?> { ["Worker:KeepFailedPodsFor"] = "00:00:01" });
        await worker.PublishAsync(WorkerHarness.Command("expired"));
        Assert.IsType<BuildFailed>(await worker.Events.WaitEndAsync("expired"));

        await Eventually.UntilAsync(() => worker.PodGoneAsync("bf-expired-1"), "the janitor to delete the failed pod", TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task PodWatcher_DroppedWatches_Resyncs_AndBuildsStillFinish()
    {
        await using var worker = await WorkerHarness.StartAsync("""
            api: { dropWatchRate: 1, dropAfterMilliseconds: 150 }
            timings: { push: { median: 300, p95: 350 } }
            """);
        var ids = new[] { "drop1", "drop2", "drop3" };
        foreach (var id in ids)
        {
            await worker.PublishAsync(WorkerHarness.Command(id));
        }
        foreach (var id in ids)
        {
            Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync(id));
        }
        var watcher = worker.Host.Services.GetRequiredService<PodWatcher>();
        Assert.True(watcher.Resyncs > 0, $"the watcher listed again after a dropped watch (resyncs {watcher.Resyncs}, watches {watcher.WatchesOpened})");
    }

    [GeneratedRegex("^sha256:[0-9a-f]{64}$")]
    private static partial Regex DigestRegex();
}
