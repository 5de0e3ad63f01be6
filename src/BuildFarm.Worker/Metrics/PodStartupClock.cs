using k8s.Models;

namespace BuildFarm.Worker.Metrics;

/// <summary>
/// Times a pod's start-up on the worker's clock: from <see cref="Start"/> (the create answered) to the moment the pod
/// watch first shows the pod started, taken inside the wait condition (which the watch evaluates as the event arrives),
/// not when the waiting build resumes: a busy thread pool would otherwise add its queueing delay. The pod's own
/// <c>creationTimestamp</c> and <c>startedAt</c> have 1 s resolution, too coarse for the start-up buckets.
/// </summary>
public sealed class PodStartupClock
{
    private readonly TimeProvider _time;
    private readonly long _started;
    private long _seen;

    private PodStartupClock(TimeProvider time)
    {
        _time = time;
        _started = time.GetTimestamp();
    }

    public static PodStartupClock Start(TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        return new PodStartupClock(time);
    }

    /// <summary>The wait condition <paramref name="started"/>, noting the time it first holds.</summary>
    public Func<V1Pod, bool> Until(Func<V1Pod, bool> started)
    {
        ArgumentNullException.ThrowIfNull(started);
        return pod =>
        {
            if (!started(pod))
            {
                return false;
            }
            Interlocked.CompareExchange(ref _seen, _time.GetTimestamp(), 0);
            return true;
        };
    }

    /// <summary>From the start to the condition first holding (to now when it never held).</summary>
    public TimeSpan Elapsed
    {
        get
        {
            var seen = Interlocked.Read(ref _seen);
            return seen == 0 ? _time.GetElapsedTime(_started) : _time.GetElapsedTime(_started, seen);
        }
    }
}
