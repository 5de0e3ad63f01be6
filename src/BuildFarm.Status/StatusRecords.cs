namespace BuildFarm.Status;

/// <summary>A batch: a manifest fan-out. Per-image state lives in the builds' records.</summary>
public sealed record BatchRecord
{
    public required string BatchId { get; init; }
    public string? Source { get; init; }
    public string? RequestedBy { get; init; }

    /// <summary>The tenant that owns the batch, and every build of it (<see cref="BuildRecord.Tenant"/>); null on batches from before tenants.</summary>
    public string? Tenant { get; init; }

    public DateTimeOffset SubmittedAt { get; init; }

    /// <summary>Image name → build id, in manifest order.</summary>
    public required IReadOnlyList<BatchMember> Members { get; init; }
}

public sealed record BatchMember(string Name, string BuildId);

/// <summary>A change to a build, as streamed to live readers (SSE).</summary>
/// <param name="Record">The record after the change.</param>
/// <param name="Event">What happened, e.g. <c>queued</c>, <c>started</c>, <c>attempt_failed</c>, <c>succeeded</c>.</param>
public sealed record BuildChange(BuildRecord Record, string Event);

/// <summary>A list query: every filter optional.</summary>
public sealed record BuildQuery
{
    public BuildState? State { get; init; }
    public string? BatchId { get; init; }

    /// <summary>
    /// Only builds this tenant owns (answered from the store's per-tenant index, so pages stay correct); null = every
    /// tenant's builds, records without a tenant included (for admin keys). Producers of a query for a caller must set it.
    /// </summary>
    public string? Tenant { get; init; }

    public int Limit { get; init; } = 100;
    public string? Continue { get; init; }

    /// <summary>True when <paramref name="token"/> is a continue token a store issued (base64url of a sort key): what
    /// the API checks before a list reaches the store.</summary>
    public static bool IsContinueToken(string? token) => Stores.ContinueToken.IsValid(token);
}
