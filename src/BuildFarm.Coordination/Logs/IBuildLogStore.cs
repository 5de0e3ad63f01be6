namespace BuildFarm.Coordination.Logs;

/// <summary>
/// Where each build attempt's log lives (docs/logs.md): the lines as Kubernetes served them, each with its Kubernetes
/// timestamp (<c>2026-12-05T12:00:00.123456789Z text</c>), keyed by build id and attempt, kept as long as the build's
/// record. Written by the worker in batches (<see cref="BuildLogWriter"/>), read by the API.
/// </summary>
public interface IBuildLogStore
{
    /// <summary>Appends <paramref name="lines"/> to the attempt's log and records <paramref name="state"/> (the state
    /// after the append) in one round trip. <paramref name="lines"/> may be empty (a state change only, e.g. the end).</summary>
    Task AppendAsync(string buildId, int attempt, IReadOnlyList<string> lines, BuildLogState state, CancellationToken cancellationToken);

    /// <summary>The attempt's state, or null when nothing was stored for it (or it expired).</summary>
    Task<BuildLogState?> GetStateAsync(string buildId, int attempt, CancellationToken cancellationToken);

    /// <summary>Up to <paramref name="maxLines"/> stored lines from line <paramref name="offset"/> (0-based), and the state,
    /// in one round trip.</summary>
    Task<BuildLogPage> ReadAsync(string buildId, int attempt, long offset, int maxLines, CancellationToken cancellationToken);

    /// <summary>Removes the attempt's log (its lines and state); nothing when there is none.</summary>
    Task DeleteAsync(string buildId, int attempt, CancellationToken cancellationToken);
}

/// <summary>
/// What the store knows about one attempt's log.
/// </summary>
/// <param name="Lines">Lines stored (the cut marker included).</param>
/// <param name="Bytes">UTF-8 bytes stored, a newline per line included.</param>
/// <param name="LastTimestamp">Kubernetes timestamp (UTC ticks) of the last stored line that had one; the resume point.</param>
/// <param name="AtLastTimestamp">How many stored lines carry <paramref name="LastTimestamp"/> (Kubernetes timestamps may
/// have one-second resolution: many lines share one).</param>
/// <param name="CutLines">Lines cut from the middle (over the per-attempt cap).</param>
/// <param name="CutBytes">Bytes cut from the middle.</param>
/// <param name="Ended">The attempt ended: no line will be added.</param>
public sealed record BuildLogState(long Lines, long Bytes, long? LastTimestamp, int AtLastTimestamp, long CutLines, long CutBytes, bool Ended)
{
    public static BuildLogState Empty { get; } = new(0, 0, null, 0, 0, 0, false);
}

/// <param name="Lines">The lines read, each as stored (with its Kubernetes timestamp).</param>
/// <param name="Offset">The index of the first line returned.</param>
/// <param name="State">The attempt's state; null when nothing was stored for it.</param>
public sealed record BuildLogPage(IReadOnlyList<string> Lines, long Offset, BuildLogState? State)
{
    /// <summary>The offset to read next.</summary>
    public long Next => Offset + Lines.Count;
}

/// <summary>Argument checks shared by the stores.</summary>
public static class BuildLogArguments
{
    /// <summary>The highest attempt number a store accepts.</summary>
    public const int MaxAttempt = 1000;

    /// <summary>The most lines one read returns.</summary>
    public const int MaxReadLines = 10_000;

    public static void Check(string buildId, int attempt)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(buildId);
        if (buildId.Length > 200 || buildId.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '{' or '}'))
        {
            throw new ArgumentException($"'{buildId}' is not a build id", nameof(buildId));
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(attempt, MaxAttempt);
    }

    public static void CheckRead(string buildId, int attempt, long offset, int maxLines)
    {
        Check(buildId, attempt);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLines, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxLines, MaxReadLines);
    }
}
