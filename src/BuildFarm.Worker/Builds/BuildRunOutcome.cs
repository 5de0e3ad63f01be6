namespace BuildFarm.Worker.Builds;

/// <summary>How a build ended on this worker.</summary>
/// <param name="Outcome"><c>succeeded</c>, <c>failed</c>, <c>cancelled</c> or <c>deduplicated</c>.</param>
/// <param name="Reason">The failure reason when not succeeded.</param>
/// <param name="Digest">The pushed digest when succeeded or deduplicated.</param>
/// <param name="Attempts">Pods this build ran (0 when deduplicated or invalid).</param>
public sealed record BuildRunOutcome(string Outcome, string? Reason, string? Digest, int Attempts);

/// <summary>The destination lock was lost while the build ran: success is not published, the message goes back to the queue.</summary>
public sealed class LeaseLostException(string message) : Exception(message);

/// <summary>
/// The Kubernetes API refused a pod because of the farm's own set-up (the worker's RBAC, a missing namespace, its
/// credentials), not because of the build: the message goes back to the queue until an operator fixes it.
/// </summary>
public sealed class FarmMisconfiguredException(string message, Exception inner) : Exception(message, inner);

/// <summary>The message is a second copy of an admitted build (another copy started it, or it has ended): the consumer acks
/// it and runs nothing (docs/scheduling.md "Admission").</summary>
public sealed class DuplicateDeliveryException(string buildId, BuildFarm.Coordination.Scheduling.AdmissionStart start)
    : Exception($"build {buildId}: {(start == BuildFarm.Coordination.Scheduling.AdmissionStart.Ended ? "has ended" : "was started by another message")}; this copy is dropped")
{
    public string BuildId { get; } = buildId;
}
