namespace BuildFarm.ClusterSim.Kubelet;

/// <summary>
/// The simulator's clock. Timestamps are wall time (so ages, watches and <c>kubectl describe</c> stay sane); simulated
/// durations are compressed by <see cref="Scale"/>: a step that takes 60 simulated seconds takes one wall second at
/// scale 60, and its log lines are stamped with the wall times they are printed at.
/// </summary>
public sealed class SimClock
{
    private readonly TimeProvider _time;
    private double _scale;

    public SimClock(TimeProvider time, double scale)
    {
        ArgumentNullException.ThrowIfNull(time);
        _time = time;
        _scale = scale;
    }

    public DateTimeOffset Now => _time.GetUtcNow();

    /// <summary>Simulated seconds per wall second.</summary>
    public double Scale
    {
        get => Volatile.Read(ref _scale);
        set => Volatile.Write(ref _scale, value);
    }

    /// <summary>The wall time <paramref name="simSeconds"/> simulated seconds after <paramref name="start"/>.</summary>
    public DateTimeOffset After(DateTimeOffset start, double simSeconds) => start.AddSeconds(simSeconds / Scale);

    /// <summary>Waits until wall time <paramref name="time"/>.</summary>
    public async Task DelayUntilAsync(DateTimeOffset time, CancellationToken cancellationToken)
    {
        var remaining = time - Now;
        if (remaining > TimeSpan.Zero)
        {
            await Task.Delay(remaining, _time, cancellationToken);
        }
        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>Waits <paramref name="simSeconds"/> simulated seconds.</summary>
    public Task DelayAsync(double simSeconds, CancellationToken cancellationToken) =>
        DelayUntilAsync(After(Now, simSeconds), cancellationToken);
}
