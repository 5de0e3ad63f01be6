using BuildFarm.Contracts;
using BuildFarm.Kaniko.Classification;
using BuildFarm.Worker.Options;

namespace BuildFarm.Worker.Builds;

/// <summary>What follows a finished attempt.</summary>
public enum AttemptVerdict
{
    /// <summary>The image was pushed: fence, complete, publish success.</summary>
    Succeed,

    /// <summary>A transient failure with attempts left: wait <see cref="AttemptDecision.RetryAfter"/>, then the next attempt.</summary>
    Retry,

    /// <summary>A permanent failure, or the last attempt: the build fails.</summary>
    Fail,
}

/// <summary>
/// The decision after one attempt, from its classification, its number and the retry settings (Worker:MaxAttempts,
/// BackoffBase, MaxBackoff). Pure: the caller draws the jitter and does the waiting.
/// </summary>
/// <param name="Verdict">Succeed, retry or fail.</param>
/// <param name="Digest">The pushed digest when the verdict is <see cref="AttemptVerdict.Succeed"/>.</param>
/// <param name="Reason">The failure reason (a <see cref="FailureReasons"/> value) when not succeeded.</param>
/// <param name="Detail">The failure's detail when not succeeded.</param>
/// <param name="RetryAfter">The wait before the next attempt (zero unless the verdict is <see cref="AttemptVerdict.Retry"/>).</param>
public sealed record AttemptDecision(AttemptVerdict Verdict, string? Digest, string? Reason, string? Detail, TimeSpan RetryAfter)
{
    /// <param name="classification">How the attempt ended.</param>
    /// <param name="attempt">The attempt's number (1-based).</param>
    /// <param name="options">The retry settings.</param>
    /// <param name="jitter">A random number in [0, 1) for <see cref="RetryBackoff"/>.</param>
    public static AttemptDecision Decide(FailureClassification classification, int attempt, WorkerOptions options, double jitter)
    {
        ArgumentNullException.ThrowIfNull(classification);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        if (classification.Succeeded && classification.Digest is { } digest)
        {
            return new AttemptDecision(AttemptVerdict.Succeed, digest, null, null, TimeSpan.Zero);
        }
        // Exit 0 without a digest is not a success: nothing says what was pushed.
        var reason = classification.Succeeded ? FailureReasons.Unknown : classification.Reason ?? FailureReasons.Unknown;
        var detail = classification.Succeeded ? "the container exited 0 without reporting a digest" : classification.Detail;
        if (!classification.Succeeded && classification.Transient && attempt < options.MaxAttempts)
        {
            return new AttemptDecision(AttemptVerdict.Retry, null, reason, detail, RetryBackoff.Delay(attempt, options.BackoffBase, options.MaxBackoff, jitter));
        }
        return new AttemptDecision(AttemptVerdict.Fail, null, reason, detail, TimeSpan.Zero);
    }
}
