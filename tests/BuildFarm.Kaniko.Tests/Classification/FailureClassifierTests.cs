using BuildFarm.Contracts;
using BuildFarm.Kaniko.Classification;
using BuildFarm.Kaniko.Logs;

namespace BuildFarm.Kaniko.Tests.Classification;

public sealed class FailureClassifierTests
{
    private const string Digest = "sha256:7cf94e02d5648080da34bec09de3a73326acde033cb2ca4f6fcd9ebefd6c1a6d";

    /// <summary>One row of the table: a pod snapshot and a log analysis (null = log unavailable), and what they mean.</summary>
    public sealed record Row(string Name, PodTermination Pod, KanikoLogAnalysis? Log, bool Succeeded, string? Reason, string Rule)
    {
        public override string ToString() => Name;
    }

    private static readonly KanikoLogAnalysis Succeeded =
        new() { Outcome = KanikoOutcome.Succeeded, Pushed = [new PushedImage("registry.example.com/team/app", Digest)] };

    private static readonly KanikoLogAnalysis Incomplete = new() { Outcome = KanikoOutcome.Incomplete };

    private static KanikoLogAnalysis Failed(string? reason, KanikoPhase? phase = null, int? stepExitCode = null, string? error = null) => new()
    {
        Outcome = KanikoOutcome.Failed,
        Reason = reason,
        Transient = reason is not null && FailureReasons.IsTransient(reason),
        FailedPhase = phase,
        StepExitCode = stepExitCode,
        Error = error ?? "error building image: something",
    };

    private static PodTermination Exited(int code, string? reason = null, string? message = null, string? podReason = null, string? podMessage = null) => new()
    {
        PodPhase = code == 0 ? "Succeeded" : "Failed",
        ExitCode = code,
        TerminatedReason = reason ?? (code == 0 ? "Completed" : "Error"),
        TerminatedMessage = message,
        PodReason = podReason,
        PodMessage = podMessage,
    };

    private static PodTermination Waiting(string reason, string message, string? podReason = null) => new()
    {
        PodPhase = podReason is null ? "Pending" : "Failed",
        PodReason = podReason,
        WaitingReason = reason,
        WaitingMessage = message,
    };

