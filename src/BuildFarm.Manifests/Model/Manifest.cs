using System.Diagnostics.CodeAnalysis;
using BuildFarm.Contracts;
using Cronos;

namespace BuildFarm.Manifests.Model;

/// <summary>A line and column in the manifest's YAML, both starting at 1.</summary>
public readonly record struct ManifestLocation(int Line, int Column)
{
    public override string ToString() => $"line {Line}, column {Column}";
}

/// <summary>
/// A parsed, checked monorepo manifest: the images in manifest order, defaults already merged in,
/// templates (<c>{sha}</c>, <c>{short_sha}</c>, <c>{date}</c>, <c>{name}</c>) still unexpanded.
/// Made only by <see cref="Parsing.ManifestParser"/>, so every instance is valid: names are unique,
/// every dependency exists and the graph has no cycle.
/// </summary>
public sealed class Manifest
{
    private readonly Dictionary<string, ManifestImage> _byName;

    internal Manifest(string source, IReadOnlyList<ManifestImage> images)
    {
        Source = source;
        Images = images;
        _byName = images.ToDictionary(i => i.Name, StringComparer.Ordinal);
    }

    /// <summary>Where the manifest came from (a path, or a name given to the parser), for messages.</summary>
    public string Source { get; }

    /// <summary>The images in the order the manifest lists them.</summary>
    public IReadOnlyList<ManifestImage> Images { get; }

    public ManifestImage this[string name] =>
        _byName.TryGetValue(name, out var image) ? image : throw new KeyNotFoundException($"the manifest has no image '{name}'");

    public bool Contains(string name) => _byName.ContainsKey(name);

    public bool TryGet(string name, [NotNullWhen(true)] out ManifestImage? image) => _byName.TryGetValue(name, out image);

    /// <summary>The images that have a <c>schedule</c>.</summary>
    public IEnumerable<ManifestImage> Scheduled => Images.Where(i => i.Schedule is not null);
}

/// <summary>One image of a manifest.</summary>
public sealed record ManifestImage
{
    /// <summary>Unique within the manifest: lower-case letters and digits separated by '.', '_' or '-'.</summary>
    public required string Name { get; init; }

    /// <summary>The spec with the defaults merged in and templates unexpanded. It carries no dependency
    /// build args: those come from <see cref="DependsOn"/> when the batch runs.</summary>
    public required BuildSpec Spec { get; init; }

    /// <summary>The images this one is built on, in manifest order.</summary>
    public IReadOnlyList<ManifestDependency> DependsOn { get; init; } = [];

    /// <summary>The cron expression as written (5 fields, UTC), or null.</summary>
    public string? Schedule { get; init; }

    /// <summary>The parsed <see cref="Schedule"/>.</summary>
    public CronExpression? ScheduleExpression { get; init; }

    /// <summary>Where the image's entry starts in the YAML.</summary>
    public ManifestLocation Location { get; init; }

    /// <summary>Where each field's value was written (its own entry, or the defaults it came from), keyed by the
    /// field names <c>BuildSpecValidator</c> uses: <c>context</c>, <c>destinations[0]</c>, <c>buildArgs[X]</c>, <c>resources.cpuLimit</c>.</summary>
    public IReadOnlyDictionary<string, ManifestLocation> FieldLocations { get; init; } = new Dictionary<string, ManifestLocation>();

    /// <summary>The location of <paramref name="field"/> or of the nearest enclosing field, else the image's own.</summary>
    public ManifestLocation LocationOf(string field)
    {
        var current = field;
        while (current.Length > 0)
        {
            if (FieldLocations.TryGetValue(current, out var location))
            {
                return location;
            }
            var cut = Math.Max(current.LastIndexOf('['), current.LastIndexOf('.'));
            current = cut <= 0 ? "" : current[..cut];
        }
        return Location;
    }
}

/// <param name="Image">The name of another image of the same manifest.</param>
/// <param name="BuildArg">When set, the build arg that receives the dependency's pinned reference
/// (<c>registry/repo@sha256:…</c>) when both are built in the same batch.</param>
public sealed record ManifestDependency(string Image, string? BuildArg = null);
