using BuildFarm.Contracts;
using BuildFarm.Kaniko.Pods;
using BuildFarm.Worker.Builds;
using BuildFarm.Worker.Options;

namespace BuildFarm.Worker.Tests;

public sealed class OomRetryTests
{
    private const long Gi = 1024L * 1024 * 1024;
    private static readonly WorkerOptions Options = new() { MaxAttempts = 1, BackoffBase = TimeSpan.FromSeconds(2), MaxBackoff = TimeSpan.FromSeconds(60) };
    private static readonly AttemptDecision Oom = new(AttemptVerdict.Fail, null, FailureReasons.OomKilled, "container OOMKilled (exit code 137)", TimeSpan.Zero);

    [Fact]
    public void FirstOom_BelowTheCap_RetriesOnceWithTwiceTheMemory_EvenOnTheLastAttempt()
    {
        var step = OomRetry.After(Oom, new PodMemory(Gi, Gi / 2), raisedFrom: null, attempt: 1, Options, jitter: 0);

        Assert.Equal(AttemptVerdict.Retry, step.Decision.Verdict);
        Assert.Equal(new PodMemory(2 * Gi, Gi), step.Raised);
        Assert.Equal("raised", step.Outcome);
        Assert.Equal(FailureReasons.OomKilled, step.Decision.Reason);
        Assert.Equal("container OOMKilled (exit code 137); retrying once with memory limit 2Gi (was 1Gi)", step.Decision.Detail);
        Assert.Equal(TimeSpan.FromSeconds(1), step.Decision.RetryAfter);
    }

    [Fact]
    public void OomAfterTheRaise_Fails_SayingWhatWasTried()
    {
        var step = OomRetry.After(Oom, new PodMemory(2 * Gi, Gi), raisedFrom: new PodMemory(Gi, Gi / 2), attempt: 2, Options, jitter: 0);

        Assert.Equal(AttemptVerdict.Fail, step.Decision.Verdict);
        Assert.Null(step.Raised);
        Assert.Equal("failed", step.Outcome);
        Assert.Equal("container OOMKilled (exit code 137); OOM-killed again at memory limit 2Gi after a retry raised it from 1Gi", step.Decision.Detail);
    }

    [Fact]
    public void OomAtTheCap_Fails_NotRetried()
    {
        var options = new WorkerOptions { OomMemoryCap = "4Gi" };

        var step = OomRetry.After(Oom, new PodMemory(4 * Gi, Gi), raisedFrom: null, attempt: 1, options, jitter: 0);

        Assert.Equal(AttemptVerdict.Fail, step.Decision.Verdict);
        Assert.Equal("at_cap", step.Outcome);
        Assert.EndsWith("OOM-killed at memory limit 4Gi, at Worker:OomMemoryCap (4Gi) or above it: not retried", step.Decision.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void OomJustBelowTheCap_RetriesAtTheCap()
    {
        var step = OomRetry.After(Oom, new PodMemory(12 * Gi, 12 * Gi), raisedFrom: null, attempt: 1, new WorkerOptions { OomMemoryCap = "16Gi" }, jitter: 0);

        Assert.Equal(new PodMemory(16 * Gi, 16 * Gi), step.Raised);
    }

    [Fact]
    public void OtherFailures_Success_RetriesOff_OrNoMemoryLimit_Unchanged()
    {
        var reset = new AttemptDecision(AttemptVerdict.Retry, null, FailureReasons.ConnectionReset, "reset", TimeSpan.FromSeconds(3));
        var succeeded = new AttemptDecision(AttemptVerdict.Succeed, "sha256:abc", null, null, TimeSpan.Zero);
        var memory = new PodMemory(Gi, Gi);

        foreach (var (decision, options, podMemory) in new[]
        {
            (reset, Options, memory), (succeeded, Options, memory), (Oom, new WorkerOptions { OomRetry = false }, memory), (Oom, Options, (PodMemory?)null),
        })
        {
            var step = OomRetry.After(decision, podMemory, null, 1, options, 0);
            Assert.Same(decision, step.Decision);
            Assert.Null(step.Raised);
            Assert.Null(step.Outcome);
        }
    }

    [Fact]
    public void Options_OomMemoryCap_MustBeAPositiveBoundedQuantity()
    {
        Assert.Empty(new WorkerOptions().Validate());
        Assert.Equal(16 * Gi, new WorkerOptions().OomMemoryCapBytes);
        Assert.Contains(new WorkerOptions { OomMemoryCap = "lots" }.Validate(), e => e.StartsWith("Worker:OomMemoryCap:", StringComparison.Ordinal));
        Assert.Contains(new WorkerOptions { OomMemoryCap = "2Ei" }.Validate(), e => e.StartsWith("Worker:OomMemoryCap:", StringComparison.Ordinal));
        Assert.Contains(new WorkerOptions { MemoryHistoryTtl = TimeSpan.Zero }.Validate(), e => e.StartsWith("Worker:MemoryHistoryTtl:", StringComparison.Ordinal));
    }
}