    public static TheoryData<Row> Table => new()
    {
        // success
        new Row("exit 0 and log succeeded", Exited(0, message: Digest), Succeeded, true, null, "success"),
        new Row("exit 0, log unavailable", Exited(0, message: Digest), null, true, null, "success"),
        new Row("exit 0, log truncated", Exited(0, message: Digest + "\n"), Incomplete, true, null, "success"),
        new Row("exit 0 beats a later deadline", Exited(0, message: Digest, podReason: "DeadlineExceeded"), Succeeded, true, null, "success"),

        // pod-level signals beat the log
        new Row("evicted", Exited(137, podReason: "Evicted", podMessage: "The node was low on resource: memory."), Incomplete, false, FailureReasons.PodEvicted, "pod-evicted"),
        new Row("evicted beats OOMKilled", Exited(137, "OOMKilled", podReason: "Evicted"), Incomplete, false, FailureReasons.PodEvicted, "pod-evicted"),
        new Row("eviction API", Exited(143) with { DisruptionReason = "EvictionByEvictionAPI" }, Incomplete, false, FailureReasons.PodEvicted, "pod-evicted"),
        new Row("preempted", Exited(143) with { DisruptionReason = "PreemptionByScheduler" }, null, false, FailureReasons.PodEvicted, "pod-evicted"),
        new Row("kubelet termination", Exited(143) with { DisruptionReason = "TerminationByKubelet", PodMessage = "low on ephemeral-storage" }, null, false, FailureReasons.PodEvicted, "pod-evicted"),
        new Row("node lost", new PodTermination { PodPhase = "Failed", PodReason = "NodeLost" }, Incomplete, false, FailureReasons.NodeLost, "node-lost"),
        new Row("node shutdown", new PodTermination { PodPhase = "Failed", PodReason = "NodeShutdown" }, null, false, FailureReasons.NodeLost, "node-lost"),
        new Row("node unresponsive", new PodTermination { PodPhase = "Unknown", PodMessage = "Node worker-3 which was running pod bf-x-1 is unresponsive" }, Incomplete, false, FailureReasons.NodeLost, "node-lost"),
        new Row("graceful node shutdown", Exited(143, podReason: "Terminated", podMessage: "Pod was terminated in response to imminent node shutdown."), Incomplete, false, FailureReasons.NodeLost, "node-lost"),
        new Row("taint manager", Exited(137) with { DisruptionReason = "DeletionByTaintManager" }, Incomplete, false, FailureReasons.NodeLost, "node-lost"),
        new Row("pod GC", new PodTermination { PodPhase = "Failed", DisruptionReason = "DeletionByPodGC" }, null, false, FailureReasons.NodeLost, "node-lost"),
        new Row("container status unknown", Exited(137, "ContainerStatusUnknown", "The container could not be located when the pod was terminated"), null, false, FailureReasons.NodeLost, "node-lost"),
        new Row("OOMKilled, log just stops", Exited(137, "OOMKilled"), Incomplete, false, FailureReasons.OomKilled, "oom-killed"),
        new Row("OOMKilled beats a log failure", Exited(137, "OOMKilled"), Failed(FailureReasons.StepFailed, KanikoPhase.Build, 137), false, FailureReasons.OomKilled, "oom-killed"),
        new Row("OOMKilled, no log", Exited(137, "OOMKilled"), null, false, FailureReasons.OomKilled, "oom-killed"),

        // the executor image could not be pulled: the pod never ran
        new Row("image pull back-off", Waiting("ImagePullBackOff", "Back-off pulling image \"gcr.io/kaniko-project/executor:v1.24.0@sha256:4e7a\""), null, false, FailureReasons.RegistryUnavailable, "executor-image-pull"),
        new Row("image pull 503", Waiting("ErrImagePull", "failed to pull image: unexpected status code 503 Service Unavailable"), null, false, FailureReasons.RegistryUnavailable, "executor-image-pull"),
        new Row("image pull timeout", Waiting("ErrImagePull", "dial tcp 74.125.1.1:443: i/o timeout"), null, false, FailureReasons.RegistryUnavailable, "executor-image-pull"),
        new Row("image not found", Waiting("ErrImagePull", "rpc error: code = NotFound desc = failed to pull and unpack image \"gcr.io/x/y:z\": not found"), null, false, FailureReasons.Unknown, "executor-image-pull"),
        new Row("image manifest unknown", Waiting("ErrImagePull", "manifest unknown: manifest unknown"), null, false, FailureReasons.Unknown, "executor-image-pull"),
        new Row("image unauthorized", Waiting("ErrImagePull", "failed to authorize: 401 Unauthorized"), null, false, FailureReasons.Unauthorized, "executor-image-pull"),
        new Row("image pull access denied", Waiting("ErrImagePull", "pull access denied, repository does not exist or may require authorization"), null, false, FailureReasons.Unauthorized, "executor-image-pull"),
        new Row("invalid image name", Waiting("InvalidImageName", "couldn't parse image reference"), null, false, FailureReasons.Unknown, "executor-image-pull"),
        new Row("pull back-off until the deadline", Waiting("ImagePullBackOff", "Back-off pulling image", podReason: "DeadlineExceeded"), null, false, FailureReasons.RegistryUnavailable, "executor-image-pull"),
        new Row("container config error", Waiting("CreateContainerConfigError", "secret \"x\" not found"), null, false, FailureReasons.Unknown, "container-config"),

        // deadline
        new Row("deadline exceeded", Exited(137, podReason: "DeadlineExceeded", podMessage: "Pod was active on the node longer than the specified deadline"), Incomplete, false, FailureReasons.DeadlineExceeded, "deadline-exceeded"),
        new Row("deadline while running, no status", new PodTermination { PodPhase = "Failed", PodReason = "DeadlineExceeded" }, null, false, FailureReasons.DeadlineExceeded, "deadline-exceeded"),

        // the log explains the failure
        new Row("log: reset during push", Exited(1), Failed(FailureReasons.ConnectionReset, KanikoPhase.Push), false, FailureReasons.ConnectionReset, "log-failure"),
        new Row("log: network error", Exited(1), Failed(FailureReasons.NetworkError, KanikoPhase.Extract), false, FailureReasons.NetworkError, "log-failure"),
        new Row("log: RUN exit status 3", Exited(3), Failed(FailureReasons.StepFailed, KanikoPhase.Build, 3), false, FailureReasons.StepFailed, "log-failure"),
        new Row("log: unauthorized", Exited(1), Failed(FailureReasons.Unauthorized, KanikoPhase.Preflight), false, FailureReasons.Unauthorized, "log-failure"),
        new Row("log: base image missing", Exited(1), Failed(FailureReasons.BaseImageNotFound, KanikoPhase.Pull), false, FailureReasons.BaseImageNotFound, "log-failure"),
        new Row("log: failure without reason", Exited(1), Failed(null), false, FailureReasons.Unknown, "log-failure"),
        new Row("log: reason outside the vocabulary", Exited(1), Failed("weird"), false, FailureReasons.Unknown, "log-failure"),
        new Row("log failed although exit 0", Exited(0, message: Digest), Failed(FailureReasons.StepFailed, KanikoPhase.Build, 2), false, FailureReasons.StepFailed, "log-failure"),

        // bare exit codes (Kaniko >= 1.7 propagates the RUN exit code)
        new Row("exit 3, no log", Exited(3), null, false, FailureReasons.StepFailed, "step-exit-code"),
        new Row("exit 2, truncated log", Exited(2), Incomplete, false, FailureReasons.StepFailed, "step-exit-code"),
        new Row("exit 255 (RUN killed by a signal), no log", Exited(255), null, false, FailureReasons.StepFailed, "step-exit-code"),

        // nothing explains it
        new Row("exit 1, no log", Exited(1), null, false, FailureReasons.Unknown, "unknown"),
        new Row("exit 137 without OOMKilled, no log", Exited(137), null, false, FailureReasons.Unknown, "unknown"),
        new Row("exit 137 without OOMKilled, truncated log", Exited(137), Incomplete, false, FailureReasons.Unknown, "unknown"),
        new Row("not terminated", new PodTermination { PodPhase = "Running" }, Incomplete, false, FailureReasons.Unknown, "unknown"),
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Classify_TableRow_ReasonAndTransientFlag(Row row)
    {
        var result = FailureClassifier.Classify(row.Pod, row.Log);

        Assert.Equal(row.Succeeded, result.Succeeded);
        Assert.Equal(row.Reason, result.Reason);
        Assert.Equal(row.Reason is not null && FailureReasons.IsTransient(row.Reason), result.Transient);
        Assert.Equal(row.Rule, result.Rule);
        Assert.False(string.IsNullOrWhiteSpace(result.Detail));
    }

    [Fact]
    public void Table_CoversEveryRule()
    {
        var covered = ((IEnumerable<object[]>)Table).Select(data => ((Row)data[0]).Rule).ToHashSet();

        Assert.Equal(FailureClassifier.RuleNames.Order(), covered.Order());
    }

    [Fact]
    public void Classify_Success_DigestFromTerminationMessage()
    {
        var result = FailureClassifier.Classify(Exited(0, message: Digest + "\n"), Succeeded);

        Assert.Equal(Digest, result.Digest);
        Assert.Null(result.Reason);
        Assert.False(result.Transient);
    }

    [Fact]
    public void Classify_SuccessWithoutDigestMessage_FallsBackToLoggedPush()
    {
        var result = FailureClassifier.Classify(Exited(0, message: "INFO[0001] not a digest"), Succeeded);

        Assert.True(result.Succeeded);
        Assert.Equal(Digest, result.Digest);
    }

    [Fact]
    public void Classify_SuccessNoDigestAnywhere_DigestNull()
    {
        var result = FailureClassifier.Classify(Exited(0), null);

        Assert.True(result.Succeeded);
        Assert.Null(result.Digest);
        Assert.Contains("no digest", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Classify_StepFailure_DetailNamesExitCodeAndPhase()
    {
        var result = FailureClassifier.Classify(Exited(3), Failed(FailureReasons.StepFailed, KanikoPhase.Build, 3,
            "error building image: error building stage: failed to execute command: waiting for process to exit: exit status 3"));

        Assert.StartsWith("build: RUN exited with 3: error building image", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Classify_TransientLogReason_MarkedTransient()
    {
        var result = FailureClassifier.Classify(Exited(1), Failed(FailureReasons.ConnectionReset, KanikoPhase.Push));

        Assert.True(result.Transient);
    }
}
