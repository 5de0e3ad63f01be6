namespace BuildFarm.Contracts;

/// <summary>Build one image. Published by the API and the CLI; consumed by exactly one worker slot.</summary>
public sealed record BuildImage
{
    /// <summary>Unique id of the build (the producer chooses it; it names the build's pods).</summary>
    public required string BuildId { get; init; }

    public required BuildSpec Spec { get; init; }

    /// <summary>The batch (manifest fan-out) the build belongs to, if any.</summary>
    public string? BatchId { get; init; }

    /// <summary>Build ids of the same batch that must succeed first.</summary>
    public IReadOnlyList<string> DependsOn { get; init; } = [];

    /// <summary>0 (default) to 9; higher is served first where the transport supports priorities.</summary>
    public int Priority { get; init; }

    /// <summary>Who asked: an API key name, a CI job, a schedule.</summary>
    public string? RequestedBy { get; init; }

    public DateTimeOffset SubmittedAt { get; init; }

    /// <summary>When the whole build (all attempts) must have ended; past it the build ends as <c>deadline_exceeded</c>.</summary>
    public DateTimeOffset? Deadline { get; init; }

    /// <summary>
    /// The W3C <c>traceparent</c> of the span that submitted this build's batch (<see cref="SubmitBatch.TraceParent"/>):
    /// the worker's build span links to it (docs/tracing.md). Null outside a batch or without tracing.
    /// </summary>
    public string? BatchTraceParent { get; init; }

    /// <summary>
    /// Expected seconds from this build's start to the end of its batch along its longest chain of dependents (its own
    /// expected duration included), from the images' build history; set by the batch orchestrator and used to order ready
    /// builds (docs/scheduling.md). Null outside a batch or when unknown.
    /// </summary>
    public double? CriticalPathSeconds { get; init; }
}

/// <summary>Cancel a build: its pod is deleted and it ends as <c>cancelled</c>.</summary>
public sealed record CancelBuild
{
    public required string BuildId { get; init; }
    public string? RequestedBy { get; init; }
    public DateTimeOffset RequestedAt { get; init; }
}
