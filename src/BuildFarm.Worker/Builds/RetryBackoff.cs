namespace BuildFarm.Worker.Builds;

/// <summary>
/// The wait before the next attempt: exponential (<c>base × 2^(attempt-1)</c>, capped at <c>max</c>) with "equal
/// jitter" — half of it fixed, half random — so that builds failed by the same registry hiccup do not all come back
/// at once, yet never retry sooner than half the exponential delay. Pure; the caller draws <c>jitter</c> and waits
/// on its <see cref="TimeProvider"/>.
/// </summary>
public static class RetryBackoff
{
    /// <param name="failedAttempt">The attempt that just failed (1-based).</param>
    /// <param name="baseDelay">The delay after the first attempt, before jitter.</param>
    /// <param name="maxDelay">The cap, before jitter.</param>
    /// <param name="jitter">A random number in [0, 1).</param>
    public static TimeSpan Delay(int failedAttempt, TimeSpan baseDelay, TimeSpan maxDelay, double jitter)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(failedAttempt, 1);
        if (baseDelay < TimeSpan.Zero || maxDelay < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(baseDelay), "delays must not be negative");
        }
        if (jitter is < 0 or >= 1 || double.IsNaN(jitter))
        {
            throw new ArgumentOutOfRangeException(nameof(jitter), jitter, "jitter must be in [0, 1)");
        }
        var exponent = Math.Min(failedAttempt - 1, 30);
        var ticks = Math.Min(baseDelay.Ticks * Math.Pow(2, exponent), maxDelay.Ticks);
        return TimeSpan.FromTicks((long)((ticks / 2) + (ticks / 2 * jitter)));
    }
}
