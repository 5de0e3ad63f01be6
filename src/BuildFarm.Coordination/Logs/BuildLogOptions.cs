namespace BuildFarm.Coordination.Logs;

/// <summary>The <c>Logs</c> configuration section, read by the worker (which writes logs) and the API (which reads them).</summary>
public sealed class BuildLogOptions
{
    public const string SectionName = "Logs";

    /// <summary>Whether the worker stores attempt logs at all.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Prefix of every key of the Redis log store.</summary>
    public string KeyPrefix { get; set; } = "buildfarm:logs:";

    /// <summary>Bytes one attempt's log may take; past it the head (half) and the tail (half) are kept and a marker
    /// line says how much was cut between them.</summary>
    public long MaxAttemptBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Buffered bytes that make the worker write at once.</summary>
    public int FlushBytes { get; set; } = 64 * 1024;

    /// <summary>The longest a line waits in the worker before it is written.</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How long a log stays after its last write: as long as the build's record (<c>Status:RecordTtl</c>).</summary>
    public TimeSpan Ttl { get; set; } = TimeSpan.FromDays(7);

    /// <summary>
    /// Optional: a directory (a mounted volume the workers and the API share) that finished attempt logs move to from
    /// Redis, one file per attempt (<see cref="BuildLogArchive"/>); unset keeps every log in Redis until its TTL.
    /// </summary>
    public string? ArchiveDirectory { get; set; }

    /// <summary>The largest archive file: a log is at most <see cref="MaxAttemptBytes"/> plus its marker and header.</summary>
    public long MaxArchiveFileBytes => (2 * MaxAttemptBytes) + (64 * 1024);

    /// <summary><paramref name="live"/>, with the archive behind it when <see cref="ArchiveDirectory"/> is set.</summary>
    public IBuildLogStore WithArchive(IBuildLogStore live) =>
        string.IsNullOrWhiteSpace(ArchiveDirectory) ? live : new ArchivingBuildLogStore(live, new BuildLogArchive(ArchiveDirectory, MaxArchiveFileBytes));

    public const long MinAttemptBytes = 1024;
    public const long MaxMaxAttemptBytes = 256L * 1024 * 1024;

    /// <summary>Every problem, each naming its setting; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrEmpty(KeyPrefix))
        {
            errors.Add($"{SectionName}:KeyPrefix: is required (e.g. 'buildfarm:logs:')");
        }
        if (MaxAttemptBytes is < MinAttemptBytes or > MaxMaxAttemptBytes)
        {
            errors.Add($"{SectionName}:MaxAttemptBytes: must be between {MinAttemptBytes} and {MaxMaxAttemptBytes}, was {MaxAttemptBytes}");
        }
        if (FlushBytes is < 1024 or > 8 * 1024 * 1024)
        {
            errors.Add($"{SectionName}:FlushBytes: must be between 1024 and 8388608, was {FlushBytes}");
        }
        if (FlushInterval < TimeSpan.FromMilliseconds(10) || FlushInterval > TimeSpan.FromMinutes(1))
        {
            errors.Add($"{SectionName}:FlushInterval: must be between 10 ms and 1 minute (e.g. '00:00:00.250'), was '{FlushInterval}'");
        }
        if (ArchiveDirectory is { } archive && (archive.Length is 0 or > 4096 || archive.Any(char.IsControl) || string.IsNullOrWhiteSpace(archive)))
        {
            errors.Add($"{SectionName}:ArchiveDirectory: must be a directory path of 1 to 4096 characters without control characters, or unset");
        }
        if (Ttl <= TimeSpan.Zero)
        {
            errors.Add($"{SectionName}:Ttl: must be positive (e.g. '7.00:00:00'), was '{Ttl}'");
        }
        return errors;
    }
}
