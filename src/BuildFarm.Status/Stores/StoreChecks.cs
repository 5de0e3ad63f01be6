namespace BuildFarm.Status.Stores;

/// <summary>Argument checks and record stamping shared by both stores, so they reject and stamp alike.</summary>
internal static class StoreChecks
{
    public const int MaxLimit = 1000;

    public static void Build(BuildRecord build)
    {
        ArgumentNullException.ThrowIfNull(build);
        ArgumentException.ThrowIfNullOrWhiteSpace(build.BuildId, "build.BuildId");
        Tenant(build.Tenant, "build.Tenant");
    }

    /// <summary>A tenant, when given, must be a tenant name (it becomes part of Redis index keys).</summary>
    public static void Tenant(string? tenant, string paramName)
    {
        if (tenant is not null && Tenants.Problem(tenant) is { } problem)
        {
            throw new ArgumentException(problem, paramName);
        }
    }

    public static void Batch(BatchRecord batch, IReadOnlyList<BuildRecord> builds)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(builds);
        ArgumentException.ThrowIfNullOrWhiteSpace(batch.BatchId, "batch.BatchId");
        Tenant(batch.Tenant, "batch.Tenant");
        foreach (var build in builds)
        {
            Build(build);
            if (!string.Equals(build.BatchId, batch.BatchId, StringComparison.Ordinal))
            {
                throw new ArgumentException($"build '{build.BuildId}' has batch id '{build.BatchId}', not '{batch.BatchId}'", nameof(builds));
            }
            if (!string.Equals(build.Tenant, batch.Tenant, StringComparison.Ordinal))
            {
                throw new ArgumentException($"build '{build.BuildId}' has tenant '{build.Tenant}', not its batch's '{batch.Tenant}'", nameof(builds));
            }
        }
        var duplicate = builds.GroupBy(b => b.BuildId, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"build id '{duplicate.Key}' appears twice in the batch", nameof(builds));
        }
    }

    public static void BuildIds(IReadOnlyList<string> buildIds)
    {
        ArgumentNullException.ThrowIfNull(buildIds);
        for (var i = 0; i < buildIds.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(buildIds[i]))
            {
                throw new ArgumentException($"buildIds[{i}]: a build id is required", nameof(buildIds));
            }
        }
    }

    public static void Query(BuildQuery query)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Limit is < 1 or > MaxLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(query), query.Limit, $"limit must be between 1 and {MaxLimit}");
        }
        Tenant(query.Tenant, "query.Tenant");
    }

    /// <summary>
    /// The record's place in list order: submit time (milliseconds, zero-padded so that the ordinal order is the time
    /// order) then build id. Fixed for the record's life (updates keep the submit time), so it is a stable continue token.
    /// </summary>
    public static string SortKey(BuildRecord build) =>
        $"{Math.Max(0, build.SubmittedAt.ToUnixTimeMilliseconds()):D15}|{build.BuildId}";

    /// <summary>A new record as stored (<see cref="StoredBuildRecord"/>): version 1, updated now (unless the caller set them).</summary>
    public static BuildRecord New(BuildRecord build, DateTimeOffset now) => build.Stored() with
    {
        Version = build.Version > 0 ? build.Version : 1,
        UpdatedAt = build.UpdatedAt == default ? now : build.UpdatedAt,
    };

    /// <summary>
    /// The change an update returned, stamped by the store: same build id, version one above the stored one, updated
    /// now; the tenant is kept (an update may set it only on a record that has none, never change it). Null passes through.
    /// </summary>
    public static BuildChange? Stamp(BuildRecord current, BuildChange? change, DateTimeOffset now)
    {
        if (change is null)
        {
            return null;
        }
        if (string.IsNullOrWhiteSpace(change.Event))
        {
            throw new InvalidOperationException($"an update of build '{current.BuildId}' returned a change without an event name");
        }
        Tenant(change.Record.Tenant, "change.Record.Tenant");
        var record = change.Record with
        {
            BuildId = current.BuildId,
            Tenant = current.Tenant ?? change.Record.Tenant,
            SubmittedAt = current.SubmittedAt,
            Version = current.Version + 1,
            UpdatedAt = now,
        };
        return change with { Record = record };
    }
}
