using BuildFarm.Kaniko.Pods;
using k8s.Models;

namespace BuildFarm.Kaniko.Classification;

/// <summary>
/// Where a Kaniko pod stands while it runs, read from its status: started, ended, stuck before it could start, and when
/// its container started. The questions the worker asks of each watch event; how the pod ended is
/// <see cref="PodTermination"/>'s. Pure.
/// </summary>
public static class PodStates
{
    /// <summary>Waiting reasons after which the container will not start without someone changing the pod or the cluster.</summary>
    public static readonly IReadOnlyList<string> StuckWaitingReasons =
        ["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError", "CreateContainerError"];

    /// <summary>The pod runs or ran: a running or ended phase, or any container running or terminated.</summary>
    public static bool IsStarted(V1Pod pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        return pod.Status?.Phase is "Running" or "Succeeded" or "Failed"
            || pod.Status?.ContainerStatuses?.Any(c => c.State?.Running is not null || c.State?.Terminated is not null) == true;
    }

    /// <summary>The pod ended (Succeeded or Failed) or its Kaniko container terminated.</summary>
    public static bool IsTerminated(V1Pod pod, string containerName = KanikoPodFactory.ContainerName)
    {
        ArgumentNullException.ThrowIfNull(pod);
        return pod.Status?.Phase is "Succeeded" or "Failed"
            || pod.Status?.ContainerStatuses?.Any(c => c.Name == containerName && c.State?.Terminated is not null) == true;
    }

    /// <summary>A container waits for a reason in <see cref="StuckWaitingReasons"/> (image pull, container config).</summary>
    public static bool IsStuck(V1Pod pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        return pod.Status?.ContainerStatuses?.Any(c => c.State?.Waiting?.Reason is { } r && StuckWaitingReasons.Contains(r)) == true;
    }

    /// <summary>When the Kaniko container started (running or terminated), in UTC; null before it started.</summary>
    public static DateTimeOffset? ContainerStartedAt(V1Pod pod, string containerName = KanikoPodFactory.ContainerName)
    {
        ArgumentNullException.ThrowIfNull(pod);
        var state = pod.Status?.ContainerStatuses?.FirstOrDefault(c => c.Name == containerName)?.State;
        var started = state?.Running?.StartedAt ?? state?.Terminated?.StartedAt;
        return started is { } s ? new DateTimeOffset(DateTime.SpecifyKind(s, DateTimeKind.Utc)) : null;
    }
}
