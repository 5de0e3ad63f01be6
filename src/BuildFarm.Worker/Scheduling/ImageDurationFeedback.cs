using BuildFarm.Coordination.Scheduling;
using BuildFarm.Kaniko.Logs;
using Microsoft.Extensions.Options;

namespace BuildFarm.Worker.Scheduling;

/// <summary>
/// The worker's side of the expected image durations (docs/scheduling.md): each successful attempt's Kaniko run time
/// (first to last log timestamp) is noted in memory (<see cref="Report"/>) and every <c>Scheduling:Durations:Window</c>
/// the window's samples go to the shared <see cref="IImageDurations"/> in one exchange: a build adds no Redis round trip.
/// </summary>
public sealed class ImageDurationFeedback(IImageDurations durations, IOptions<ImageDurationOptions> options, TimeProvider time,
    ILogger<ImageDurationFeedback> logger) : BackgroundService
{
    /// <summary>Samples held between windows; past it the newest are dropped until the next window (Redis away).</summary>
    public const int MaxPending = 10_000;

    private readonly Lock _gate = new();
    private List<DurationSample> _pending = [];

    /// <summary>Notes the duration of an attempt that built <paramref name="destinations"/>, when it succeeded with a timed log.</summary>
    public void Report(IReadOnlyList<string> destinations, KanikoLogAnalysis? analysis, bool succeeded)
    {
        if (!succeeded || analysis is not { FirstTimestamp: { } first, LastTimestamp: { } last } || last < first)
        {
            return;
        }
        var image = ImageDurations.KeyOf(destinations);
        if (image.Length == 0)
        {
            return;
        }
        lock (_gate)
        {
            if (_pending.Count < MaxPending)
            {
                _pending.Add(new DurationSample(image, (last - first).TotalSeconds));
            }
        }
    }

    /// <summary>The samples waiting for the next window.</summary>
    public int Pending
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>Sends the samples gathered since the last call; on failure they wait for the next window.</summary>
    public async Task FlushAsync(CancellationToken ct)
    {
        List<DurationSample> window;
        lock (_gate)
        {
            (window, _pending) = (_pending, []);
        }
        if (window.Count == 0)
        {
            return;
        }
        try
        {
            await durations.RecordAsync(window, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            lock (_gate)
            {
                _pending.InsertRange(0, window.Take(MaxPending - _pending.Count));
            }
            logger.LogWarning("image durations: could not send {Samples} samples ({Error}); they wait for the next window", window.Count, e.Message);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var ticks = new PeriodicTimer(options.Value.Window, time);
        try
        {
            while (await ticks.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                await FlushAsync(stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: what is pending now is lost, like a window that never came (the means only learn a little slower).
        }
    }
}
