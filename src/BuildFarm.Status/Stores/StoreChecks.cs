namespace BuildFarm.Status.Stores;

/// <summary>Argument checks and record stamping shared by both stores, so they reject and stamp alike.</summary>
internal static class StoreChecks
{
    public const int MaxLimit = 1000;

    public static void Build(BuildRecord build)
    {
        ArgumentNullException.ThrowIfNull(build);
        ArgumentException.ThrowIfNullOrWhiteSpace(build.BuildId, "build.BuildId");
    }

    public static void Batch(BatchRecord batch, IReadOnlyList<BuildRecord> builds)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(builds);
        ArgumentException.ThrowIfNullOrWhiteSpace(batch.BatchId, "batch.BatchId");
        foreach (var build in builds)
        {
            Build(build);
            if (!string.Equals(build.BatchId, batch.BatchId, StringComparison.Ordinal))
            {
                throw new ArgumentException($"build '{build.BuildId}' has batch id '{build.BatchId}', not '{batch.BatchId}'", nameof(builds));
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
    }

    /// <summary>
    /// The record's place in list order: submit time (milliseconds, zero-padded so that the ordinal order is the time
    /// order) then build id. Fixed for the record's life (updates keep the submit time), so it is a stable continue token.
    /// </summary>
    public static string SortKey(BuildRecord build) =>
        $"{Math.Max(0, build.SubmittedAt.ToUnixTimeMilliseconds()):D15}|{build.BuildId}";

    /// <summary>A new record: version 1, updated now (unless the caller set them).</summary>
    public static BuildRecord New(BuildRecord build, DateTimeOffset now) => build with
    {
        Version = build.Version > 0 ? build.Version : 1,
        UpdatedAt = build.UpdatedAt == default ? now : build.UpdatedAt,
    };

    /// <summary>
    /// The change an update returned, stamped by the store: same build id and batch, version one above the stored one,
    /// updated now. Null passes through.
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
        var record = change.Record with
        {
            BuildId = current.BuildId,
            SubmittedAt = current.SubmittedAt,
            Version = current.Version + 1,
            UpdatedAt = now,
        };
        return change with { Record = record };
    }
}
