using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;
using BuildFarm.Contracts;

namespace BuildFarm.Kaniko.Specs;

/// <summary>
/// The platforms of a build and what a per-platform build of a multi-platform image is (docs/multi-platform.md). Pure.
/// A build with no platform or one (<c>platform</c>, or <c>platforms</c> with one entry) is a single-platform build, run
/// exactly as before: one pod pushing to the destinations. A build with two or more is multi-platform: one pod per
/// platform, each on a node of its <c>kubernetes.io/os</c> and <c>kubernetes.io/arch</c>, each pushing its image to a
/// <see cref="StagingTag"/> of every destination repository (never to a destination tag), and, once all have succeeded,
/// one index naming their digests pushed to every destination.
/// </summary>
public static partial class BuildPlatforms
{
    /// <summary>Longest platform string: <c>os/arch/variant</c>.</summary>
    public const int MaxLength = 64;

    /// <summary>The node label Kubernetes sets to the node's <c>GOOS</c>.</summary>
    public const string OsLabel = "kubernetes.io/os";

    /// <summary>The node label Kubernetes sets to the node's <c>GOARCH</c>.</summary>
    public const string ArchLabel = "kubernetes.io/arch";

    /// <summary>The platforms the spec names, in order: <c>platforms</c> when it has entries, else <c>platform</c>, else none.</summary>
    public static IReadOnlyList<string> Of(BuildSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Platforms is { Count: > 0 } platforms)
        {
            return [.. platforms.Select(p => p?.Trim() ?? "")];
        }
        return string.IsNullOrEmpty(spec.Platform) ? [] : [spec.Platform.Trim()];
    }

    /// <summary>True when the spec names two or more platforms: one pod per platform and an index.</summary>
    public static bool IsMultiPlatform(BuildSpec spec) => Of(spec).Count > 1;

    /// <summary>True for <c>os/arch[/variant]</c>: lower-case letters, digits and <c>_</c>, each part 1-20, at most <see cref="MaxLength"/>.</summary>
    public static bool IsWellFormed([NotNullWhen(true)] string? platform) =>
        platform is { Length: > 0 and <= MaxLength } && PlatformRegex().IsMatch(platform);

    /// <summary>The parts of a well-formed platform.</summary>
    public static (string Os, string Arch, string? Variant) Split(string platform)
    {
        if (!IsWellFormed(platform))
        {
            throw new ArgumentException($"platform: '{Shown(platform)}' must be os/arch[/variant] in lower case, e.g. linux/amd64 or linux/arm64/v8", nameof(platform));
        }
        var parts = platform.Split('/');
        return (parts[0], parts[1], parts.Length == 3 ? parts[2] : null);
    }

    /// <summary>The node selector that puts a platform's pod on a node of that platform: <c>kubernetes.io/os</c> and
    /// <c>kubernetes.io/arch</c>. A variant (<c>arm/v7</c>) has no standard node label and is not selected on.</summary>
    public static IReadOnlyDictionary<string, string> NodeSelector(string platform)
    {
        var (os, arch, _) = Split(platform);
        return new Dictionary<string, string>(StringComparer.Ordinal) { [OsLabel] = os, [ArchLabel] = arch };
    }

    /// <summary>A label-safe form of a platform: <c>linux-arm64-v8</c>.</summary>
    public static string Slug(string platform)
    {
        var (os, arch, variant) = Split(platform);
        return variant is null ? $"{os}-{arch}".Replace('_', '-') : $"{os}-{arch}-{variant}".Replace('_', '-');
    }

    /// <summary>
    /// The tag a per-platform pod pushes its image to, in every destination repository:
    /// <c>buildfarm-&lt;first 16 hex digits of the build key&gt;-&lt;platform slug&gt;</c>, e.g.
    /// <c>buildfarm-3f2a9c0e1b7d4a55-linux-arm64</c>. Kaniko pushes only to tags (<c>--destination</c>); this one belongs
    /// to the farm, is the same for every attempt and every identical build (a retry overwrites it with the same build),
    /// and never moves a destination tag: only the index does, after every platform has succeeded. At most 57 characters.
    /// </summary>
    public static string StagingTag(string buildKey, string platform)
    {
        if (!BuildKey.IsWellFormed(buildKey))
        {
            throw new ArgumentException($"buildKey: '{Shown(buildKey)}' must be 64 lower-case hex digits (BuildKey.Compute)", nameof(buildKey));
        }
        return $"buildfarm-{buildKey[..16]}-{Slug(platform)}";
    }

    /// <summary>Where the pod for <paramref name="platform"/> pushes: each distinct destination repository with the
    /// <see cref="StagingTag"/>, in the order the destinations name them.</summary>
    public static IReadOnlyList<string> StagingDestinations(BuildSpec spec, string buildKey, string platform)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var tag = StagingTag(buildKey, platform);
        var repositories = new List<string>();
        for (var i = 0; i < spec.Destinations.Count; i++)
        {
            if (!ImageReference.TryParse(spec.Destinations[i], out var reference, out var error))
            {
                throw new ArgumentException($"destinations[{i}]: {error}", nameof(spec));
            }
            if (!repositories.Contains(reference.Name, StringComparer.Ordinal))
            {
                repositories.Add(reference.Name);
            }
        }
        return [.. repositories.Select(r => $"{r}:{tag}")];
    }

    /// <summary>
    /// The single-platform spec the pod for <paramref name="platform"/> of a multi-platform build runs: the same build with
    /// that one platform (<c>--custom-platform</c>) and the <see cref="StagingDestinations"/> instead of the destinations.
    /// </summary>
    public static BuildSpec ForPlatform(BuildSpec spec, string buildKey, string platform)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (!Of(spec).Contains(platform, StringComparer.Ordinal))
        {
            throw new ArgumentException($"platform: '{Shown(platform)}' is not one of the build's platforms ({string.Join(", ", Of(spec))})", nameof(platform));
        }
        return spec with
        {
            Platform = platform,
            Platforms = null,
            Destinations = StagingDestinations(spec, buildKey, platform),
        };
    }

    private static string Shown(string? value) => value is null ? "(null)" : value.Length <= 64 ? value : string.Concat(value.AsSpan(0, 64), "…");

    [GeneratedRegex(@"^[a-z0-9_]{1,20}/[a-z0-9_]{1,20}(?:/[a-z0-9_]{1,20})?\z", RegexOptions.CultureInvariant)]
    private static partial Regex PlatformRegex();
}
