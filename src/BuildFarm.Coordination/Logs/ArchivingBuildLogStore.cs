namespace BuildFarm.Coordination.Logs;

/// <summary>
/// A live store (Redis) with an archive directory behind it (<c>Logs:ArchiveDirectory</c>): writes go to the live store;
/// <see cref="ArchiveAsync"/> moves a finished attempt's log to a file (written atomically, then deleted from the live
/// store); reads answer from the live store while it has the log, else from the file — the same pages either way.
/// </summary>
public sealed class ArchivingBuildLogStore(IBuildLogStore live, BuildLogArchive archive) : IBuildLogStore
{
    public BuildLogArchive Archive => archive;

    public Task AppendAsync(string buildId, int attempt, IReadOnlyList<string> lines, BuildLogState state, CancellationToken cancellationToken) =>
        live.AppendAsync(buildId, attempt, lines, state, cancellationToken);

    public async Task<BuildLogState?> GetStateAsync(string buildId, int attempt, CancellationToken cancellationToken) =>
        await live.GetStateAsync(buildId, attempt, cancellationToken).ConfigureAwait(false)
        ?? (await archive.ReadAsync(buildId, attempt, 0, 1, cancellationToken).ConfigureAwait(false)).State;

    public async Task<BuildLogPage> ReadAsync(string buildId, int attempt, long offset, int maxLines, CancellationToken cancellationToken)
    {
        var page = await live.ReadAsync(buildId, attempt, offset, maxLines, cancellationToken).ConfigureAwait(false);
        return page.State is not null ? page : await archive.ReadAsync(buildId, attempt, offset, maxLines, cancellationToken).ConfigureAwait(false);
    }

    public async Task DeleteAsync(string buildId, int attempt, CancellationToken cancellationToken)
    {
        await live.DeleteAsync(buildId, attempt, cancellationToken).ConfigureAwait(false);
        archive.Delete(buildId, attempt);
    }

    /// <summary>
    /// Moves the attempt's log from the live store to its file: read whole (pages of <see cref="BuildLogArguments.MaxReadLines"/>),
    /// written under a temporary name and renamed, then deleted from the live store. Only an ended log of an id that can
    /// name a file is moved, and only within the archive's size bound; otherwise it stays live. True when moved.
    /// </summary>
    public async Task<bool> ArchiveAsync(string buildId, int attempt, CancellationToken cancellationToken)
    {
        if (!BuildLogArchive.IsArchivable(buildId))
        {
            return false;
        }
        var lines = new List<string>();
        BuildLogState? state = null;
        long offset = 0;
        while (true)
        {
            var page = await live.ReadAsync(buildId, attempt, offset, BuildLogArguments.MaxReadLines, cancellationToken).ConfigureAwait(false);
            if (page.State is not { Ended: true } ended)
            {
                return false;
            }
            state = ended;
            lines.AddRange(page.Lines);
            offset = page.Next;
            if (page.Lines.Count < BuildLogArguments.MaxReadLines)
            {
                break;
            }
        }
        if (!await archive.WriteAsync(buildId, attempt, lines, state, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }
        await live.DeleteAsync(buildId, attempt, cancellationToken).ConfigureAwait(false);
        return true;
    }
}
