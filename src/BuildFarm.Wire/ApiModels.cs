using BuildFarm.Contracts;

namespace BuildFarm.Wire;

/// <summary>Body of <c>POST /v1/builds</c>.</summary>
public sealed record SubmitBuildRequest
{
    public required BuildSpec Spec { get; init; }

    /// <summary>When the whole build (all attempts) must have ended.</summary>
    public DateTimeOffset? Deadline { get; init; }

    /// <summary>0 (default) to 9; higher is served first.</summary>
    public int Priority { get; init; }
}

/// <summary>Body of <c>POST /v1/batches</c> (JSON form): images with names and dependencies.</summary>
public sealed record SubmitBatchRequest
{
    public required IReadOnlyList<BatchImageRequest> Images { get; init; }

    /// <summary>Where the batch came from, for people (a commit, a pipeline).</summary>
    public string? Source { get; init; }

    public DateTimeOffset? Deadline { get; init; }
    public int Priority { get; init; }
}

/// <summary>One image of a JSON batch.</summary>
public sealed record BatchImageRequest
{
    /// <summary>Unique within the batch; lower-case letters, digits, '.', '_', '-'.</summary>
    public required string Name { get; init; }

    public required BuildSpec Spec { get; init; }

    /// <summary>Images of the same batch that must succeed first; <c>buildArg</c> receives the dependency's pinned reference.</summary>
    public IReadOnlyList<BatchDependency> DependsOn { get; init; } = [];
}

/// <summary>Query of <c>POST /v1/batches</c> with a YAML manifest body.</summary>
public sealed record ManifestSubmitOptions
{
    /// <summary>The commit the manifest is built at (<c>{sha}</c>, <c>{short_sha}</c> in destinations).</summary>
    public string? Sha { get; init; }

    /// <summary>Build only these images (plus what they depend on).</summary>
    public IReadOnlyList<string> Only { get; init; } = [];

    /// <summary>Changed paths: build the images whose context or dockerfile is under one, plus their dependents.</summary>
    public IReadOnlyList<string> Changed { get; init; } = [];
}

/// <summary><c>GET /v1/batches/{id}</c>: progress and per-image state.</summary>
public sealed record BatchStatus
{
    public required string BatchId { get; init; }
    public string? Source { get; init; }
    public string? RequestedBy { get; init; }

    /// <summary>The tenant (team) that owns the batch: the submitting key's. Null for batches from before tenants.</summary>
    public string? Tenant { get; init; }

    public DateTimeOffset SubmittedAt { get; init; }
    public int Total { get; init; }

    /// <summary>Builds per state (wire names, every state present).</summary>
    public IReadOnlyDictionary<string, int> Counts { get; init; } = new Dictionary<string, int>();

    /// <summary>Every build of the batch is final.</summary>
    public bool Done { get; init; }

    /// <summary>Every build of the batch succeeded.</summary>
    public bool Succeeded { get; init; }

    public IReadOnlyList<BatchImageStatus> Images { get; init; } = [];
}

/// <summary>One image of a batch, as <see cref="BatchStatus"/> shows it.</summary>
public sealed record BatchImageStatus
{
    public required string Name { get; init; }
    public required string BuildId { get; init; }
    public BuildState State { get; init; }

    /// <summary>Attempts (pods) so far.</summary>
    public int Attempt { get; init; }

    public string? Digest { get; init; }
    public string? Reason { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? EndedAt { get; init; }
}

/// <summary>One Server-Sent Event of <c>/v1/builds/{id}/events</c> or <c>/v1/batches/{id}/events</c>.</summary>
/// <param name="Id">The SSE id (a build's version; for a batch, the sum of its builds' versions).</param>
/// <param name="Event">The change kind: <c>snapshot</c>, a change such as <c>started</c> or <c>succeeded</c>, or <c>end</c>.</param>
/// <param name="Record">The build's record after the change; null for <c>end</c>.</param>
public sealed record BuildEvent(string? Id, string Event, BuildRecord? Record)
{
    /// <summary>The stream's last event: every build it follows is final.</summary>
    public const string End = "end";

    /// <summary>The current record, sent first when a stream opens.</summary>
    public const string Snapshot = "snapshot";
}
