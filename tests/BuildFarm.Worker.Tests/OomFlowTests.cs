using BuildFarm.Contracts;
using k8s;

namespace BuildFarm.Worker.Tests;

/// <summary>
/// OOM kills end to end through the simulator (docs/scheduling.md "Memory learned from history"): the simulator OOM-kills
/// a pod whose memory limit is below its Dockerfile's <c>memory</c>; the worker retries once with twice the memory, and
/// the image's next build starts from the learned figure. Run with the in-process history and with Redis.
/// </summary>
public abstract class OomFlowContract
{
    // team/oom needs 1.5Gi: OOM-killed at 1Gi, fine at 2Gi. team/huge needs 3Gi: OOM-killed at 1Gi and again at 2Gi.
    private const string Scenario = """
        dockerfiles:
          - { match: "team/oom", memory: "1536Mi", steps: ["RUN make"] }
          - { match: "team/huge", memory: "3Gi", steps: ["RUN make"] }
        """;

    private static readonly BuildResources OneGi = new() { MemoryLimit = "1Gi", MemoryRequest = "512Mi" };

    protected abstract Dictionary<string, string?> Settings();

    [Fact]
    public async Task OomAt1Gi_RetriedAt2Gi_Succeeds_AndTheNextBuildOfTheImageStartsAt2Gi()
    {
        await using var worker = await WorkerHarness.StartAsync(Scenario, Settings());
        var spec = WorkerHarness.Spec("registry.example.com/team/oom:1") with { Resources = OneGi };

        await worker.PublishAsync(WorkerHarness.Command("oom1", spec));
        Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync("oom1"));
        var started = worker.Events.Of<BuildStarted>("oom1").OrderBy(s => s.Attempt).ToList();
        Assert.Equal([(1, "1Gi", (bool?)null), (2, "2Gi", true)], started.Select(s => (s.Attempt, s.MemoryLimit, s.MemoryRaised)));
        var failed = Assert.Single(worker.Events.Of<BuildAttemptFailed>("oom1"));
        Assert.Equal(FailureReasons.OomKilled, failed.Reason);
        Assert.True(failed.Transient);
        Assert.NotNull(failed.RetryAt);
        Assert.Contains("retrying once with memory limit 2Gi (was 1Gi)", failed.Detail, StringComparison.Ordinal);
        var pod = await worker.Kubernetes.CoreV1.ReadNamespacedPodAsync("bf-oom1-1", WorkerHarness.Namespace);
        Assert.Equal("OOMKilled", pod.Status.ContainerStatuses[0].State.Terminated.Reason);

        // Another build of the same image (another tag, so no dedupe): one pod, started at the learned 2Gi and 1Gi request.
        await worker.PublishAsync(WorkerHarness.Command("oom2", WorkerHarness.Spec("registry.example.com/team/oom:2") with { Resources = OneGi }));
        Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync("oom2"));
        var second = Assert.Single(worker.Events.Of<BuildStarted>("oom2"));
        Assert.Equal(("2Gi", (bool?)null), (second.MemoryLimit, second.MemoryRaised));
        Assert.Empty(worker.Events.Of<BuildAttemptFailed>("oom2"));
        Assert.Equal(["bf-oom2-1"], await worker.PodsOfAsync("oom2"));

        // A spec that asks for more than was learned keeps its own.
        await worker.PublishAsync(WorkerHarness.Command("oom3", WorkerHarness.Spec("registry.example.com/team/oom:3") with
        {
            Resources = new BuildResources { MemoryLimit = "3Gi" },
        }));
        Assert.IsType<BuildSucceeded>(await worker.Events.WaitEndAsync("oom3"));
        Assert.Equal("3Gi", Assert.Single(worker.Events.Of<BuildStarted>("oom3")).MemoryLimit);
    }

    [Fact]
    public async Task OomAgainAtTheDoubledFigure_FailsAsOomKilled_SayingWhatWasTried()
    {
        await using var worker = await WorkerHarness.StartAsync(Scenario, Settings());
        var spec = WorkerHarness.Spec("registry.example.com/team/huge:1") with { Resources = OneGi };

        await worker.PublishAsync(WorkerHarness.Command("huge1", spec));

        var failed = Assert.IsType<BuildFailed>(await worker.Events.WaitEndAsync("huge1"));
        Assert.Equal(FailureReasons.OomKilled, failed.Reason);
        Assert.Equal(2, failed.Attempts);
        Assert.Contains("OOM-killed again at memory limit 2Gi after a retry raised it from 1Gi", failed.Detail, StringComparison.Ordinal);
        Assert.Equal(["bf-huge1-1", "bf-huge1-2"], await worker.PodsOfAsync("huge1"));
    }

    [Fact]
    public async Task OomRetryOff_OomKilledFailsAtOnce()
    {
        var settings = Settings();
        settings["Worker:OomRetry"] = "false";
        await using var worker = await WorkerHarness.StartAsync(Scenario, settings);

        await worker.PublishAsync(WorkerHarness.Command("off1", WorkerHarness.Spec("registry.example.com/team/oom:1") with { Resources = OneGi }));

        var failed = Assert.IsType<BuildFailed>(await worker.Events.WaitEndAsync("off1"));
        Assert.Equal(FailureReasons.OomKilled, failed.Reason);
        Assert.Equal(["bf-off1-1"], await worker.PodsOfAsync("off1"));
    }
}

public sealed class InMemoryOomFlowTests : OomFlowContract
{
    protected override Dictionary<string, string?> Settings() => [];
}

[NeedsServer(Server.Redis)]
public sealed class RedisOomFlowTests : OomFlowContract
{
    protected override Dictionary<string, string?> Settings() => RedisFlowTests.RedisSettings();
}
