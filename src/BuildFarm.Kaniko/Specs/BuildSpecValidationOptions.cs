namespace BuildFarm.Kaniko.Specs;

/// <summary>Limits and the destination allow-list <see cref="BuildSpecValidator"/> checks a spec against.</summary>
public sealed class BuildSpecValidationOptions
{
    /// <summary>The defaults: no allow-list (every registry allowed) and the limits below.</summary>
    public static BuildSpecValidationOptions Default { get; } = new();

    /// <summary>
    /// Patterns a destination (and the cache repository) must match, written against the normalised name
    /// <c>registry/repository</c> without tag: <c>registry.example.com/team/*</c>. <c>*</c> matches within
    /// one path component, <c>**</c> matches across components. Empty = every destination is allowed.
    /// </summary>
    public IList<string> AllowedDestinations { get; init; } = [];

    public int MaxDestinations { get; init; } = 16;
    public int MaxBuildArgs { get; init; } = 64;

    /// <summary>Largest build-arg value, in UTF-8 bytes.</summary>
    public int MaxBuildArgValueBytes { get; init; } = 4096;

    public int MaxLabels { get; init; } = 64;

    /// <summary>Largest label value, in UTF-8 bytes.</summary>
    public int MaxLabelValueBytes { get; init; } = 4096;

    /// <summary>Longest deadline a spec may ask for (default 6 h).</summary>
    public int MaxDeadlineSeconds { get; init; } = 6 * 3600;
}
