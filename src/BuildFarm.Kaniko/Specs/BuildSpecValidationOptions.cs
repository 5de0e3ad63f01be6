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

    /// <summary>Most platforms a multi-platform build may name (one pod each; an index joins at most 64).</summary>
    public int MaxPlatforms { get; init; } = 8;
    public int MaxBuildArgs { get; init; } = 64;

    /// <summary>Largest build-arg value, in UTF-8 bytes.</summary>
    public int MaxBuildArgValueBytes { get; init; } = 4096;

    public int MaxLabels { get; init; } = 64;

    /// <summary>Largest label value, in UTF-8 bytes.</summary>
    public int MaxLabelValueBytes { get; init; } = 4096;

    /// <summary>Longest deadline a spec may ask for (default 6 h).</summary>
    public int MaxDeadlineSeconds { get; init; } = 6 * 3600;

    /// <summary>The largest quantity a spec may ask for per resource; null checks only each quantity's form and size.</summary>
    public BuildResourceLimits? MaxResources { get; init; } = new();
}

/// <summary>The largest resource quantities a build may ask for (Kubernetes quantities).</summary>
public sealed record BuildResourceLimits
{
    /// <summary>CPU, for cpuRequest and cpuLimit (cores; default 64).</summary>
    public string Cpu { get; init; } = "64";

    /// <summary>Memory, for memoryRequest and memoryLimit (default 256Gi).</summary>
    public string Memory { get; init; } = "256Gi";

    /// <summary>ephemeralStorageLimit (default 1Ti).</summary>
    public string EphemeralStorage { get; init; } = "1Ti";

    /// <summary>Problems with the limits themselves, each naming its key under <paramref name="prefix"/>.</summary>
    public IReadOnlyList<string> Validate(string prefix)
    {
        var errors = new List<string>();
        foreach (var (name, value) in new[] { (nameof(Cpu), Cpu), (nameof(Memory), Memory), (nameof(EphemeralStorage), EphemeralStorage) })
        {
            if (!Quantity.TryParse(value, out var amount, out var error))
            {
                errors.Add($"{prefix}:{name}: {error}");
            }
            else if (amount <= 0)
            {
                errors.Add($"{prefix}:{name}: '{value}' must be positive");
            }
        }
        return errors;
    }
}
