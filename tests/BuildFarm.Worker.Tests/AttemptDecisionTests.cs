using BuildFarm.Contracts;
using BuildFarm.Kaniko.Classification;
using BuildFarm.Worker.Builds;
using BuildFarm.Worker.Options;

namespace BuildFarm.Worker.Tests;

public sealed class AttemptDecisionTests
{
    private static readonly WorkerOptions Options = new() { MaxAttempts = 3, BackoffBase = TimeSpan.FromSeconds(2), MaxBackoff = TimeSpan.FromSeconds(60) };

    private static FailureClassification Failure(string? reason, bool transient) => new(false, reason, transient, "detail of " + reason);

    [Fact]
    public void Decide_SucceededWithDigest_Succeeds()
    {
        var decision = AttemptDecision.Decide(new FailureClassification(true, null, false, "pushed") { Digest = "sha256:abc" }, 2, Options, 0.3);

        Assert.Equal(AttemptVerdict.Succeed, decision.Verdict);
        Assert.Equal("sha256:abc", decision.Digest);
        Assert.Null(decision.Reason);
        Assert.Equal(TimeSpan.Zero, decision.RetryAfter);
    }

    [Fact]
    public void Decide_ExitZeroWithoutDigest_FailsAsUnknown_EvenWithAttemptsLeft()
    {
        var decision = AttemptDecision.Decide(new FailureClassification(true, null, true, "exit 0"), 1, Options, 0.3);

        Assert.Equal(AttemptVerdict.Fail, decision.Verdict);
        Assert.Equal(FailureReasons.Unknown, decision.Reason);
        Assert.Equal("the container exited 0 without reporting a digest", decision.Detail);
        Assert.Null(decision.Digest);
    }

    [Theory]
    [InlineData(1, 0.0, 1000)]   // 2 s, half fixed
    [InlineData(2, 0.5, 3000)]   // 4 s: 2 + 1
    public void Decide_TransientWithAttemptsLeft_RetriesAfterTheBackoff(int attempt, double jitter, int expectedMilliseconds)
    {
        var decision = AttemptDecision.Decide(Failure(FailureReasons.RegistryUnavailable, transient: true), attempt, Options, jitter);

        Assert.Equal(AttemptVerdict.Retry, decision.Verdict);
        Assert.Equal(FailureReasons.RegistryUnavailable, decision.Reason);
        Assert.Equal("detail of " + FailureReasons.RegistryUnavailable, decision.Detail);
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMilliseconds), decision.RetryAfter);
        Assert.Equal(RetryBackoff.Delay(attempt, Options.BackoffBase, Options.MaxBackoff, jitter), decision.RetryAfter);
    }

    [Fact]
    public void Decide_TransientOnTheLastAttempt_Fails()
    {
        var decision = AttemptDecision.Decide(Failure(FailureReasons.NetworkError, transient: true), Options.MaxAttempts, Options, 0.5);

        Assert.Equal(AttemptVerdict.Fail, decision.Verdict);
        Assert.Equal(FailureReasons.NetworkError, decision.Reason);
        Assert.Equal(TimeSpan.Zero, decision.RetryAfter);
    }

    [Fact]
    public void Decide_Permanent_FailsOnTheFirstAttempt()
    {
        var decision = AttemptDecision.Decide(Failure(FailureReasons.DockerfileInvalid, transient: false), 1, Options, 0.5);

        Assert.Equal(AttemptVerdict.Fail, decision.Verdict);
        Assert.Equal(FailureReasons.DockerfileInvalid, decision.Reason);
    }

    [Fact]
    public void Decide_NoReason_IsUnknown()
    {
        Assert.Equal(FailureReasons.Unknown, AttemptDecision.Decide(Failure(null, transient: false), 1, Options, 0).Reason);
    }

    [Fact]
    public void Decide_AttemptBelowOne_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => AttemptDecision.Decide(Failure(FailureReasons.Unknown, false), 0, Options, 0));
}
