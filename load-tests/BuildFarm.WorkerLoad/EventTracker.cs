using System.Collections.Concurrent;
using BuildFarm.Contracts;

namespace BuildFarm.WorkerLoad;

/// <summary>One build as the load generator sees it: when it was published, started (BuildStarted.At, stamped by the
/// worker right after its pod was created) and ended (when the end event arrived here). Times are UTC ticks.</summary>
internal sealed class BuildTrack(LoadPhase phase)
{
    public LoadPhase Phase { get; } = phase;
    public long PublishedTicks;
    public long PodCreatedTicks;
    public long EndSeenTicks;
    public string? Outcome;
}

/// <summary>A set of builds the load generator waits for.</summary>
internal sealed class LoadPhase(int expected)
{
    private int _remaining = expected;
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Expected { get; } = expected;
    public Task Done => _done.Task;
    public int Ended => Expected - Volatile.Read(ref _remaining);

    internal void OneEnded()
    {
        if (Interlocked.Decrement(ref _remaining) == 0)
        {
            _done.TrySetResult();
        }
    }
}

/// <summary>The events the worker publishes, matched to the builds the load generator published.</summary>
internal sealed class EventTracker
{
    private readonly ConcurrentDictionary<string, BuildTrack> _builds = new(StringComparer.Ordinal);

    private int _unknown;

    public int Unknown => Volatile.Read(ref _unknown);

    public BuildTrack Track(string buildId, LoadPhase phase) => _builds[buildId] = new BuildTrack(phase);

    public void Started(BuildStarted e)
    {
        if (_builds.TryGetValue(e.BuildId, out var track))
        {
            Interlocked.CompareExchange(ref track.PodCreatedTicks, e.At.UtcTicks, 0);
        }
        else
        {
            Interlocked.Increment(ref _unknown);
        }
    }

    public void Ended(string buildId, string outcome)
    {
        if (!_builds.TryGetValue(buildId, out var track))
        {
            Interlocked.Increment(ref _unknown);
            return;
        }
        if (Interlocked.CompareExchange(ref track.EndSeenTicks, DateTimeOffset.UtcNow.UtcTicks, 0) == 0)
        {
            track.Outcome = outcome;
            track.Phase.OneEnded();
        }
    }

    /// <summary>Forgets a phase's builds (the memory phase must not measure the generator's own bookkeeping).</summary>
    public void Forget(IEnumerable<string> buildIds)
    {
        foreach (var id in buildIds)
        {
            _builds.TryRemove(id, out _);
        }
    }
}
