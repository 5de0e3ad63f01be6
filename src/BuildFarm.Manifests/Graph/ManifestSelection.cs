namespace BuildFarm.Manifests.Graph;

public enum ManifestSelectionKind
{
    /// <summary>Every image.</summary>
    All,

    /// <summary><c>--only a,b</c>: the named images plus everything they depend on, transitively.</summary>
    Only,

    /// <summary><c>--changed PATHS</c>: images whose folder or Dockerfile a changed path touches, plus their dependents.</summary>
    Changed,

    /// <summary>The named images plus everything built on them, transitively (a scheduled rebuild).</summary>
    WithDependents,
}

/// <summary>Which images of a manifest a batch builds; <see cref="ManifestGraph.Select"/> resolves it.</summary>
public sealed record ManifestSelection
{
    private ManifestSelection(ManifestSelectionKind kind, IReadOnlyList<string> values)
    {
        Kind = kind;
        Values = values;
    }

    public ManifestSelectionKind Kind { get; }

    /// <summary>Image names (<see cref="ManifestSelectionKind.Only"/>, <see cref="ManifestSelectionKind.WithDependents"/>)
    /// or changed paths (<see cref="ManifestSelectionKind.Changed"/>).</summary>
    public IReadOnlyList<string> Values { get; }

    public static ManifestSelection All { get; } = new(ManifestSelectionKind.All, []);

    public static ManifestSelection Only(IEnumerable<string> names) => new(ManifestSelectionKind.Only, List(names, nameof(names)));

    public static ManifestSelection Changed(IEnumerable<string> paths) => new(ManifestSelectionKind.Changed, List(paths, nameof(paths)));

    public static ManifestSelection WithDependents(IEnumerable<string> names) => new(ManifestSelectionKind.WithDependents, List(names, nameof(names)));

    public override string ToString() => Kind switch
    {
        ManifestSelectionKind.All => "all images",
        ManifestSelectionKind.Only => $"--only {string.Join(",", Values)}",
        ManifestSelectionKind.Changed => $"--changed {string.Join(",", Values)}",
        _ => $"{string.Join(",", Values)} and their dependents",
    };

    private static List<string> List(IEnumerable<string> values, string name)
    {
        ArgumentNullException.ThrowIfNull(values, name);
        return [.. values.Select(v => v.Trim()).Where(v => v.Length > 0).Distinct(StringComparer.Ordinal)];
    }
}

/// <summary>A selection that does not fit the manifest: an unknown image name or a path outside the repository.</summary>
public sealed class ManifestSelectionException : Exception
{
    public ManifestSelectionException()
    {
    }

    public ManifestSelectionException(string message) : base(message)
    {
    }

    public ManifestSelectionException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
