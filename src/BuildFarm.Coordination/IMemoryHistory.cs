namespace BuildFarm.Coordination;

/// <summary>
/// The memory an image's builds need, learned from OOM kills (docs/scheduling.md "Memory learned from history"): keyed by
/// the build's first destination repository without tag or digest (<c>registry.example.com/team/app</c>), written only after
/// an attempt was OOM-killed and its retry raised the figure, read once per build (pipelined with the build's first
/// coordination round trip, so a build that never OOMed pays no extra round trip).
/// </summary>
public interface IMemoryHistory
{
    /// <summary>The figure learned for <paramref name="repository"/>, or null when none (or it expired).</summary>
    Task<LearnedMemory?> FindAsync(string repository, CancellationToken cancellationToken);

    /// <summary>Records <paramref name="memory"/> for <paramref name="repository"/> for <paramref name="ttl"/>, replacing any earlier figure.</summary>
    Task RecordAsync(string repository, LearnedMemory memory, TimeSpan ttl, CancellationToken cancellationToken);
}

/// <summary>A learned memory figure in bytes: the limit and the request (null: none).</summary>
public sealed record LearnedMemory(long LimitBytes, long? RequestBytes)
{
    /// <summary>The longest repository name a figure is kept for (the key holds it).</summary>
    public const int MaxRepositoryLength = 512;

    /// <summary>The largest figure kept (1 PiB).</summary>
    public const long MaxBytes = 1L << 50;

    internal static void Check(string repository, LearnedMemory? memory, TimeSpan ttl)
    {
        CheckRepository(repository);
        ArgumentNullException.ThrowIfNull(memory);
        if (memory.LimitBytes is < 1 or > MaxBytes || memory.RequestBytes is < 1 or > MaxBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(memory), memory, $"memory figures must be between 1 and {MaxBytes} bytes");
        }
        if (ttl < TimeSpan.FromMilliseconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(ttl), ttl, "a learned figure needs a positive time to live");
        }
    }

    internal static void CheckRepository(string repository)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(repository);
        if (repository.Length > MaxRepositoryLength)
        {
            throw new ArgumentException($"repository: {repository.Length} characters, over the limit of {MaxRepositoryLength}", nameof(repository));
        }
    }

    /// <summary>A stored figure read back, or null when it is not one (a key written by something else is ignored, not trusted).</summary>
    internal static LearnedMemory? Read(long? limit, long? request) =>
        limit is >= 1 and <= MaxBytes && request is null or (>= 1 and <= MaxBytes) ? new LearnedMemory(limit.Value, request) : null;
}
