using System.Diagnostics;
using System.Globalization;

namespace BuildFarm.WorkerLoad;

/// <summary>
/// How late the worker child's thread pool runs a 10 ms timer's continuation: a late one means every pool thread was busy
/// or blocked (a library's synchronous wait on a thread-pool thread shows as exactly that). Counted from one
/// <see cref="Take"/> to the next: lateness over 100 ms and the longest.
/// </summary>
internal sealed class PoolStalls : IDisposable
{
    private static readonly long Threshold = Stopwatch.Frequency / 10;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private int _count;
    private long _longest;

    public PoolStalls() => _ = MeasureAsync(_stop.Token);

    private async Task MeasureAsync(CancellationToken ct)
    {
        var tick = TimeSpan.FromMilliseconds(10);
        var last = Stopwatch.GetTimestamp();
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(tick, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            var now = Stopwatch.GetTimestamp();
            var late = now - last - (long)(tick.TotalSeconds * Stopwatch.Frequency);
            last = now;
            if (late > Threshold)
            {
                lock (_lock)
                {
                    _count++;
                    _longest = Math.Max(_longest, late);
                }
            }
        }
    }

    /// <summary>"STALLS count longest-ms" since the last call, and starts counting again.</summary>
    public string Take()
    {
        lock (_lock)
        {
            var answer = string.Create(CultureInfo.InvariantCulture, $"STALLS {_count} {_longest * 1000.0 / Stopwatch.Frequency:F0}");
            (_count, _longest) = (0, 0);
            return answer;
        }
    }

    /// <summary>Parses <see cref="Take"/>'s answer: (stalls, longest ms).</summary>
    public static (int Count, double LongestMs) Parse(string answer)
    {
        var parts = answer.Split(' ');
        return parts is ["STALLS", var count, var longest]
            ? (int.Parse(count, CultureInfo.InvariantCulture), double.Parse(longest, CultureInfo.InvariantCulture))
            : throw new FormatException($"not a STALLS answer: '{answer}'");
    }

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
    }
}
