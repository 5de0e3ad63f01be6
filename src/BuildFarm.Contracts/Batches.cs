namespace BuildFarm.Contracts;

/// <summary>
/// Submit a whole batch (a manifest fan-out) as one message, so that a batch is published all or nothing.
/// The batch orchestrator expands it: images without dependencies go out at once as <see cref="BuildImage"/>;
/// each dependent goes out when all its dependencies succeeded, with their pinned references as build args;
/// a failed dependency ends its dependents as <c>dependency_failed</c> without building them.
/// Expansion is idempotent (build ids are fixed here), so a redelivered <see cref="SubmitBatch"/> is harmless.
/// </summary>
public sealed record SubmitBatch
{
    public required string BatchId { get; init; }

    /// <summary>The images in any order; the orchestrator follows <see cref="BatchImage.DependsOn"/>.</summary>
    public required IReadOnlyList<BatchImage> Images { get; init; }

    /// <summary>Where the batch came from, for people: a manifest path, a commit, a schedule.</summary>
    public string? Source { get; init; }

    public string? RequestedBy { get; init; }

    /// <summary>
    /// The tenant (team) that owns the batch: the API sets it from the submitting key, so that the orchestrator records it
    /// on the batch and its builds when it creates them. Null from producers without tenants (the scheduler, older
    /// APIs): such records are visible to admin keys only. Build commands and events do not carry it.
    /// </summary>
    public string? Tenant { get; init; }

    public DateTimeOffset SubmittedAt { get; init; }

    /// <summary>When every build of the batch must have ended; copied to each <see cref="BuildImage.Deadline"/>.</summary>
    public DateTimeOffset? Deadline { get; init; }

    public int Priority { get; init; }

    /// <summary>The W3C <c>traceparent</c> of the API's batch submit span, copied to the batch's <see cref="BuildImage.BatchTraceParent"/>; null without tracing.</summary>
    public string? TraceParent { get; init; }
}

/// <summary>One image of a batch.</summary>
public sealed record BatchImage
{
    /// <summary>The image's name in the manifest, unique within the batch.</summary>
    public required string Name { get; init; }

    /// <summary>The build id the image's <see cref="BuildImage"/> will carry (chosen by the producer).</summary>
    public required string BuildId { get; init; }

    /// <summary>The spec without the dependency build args (the orchestrator adds them).</summary>
    public required BuildSpec Spec { get; init; }

    /// <summary>Images of the same batch (by <see cref="Name"/>) that must succeed first.</summary>
    public IReadOnlyList<BatchDependency> DependsOn { get; init; } = [];
}

/// <param name="Image">The name of the image depended on, in the same batch.</param>
/// <param name="BuildArg">When set, the build arg that receives the dependency's pinned reference
/// (<c>registry/repo@sha256:…</c>, the repository of its first destination and the digest this batch pushed).</param>
public sealed record BatchDependency(string Image, string? BuildArg = null);
