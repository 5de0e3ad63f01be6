namespace BuildFarm.Status;

/// <summary>
/// The farm's status records: written by the producers (on submit) and by the event projector (from the farm's
/// events), read by the API. Redis in deployments; in process for <c>buildfarm demo</c> and unit tests. Records
/// expire after the configured TTL. Every write is idempotent under at-least-once delivery.
/// </summary>
public interface IBuildStatusStore
{
    /// <summary>Creates the records of a new batch and its builds in one step; false (nothing written) when the batch exists.</summary>
    Task<bool> CreateBatchAsync(BatchRecord batch, IReadOnlyList<BuildRecord> builds, CancellationToken cancellationToken);

    /// <summary>Creates a build's record; false (nothing written) when it exists.</summary>
    Task<bool> CreateBuildAsync(BuildRecord build, CancellationToken cancellationToken);

    Task<BuildRecord?> GetBuildAsync(string buildId, CancellationToken cancellationToken);

    Task<BatchRecord?> GetBatchAsync(string batchId, CancellationToken cancellationToken);

    /// <summary>
    /// The records of <paramref name="buildIds"/> in one round trip (pipelined on Redis), in the order asked; null where a
    /// build has no record (never made, expired or deleted).
    /// </summary>
    Task<IReadOnlyList<BuildRecord?>> GetBuildsAsync(IReadOnlyList<string> buildIds, CancellationToken cancellationToken);

    /// <summary>The records of a batch's builds, in member order.</summary>
    Task<IReadOnlyList<BuildRecord>> GetBatchBuildsAsync(string batchId, CancellationToken cancellationToken);

    Task<BuildPage> ListBuildsAsync(BuildQuery query, CancellationToken cancellationToken);

    /// <summary>
    /// Applies <paramref name="update"/> to the current record atomically (optimistic: re-read and retry on a
    /// concurrent change). <paramref name="update"/> returns null to leave the record alone (e.g. an event already
    /// applied). Returns the change written, or null when nothing was written or the record does not exist.
    /// Every change written is also announced to <see cref="SubscribeAsync"/> readers.
    /// </summary>
    Task<BuildChange?> UpdateBuildAsync(string buildId, Func<BuildRecord, BuildChange?> update, CancellationToken cancellationToken);

    /// <summary>Removes records whose submit was rolled back (the broker refused the publish).</summary>
    Task DeleteAsync(string? batchId, IReadOnlyList<string> buildIds, CancellationToken cancellationToken);

    /// <summary>
    /// Live changes to one build (<paramref name="buildId"/>) or to every build of one batch (<paramref name="batchId"/>),
    /// from the moment of the call until cancelled. Readers first read the current records, then follow this stream,
    /// skipping versions they have seen.
    /// </summary>
    IAsyncEnumerable<BuildChange> SubscribeAsync(string? buildId, string? batchId, CancellationToken cancellationToken);
}
