using k8s.Models;

namespace BuildFarm.Kaniko.Classification;

/// <summary>
/// What the pod status says about how a Kaniko pod ended: the part of a <see cref="V1Pod"/> that
/// <see cref="FailureClassifier"/> needs, small enough to build by hand in tests.
/// </summary>
public sealed record PodTermination
{
    /// <summary><c>Pending</c>, <c>Running</c>, <c>Succeeded</c>, <c>Failed</c>, <c>Unknown</c>.</summary>
    public string? PodPhase { get; init; }

    /// <summary>Pod status reason: <c>Evicted</c>, <c>DeadlineExceeded</c>, <c>NodeLost</c>, <c>NodeShutdown</c>, <c>Terminated</c>…</summary>
    public string? PodReason { get; init; }

    public string? PodMessage { get; init; }

    /// <summary>Reason of a true <c>DisruptionTarget</c> condition: <c>EvictionByEvictionAPI</c>,
    /// <c>PreemptionByScheduler</c>, <c>DeletionByTaintManager</c>, <c>DeletionByPodGC</c>, <c>TerminationByKubelet</c>.</summary>
    public string? DisruptionReason { get; init; }

    /// <summary>The container's exit code, when it terminated.</summary>
    public int? ExitCode { get; init; }

    /// <summary>Terminated reason: <c>Completed</c>, <c>Error</c>, <c>OOMKilled</c>, <c>ContainerStatusUnknown</c>…</summary>
    public string? TerminatedReason { get; init; }

    /// <summary>Terminated message: the digest on success (<c>--digest-file=/dev/termination-log</c>), the log tail on failure.</summary>
    public string? TerminatedMessage { get; init; }

    /// <summary>Waiting reason: <c>ImagePullBackOff</c>, <c>ErrImagePull</c>, <c>ContainerCreating</c>…</summary>
    public string? WaitingReason { get; init; }

    public string? WaitingMessage { get; init; }

    /// <summary>True when the container terminated.</summary>
    public bool Terminated => ExitCode is not null;

    /// <summary>
    /// Reads the snapshot from <paramref name="pod"/>'s status, for the container named
    /// <paramref name="containerName"/> (the Kaniko container). Missing parts stay null.
    /// </summary>
    public static PodTermination FromPod(V1Pod pod, string containerName)
    {
        ArgumentNullException.ThrowIfNull(pod);
        ArgumentException.ThrowIfNullOrEmpty(containerName);
        var status = pod.Status;
        var container = status?.ContainerStatuses?.FirstOrDefault(c => c.Name == containerName);
        var terminated = container?.State?.Terminated ?? container?.LastState?.Terminated;
        var waiting = terminated is null ? container?.State?.Waiting : null;
        var disruption = status?.Conditions?.FirstOrDefault(c =>
            c.Type == "DisruptionTarget" && string.Equals(c.Status, "True", StringComparison.OrdinalIgnoreCase));
        return new PodTermination
        {
            PodPhase = status?.Phase,
            PodReason = status?.Reason,
            PodMessage = status?.Message,
            DisruptionReason = disruption?.Reason,
            ExitCode = terminated?.ExitCode,
            TerminatedReason = terminated?.Reason,
            TerminatedMessage = terminated?.Message,
            WaitingReason = waiting?.Reason,
            WaitingMessage = waiting?.Message,
        };
    }
}
