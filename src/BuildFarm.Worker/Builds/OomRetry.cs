using BuildFarm.Contracts;
using BuildFarm.Kaniko.Pods;
using BuildFarm.Worker.Options;

namespace BuildFarm.Worker.Builds;

/// <summary>
/// What follows an OOM-killed attempt (docs/scheduling.md "Memory learned from history"): the first OOM kill of a lane
/// below <c>Worker:OomMemoryCap</c> is retried once in a new pod with twice the memory (<see cref="PodMemory.Doubled"/>);
/// a second one, or one at the cap, fails the build as <c>oom_killed</c> with a detail saying what was tried. Pure.
/// </summary>
/// <param name="Decision">The decision to act on: the attempt's own, or a retry in place of its failure.</param>
/// <param name="Raised">The memory of the retry when the decision is now a retry with more memory; null otherwise.</param>
/// <param name="Outcome">The <c>buildfarm_oom_retries_total</c> outcome (<c>raised</c>, <c>failed</c>, <c>at_cap</c>); null when none applies.</param>
public sealed record OomRetry(AttemptDecision Decision, PodMemory? Raised, string? Outcome)
{
    /// <param name="decision">The attempt's decision (<see cref="AttemptDecision.Decide"/>).</param>
    /// <param name="memory">The memory the attempt's pod had; null when it had no memory limit (nothing to raise).</param>
    /// <param name="raisedFrom">The lane's memory before an earlier OOM retry raised it; null when none did.</param>
    /// <param name="attempt">The attempt's number (1-based), for the backoff.</param>
    /// <param name="options">Worker:OomRetry, OomMemoryCap and the backoff settings.</param>
    /// <param name="jitter">A random number in [0, 1) for <see cref="RetryBackoff"/>.</param>
    public static OomRetry After(AttemptDecision decision, PodMemory? memory, PodMemory? raisedFrom, int attempt, WorkerOptions options, double jitter)
    {
        ArgumentNullException.ThrowIfNull(decision);
        ArgumentNullException.ThrowIfNull(options);
        if (decision.Verdict == AttemptVerdict.Succeed || decision.Reason != FailureReasons.OomKilled || !options.OomRetry || memory is null)
        {
            return new OomRetry(decision, null, null);
        }
        if (raisedFrom is not null)
        {
            return Fail(decision, $"OOM-killed again at memory limit {memory.Limit} after a retry raised it from {raisedFrom.Limit}", "failed");
        }
        var cap = options.OomMemoryCapBytes;
        if (memory.Doubled(cap) is not { } raised)
        {
            return Fail(decision, $"OOM-killed at memory limit {memory.Limit}, at Worker:OomMemoryCap ({PodMemory.Format(cap)}) or above it: not retried", "at_cap");
        }
        var retry = decision with
        {
            Verdict = AttemptVerdict.Retry,
            Detail = Join(decision.Detail, $"retrying once with memory limit {raised.Limit} (was {memory.Limit})"),
            RetryAfter = RetryBackoff.Delay(attempt, options.BackoffBase, options.MaxBackoff, jitter),
        };
        return new OomRetry(retry, raised, "raised");
    }

    private static OomRetry Fail(AttemptDecision decision, string tried, string outcome) =>
        new(decision with { Verdict = AttemptVerdict.Fail, Detail = Join(decision.Detail, tried), RetryAfter = TimeSpan.Zero }, null, outcome);

    private static string Join(string? detail, string more) => string.IsNullOrEmpty(detail) ? more : $"{detail}; {more}";
}
