using BuildFarm.Kaniko.Graphs;
using BuildFarm.Kaniko.Specs;
using BuildFarm.Manifests.Model;

namespace BuildFarm.Manifests.Graph;

/// <summary>
/// The dependency graph of a manifest (pure). Orders are deterministic: a topological order that keeps the
/// manifest's order wherever the dependencies allow it.
/// </summary>
public static class ManifestGraph
{
    /// <summary>Every image, each after all it depends on.</summary>
    public static IReadOnlyList<ManifestImage> TopologicalOrder(Manifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        return Order(manifest, manifest.Images.Select(i => i.Name).ToHashSet(StringComparer.Ordinal));
    }

    /// <summary>The images <paramref name="selection"/> picks, in topological order.</summary>
    /// <exception cref="ManifestSelectionException">An image name the manifest lacks, or a changed path that is not
    /// relative to the repository root.</exception>
    public static IReadOnlyList<ManifestImage> Select(Manifest manifest, ManifestSelection selection)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(selection);
        var names = selection.Kind switch
        {
            ManifestSelectionKind.All => manifest.Images.Select(i => i.Name).ToHashSet(StringComparer.Ordinal),
            ManifestSelectionKind.Only => DependenciesOf(manifest, Known(manifest, selection.Values, "--only"), includeSelf: true),
            ManifestSelectionKind.WithDependents => DependentsOf(manifest, Known(manifest, selection.Values, "schedule"), includeSelf: true),
            ManifestSelectionKind.Changed => DependentsOf(manifest, TouchedBy(manifest, selection.Values).Select(i => i.Name), includeSelf: true),
            _ => throw new ArgumentOutOfRangeException(nameof(selection)),
        };
        return Order(manifest, names);
    }

    /// <summary>Everything <paramref name="names"/> depend on, transitively.</summary>
    public static HashSet<string> DependenciesOf(Manifest manifest, IEnumerable<string> names, bool includeSelf = false) =>
        Closure(manifest, names, includeSelf, name => manifest[name].DependsOn.Select(d => d.Image));

    /// <summary>Everything built on <paramref name="names"/>, transitively.</summary>
    public static HashSet<string> DependentsOf(Manifest manifest, IEnumerable<string> names, bool includeSelf = false)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var dependents = manifest.Images
            .SelectMany(i => i.DependsOn.Select(d => (Dependency: d.Image, Dependent: i.Name)))
            .ToLookup(e => e.Dependency, e => e.Dependent, StringComparer.Ordinal);
        return Closure(manifest, names, includeSelf, name => dependents[name]);
    }

    /// <summary>
    /// The images a change to <paramref name="changedPaths"/> touches: a changed path equals or lies inside the image's
    /// folder (its <c>contextSubPath</c>; an image without one sits at the repository root, so every change touches
    /// it), or the folder or the Dockerfile (<c>contextSubPath/dockerfile</c>) lies inside a changed directory. Paths
    /// are relative to the repository root; <c>./</c>, a trailing <c>/</c> and backslashes are normalised away.
    /// </summary>
    public static IReadOnlyList<ManifestImage> TouchedBy(Manifest manifest, IEnumerable<string> changedPaths)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(changedPaths);
        var changed = changedPaths.Select(NormalizeChangedPath).ToList();
        return [.. manifest.Images.Where(image =>
        {
            var folder = NormalizeOrRoot(image.Spec.ContextSubPath);
            var dockerfile = NormalizeOrRoot(folder.Length == 0 ? image.Spec.Dockerfile : folder + "/" + image.Spec.Dockerfile);
            return changed.Any(path => IsUnder(path, folder) || IsUnder(folder, path) || IsUnder(dockerfile, path));
        })];
    }

    /// <summary>Normalises a changed path as <see cref="TouchedBy"/> does.</summary>
    /// <exception cref="ManifestSelectionException">The path is absolute, a URL, or climbs out of the repository.</exception>
    public static string NormalizeChangedPath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var slashed = path.Trim().Replace('\\', '/');
        if (!RelativePath.TryNormalize(slashed, out var normalized, out var error))
        {
            throw new ManifestSelectionException($"changed path {error}");
        }
        return normalized;
    }

    /// <summary>True when <paramref name="path"/> equals <paramref name="folder"/> or lies inside it (whole segments;
    /// the empty folder is the root and holds everything).</summary>
    private static bool IsUnder(string path, string folder) =>
        folder.Length == 0
        || path == folder
        || (path.Length > folder.Length && path[folder.Length] == '/' && path.StartsWith(folder, StringComparison.Ordinal));

    private static string NormalizeOrRoot(string? path) =>
        RelativePath.TryNormalize(path ?? "", out var normalized, out _) ? normalized : path ?? "";

    private static List<string> Known(Manifest manifest, IReadOnlyList<string> names, string what)
    {
        var unknown = names.Where(n => !manifest.Contains(n)).ToList();
        if (unknown.Count > 0)
        {
            throw new ManifestSelectionException(
                $"{what}: the manifest has no image {string.Join(", ", unknown.Select(n => $"'{n}'"))} (images: {string.Join(", ", manifest.Images.Select(i => i.Name))})");
        }
        return [.. names];
    }

    private static HashSet<string> Closure(Manifest manifest, IEnumerable<string> names, bool includeSelf, Func<string, IEnumerable<string>> next)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(names);
        var result = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>();
        foreach (var name in names)
        {
            if (includeSelf)
            {
                result.Add(name);
            }
            pending.Push(name);
        }
        while (pending.Count > 0)
        {
            foreach (var other in next(pending.Pop()))
            {
                if (result.Add(other))
                {
                    pending.Push(other);
                }
            }
        }
        return result;
    }

    /// <summary>The images named in <paramref name="names"/>, each after its dependencies; among ready images the
    /// earliest in the manifest goes first.</summary>
    private static List<ManifestImage> Order(Manifest manifest, HashSet<string> names)
    {
        var selected = manifest.Images.Where(i => names.Contains(i.Name)).ToList();
        var graph = DependencyGraph.Of(selected, i => i.Name, i => i.DependsOn.Select(d => d.Image));
        if (!graph.TryTopologicalOrder(out var order))
        {
            // The parser rejects cycles, so a Manifest never has one.
            throw new InvalidOperationException("the manifest's dependency graph has a cycle");
        }
        return [.. order.Select(i => selected[i])];
    }
}
