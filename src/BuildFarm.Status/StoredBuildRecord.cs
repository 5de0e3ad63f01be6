using System.Diagnostics.CodeAnalysis;

namespace BuildFarm.Status;

/// <summary>
/// A build's record as the status store keeps it: the public <see cref="BuildRecord"/> plus the batch orchestrator's own
/// state (<see cref="DependencyBuildArgs"/>, <see cref="Dependents"/>, <see cref="ReleasedBy"/>), which the API never
/// answers (<see cref="BuildRecord.AsWire"/> drops it). Stored as one JSON document, the orchestrator's fields beside the
/// public ones (the layout records had before the split), so one atomic update covers both: the orchestrator's claim and
/// the state change it makes. The stores always read records back as this type; a change made through a
/// <see cref="BuildRecord"/> (<c>with</c>) keeps the orchestrator's fields, as <c>with</c> copies the runtime type.
/// </summary>
public sealed record StoredBuildRecord : BuildRecord
{
    public StoredBuildRecord()
    {
    }

    /// <summary>A public record with no orchestrator state yet.</summary>
    [SetsRequiredMembers]
    public StoredBuildRecord(BuildRecord record)
        : base(record)
    {
    }

    /// <summary>
    /// Batch builds: build arg name → the build id of the dependency whose pinned reference (<c>repo@sha256:…</c>) it
    /// receives when the build is published. Written by the batch orchestrator from <c>SubmitBatch</c>.
    /// </summary>
    public IReadOnlyDictionary<string, string> DependencyBuildArgs { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// Batch builds: the build ids that depend directly on this build (the reverse of <see cref="BuildRecord.DependsOn"/>),
    /// written by the batch orchestrator from <c>SubmitBatch</c> so that advancing a batch reads only the builds an event
    /// affects. Null when not recorded (a record from before the orchestrator kept reverse edges, or not a batch build): the
    /// orchestrator then falls back to reading the whole batch. Empty for a batch build nothing depends on.
    /// </summary>
    public IReadOnlyList<string>? Dependents { get; init; }

    /// <summary>
    /// Batch builds: who ended the wait: the orchestrator's claim (the id of the message that released the build or
    /// failed it as <c>dependency_failed</c>). Set once; it is what makes two orchestrators publish a build exactly once.
    /// </summary>
    public string? ReleasedBy { get; init; }

    /// <summary>
    /// Batch builds: the expected seconds from this build's start to the end of its batch along its longest chain of
    /// dependents (<c>CriticalPath</c> over the images' expected durations), computed once when the batch is submitted and
    /// sent with the build as <c>BuildImage.CriticalPathSeconds</c> (docs/scheduling.md). Null when not computed.
    /// </summary>
    public double? PathSeconds { get; init; }
}

public static class StoredBuildRecords
{
    /// <summary><paramref name="record"/> with its orchestrator state: itself when read from a store, else with none.</summary>
    public static StoredBuildRecord Stored(this BuildRecord record) =>
        record as StoredBuildRecord ?? new StoredBuildRecord(record ?? throw new ArgumentNullException(nameof(record)));
}
