using System.Diagnostics;

namespace BuildFarm.TestSupport;

/// <summary>
/// Polls a condition until it holds or a deadline passes, then fails naming what was awaited: the one way tests wait
/// (never a fixed sleep as synchronisation). The default poll interval is 20 ms; the default deadline is 30 s (only a failing wait ever reaches it).
/// </summary>
public static class Eventually
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    public static readonly TimeSpan DefaultInterval = TimeSpan.FromMilliseconds(20);

    /// <summary>Polls <paramref name="condition"/> until it is true; throws <see cref="TimeoutException"/> naming <paramref name="what"/>.</summary>
    public static Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null, TimeSpan? interval = null) =>
        UntilAsync(() => Task.FromResult(condition()), what, timeout, interval);

    /// <summary>Polls <paramref name="probe"/> until it returns true; throws <see cref="TimeoutException"/> naming <paramref name="what"/>.</summary>
    public static async Task UntilAsync(Func<Task<bool>> probe, string what, TimeSpan? timeout = null, TimeSpan? interval = null)
    {
        var limit = timeout ?? DefaultTimeout;
        var clock = Stopwatch.StartNew();
        while (!await probe())
        {
            if (clock.Elapsed > limit)
            {
                throw new TimeoutException($"timed out after {limit.TotalSeconds}s waiting for {what}");
            }
            await Task.Delay(interval ?? DefaultInterval);
        }
    }

    /// <summary>
    /// Polls <paramref name="probe"/> until <paramref name="condition"/> holds for its value and returns that value; the
    /// timeout names <paramref name="what"/> and shows the last value seen.
    /// </summary>
    public static async Task<T> ValueAsync<T>(Func<Task<T?>> probe, Func<T?, bool> condition, string what, TimeSpan? timeout = null,
        TimeSpan? interval = null)
    {
        var limit = timeout ?? DefaultTimeout;
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var last = await probe();
            if (condition(last))
            {
                return last!;
            }
            if (clock.Elapsed > limit)
            {
                throw new TimeoutException($"timed out after {limit.TotalSeconds}s waiting for {what}; last value: {last}");
            }
            await Task.Delay(interval ?? DefaultInterval);
        }
    }
}
