using System.Diagnostics;

namespace BuildFarm.ClusterSim.Hosting;

/// <summary>
/// A thread-safe latency histogram with fixed bucket bounds in milliseconds (Prometheus style: a bucket counts the
/// samples at or below its bound and above the previous one), the exact maximum, and percentiles read as the bound of
/// the bucket that holds them (so "p99 5" means 99 % of the samples took at most 5 ms).
/// </summary>
public sealed class LatencyHistogram
{
    /// <summary>Bucket upper bounds in ms; a last, open bucket takes everything above the highest.</summary>
    public static readonly IReadOnlyList<double> Bounds =
    [
        0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200, 300, 500, 1000, 2000, 5000,
    ];

    private readonly long[] _counts = new long[Bounds.Count + 1];
    private long _count;
    private long _maxTicks;
    private long _sumTicks;

    /// <summary>Records the time from <paramref name="start"/> to <paramref name="end"/> (Stopwatch timestamps).</summary>
    public void Record(long start, long end)
    {
        var ticks = Math.Max(0, end - start);
        var ms = ticks * 1000.0 / Stopwatch.Frequency;
        var i = 0;
        while (i < Bounds.Count && ms > Bounds[i])
        {
            i++;
        }
        Interlocked.Increment(ref _counts[i]);
        Interlocked.Increment(ref _count);
        Interlocked.Add(ref _sumTicks, ticks);
        var max = Volatile.Read(ref _maxTicks);
        while (ticks > max)
        {
            var seen = Interlocked.CompareExchange(ref _maxTicks, ticks, max);
            if (seen == max)
            {
                break;
            }
            max = seen;
        }
    }

    public LatencySnapshot Snapshot()
    {
        var counts = new long[_counts.Length];
        for (var i = 0; i < counts.Length; i++)
        {
            counts[i] = Volatile.Read(ref _counts[i]);
        }
        var total = counts.Sum();
        double? Percentile(double p)
        {
            if (total == 0)
            {
                return null;
            }
            var rank = (long)Math.Ceiling(p / 100 * total);
            long seen = 0;
            for (var i = 0; i < counts.Length; i++)
            {
                seen += counts[i];
                if (seen >= rank)
                {
                    // The open bucket has no bound: report the maximum.
                    return i < Bounds.Count ? Bounds[i] : Math.Round(Ms(Volatile.Read(ref _maxTicks)), 3);
                }
            }
            return null;
        }
        var buckets = new List<LatencyBucket>(counts.Length);
        for (var i = 0; i < counts.Length; i++)
        {
            buckets.Add(new LatencyBucket(i < Bounds.Count ? Bounds[i] : null, counts[i]));
        }
        return new LatencySnapshot(total, total == 0 ? null : Math.Round(Ms(Volatile.Read(ref _sumTicks)) / total, 3),
            Percentile(50), Percentile(95), Percentile(99), total == 0 ? null : Math.Round(Ms(Volatile.Read(ref _maxTicks)), 3), buckets);
    }

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
}

/// <summary>
/// A histogram's state: sample count, mean, percentiles as bucket bounds (ms; null without samples), the exact maximum
/// and every bucket (<c>Le</c> null is the open one above the highest bound).
/// </summary>
public sealed record LatencySnapshot(long Count, double? MeanMs, double? P50Ms, double? P95Ms, double? P99Ms, double? MaxMs,
    IReadOnlyList<LatencyBucket> Buckets);

/// <summary>Samples above the previous bound and at or below <see cref="Le"/> ms.</summary>
public sealed record LatencyBucket(double? Le, long Count);

/// <summary>
/// How the API server hands each watch event to its watchers. Measured in the server, per delivery (one event to one
/// watcher that the event passed the filters of): <see cref="CommitToFlush"/> from the store's commit of the change to the
/// flush of its line into that watcher's connection (handed to Kestrel's transport, which sends it), and
/// <see cref="Spread"/> from the first watcher's flush of the same event to this one's (0 for the first): the server's
/// share of the fan-out delay a client sees.
/// </summary>
public sealed class WatchDeliveryStats
{
    private long _direct;
    private long _queued;

    public LatencyHistogram CommitToFlush { get; } = new();
    public LatencyHistogram Spread { get; } = new();

    /// <summary>A delivery written by the fan-out step itself (the watcher's connection was free).</summary>
    public void CountDirect() => Interlocked.Increment(ref _direct);

    /// <summary>A delivery written by the watcher's own loop (replay, Table form, or the connection was busy).</summary>
    public void CountQueued() => Interlocked.Increment(ref _queued);

    public WatchDeliverySnapshot Snapshot() =>
        new(Interlocked.Read(ref _direct), Interlocked.Read(ref _queued), CommitToFlush.Snapshot(), Spread.Snapshot());
}

/// <summary>What <c>/_sim/stats</c> reports as <c>watchDelivery</c>.</summary>
public sealed record WatchDeliverySnapshot(long Direct, long Queued, LatencySnapshot CommitToFlush, LatencySnapshot Spread);
