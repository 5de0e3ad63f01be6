namespace BuildFarm.Kaniko.Logs;

/// <summary>What the analyzer may know about the build besides its log.</summary>
public sealed record KanikoLogAnalyzerOptions
{
    public static KanikoLogAnalyzerOptions Default { get; } = new();

    /// <summary>
    /// The build's <c>--destination</c> references. With them, only pushes to these references count as the
    /// final push (and success needs every one of them pushed); without them, pushes announced as cache pushes
    /// (<c>Pushing layer … to cache now</c>, or a cache repository with a 64-hex cache key tag) are excluded.
    /// </summary>
    public IReadOnlyList<string> Destinations { get; init; } = [];

    /// <summary>
    /// When the executor container started. Only used with the elapsed clock (<c>INFO[0012]</c>) to turn
    /// elapsed seconds into absolute times (<see cref="KanikoLogAnalysis.FirstTimestamp"/>); durations do not need it.
    /// </summary>
    public DateTimeOffset? ContainerStartedAt { get; init; }
}
