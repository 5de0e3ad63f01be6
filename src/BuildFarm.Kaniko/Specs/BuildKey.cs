using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using BuildFarm.Contracts;

namespace BuildFarm.Kaniko.Specs;

/// <summary>
/// The dedupe key of a build (docs/architecture.md "Dedupe, locks, retries"): the lower-case hex SHA-256 of a canonical, versioned
/// text form of what decides the image. Order-insensitive where order does not matter (build args,
/// labels, destinations), stable across runs and machines (ordinal sorting, invariant culture, UTF-8,
/// every value length-prefixed so <c>a</c>+<c>bc</c> never equals <c>ab</c>+<c>c</c>).
/// docs/pod-spec.md documents the exact form.
/// </summary>
public static class BuildKey
{
    /// <summary>First line of the canonical form; bump it when the form changes.</summary>
    public const string Version = "buildfarm-build-key/v1";

    /// <summary>Length of a key: 64 lower-case hex digits.</summary>
    public const int Length = 64;

    /// <summary>The key of <paramref name="spec"/> built with <paramref name="executorImage"/>.</summary>
    /// <exception cref="ArgumentException">The spec does not validate (context, paths or destinations).</exception>
    public static string Compute(BuildSpec spec, string executorImage)
    {
        var canonical = CanonicalForm(spec, executorImage);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
    }

    /// <summary>True when <paramref name="value"/> looks like a key (64 lower-case hex digits).</summary>
    public static bool IsWellFormed(string? value) =>
        value is { Length: Length } && value.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');

    /// <summary>
    /// The canonical text that is hashed. Each scalar field is a line <c>name=&lt;n&gt;:&lt;value&gt;</c>; each
    /// list or map is a line <c>name#&lt;count&gt;</c> followed by one line per item, <c>&lt;n&gt;:&lt;value&gt;</c> or
    /// <c>&lt;n&gt;:&lt;key&gt;&lt;n&gt;:&lt;value&gt;</c>, where <c>n</c> is the UTF-8 byte length in decimal.
    /// </summary>
    public static string CanonicalForm(BuildSpec spec, string executorImage)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentException.ThrowIfNullOrWhiteSpace(executorImage);

        if (!BuildContext.TryParse(spec.Context, out var context, out var contextError))
        {
            throw new ArgumentException($"context: {contextError}", nameof(spec));
        }
        var subPath = NormalizePath("contextSubPath", spec.ContextSubPath ?? "");
        var dockerfile = NormalizePath("dockerfile", spec.Dockerfile ?? "");
        var destinations = new SortedSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < spec.Destinations.Count; i++)
        {
            if (!ImageReference.TryParse(spec.Destinations[i], out var destination, out var error))
            {
                throw new ArgumentException($"destinations[{i}]: {error}", nameof(spec));
            }
            destinations.Add(destination.ToString());
        }
        var image = ImageReference.TryParse(executorImage.Trim(), out var executor) ? executor.ToString() : executorImage.Trim();

        var text = new StringBuilder();
        text.Append(Version).Append('\n');
        Scalar(text, "context", context.Normalized);
        Scalar(text, "context-sub-path", subPath);
        Scalar(text, "dockerfile", dockerfile);
        Scalar(text, "target", spec.Target ?? "");
        Map(text, "build-args", spec.BuildArgs);
        List(text, "destinations", destinations);
        Map(text, "labels", spec.Labels);
        // One platform (either field) is the single-platform form it always was; two or more add a list, in order (the
        // order of the index's manifests, hence its digest).
        var platforms = BuildPlatforms.Of(spec);
        Scalar(text, "platform", platforms.Count == 1 ? platforms[0].ToLowerInvariant() : "");
        if (platforms.Count > 1)
        {
            text.Append("platforms#").Append(platforms.Count.ToString(CultureInfo.InvariantCulture)).Append('\n');
            foreach (var platform in platforms)
            {
                text.Append(Prefixed(platform.ToLowerInvariant())).Append('\n');
            }
        }
        Scalar(text, "executor-image", image);
        return text.ToString();
    }

    private static string NormalizePath(string field, string path)
    {
        if (!RelativePath.TryNormalize(path, out var normalized, out var error))
        {
            throw new ArgumentException($"{field}: {error}", nameof(path));
        }
        return normalized;
    }

    private static void Scalar(StringBuilder text, string name, string value) =>
        text.Append(name).Append('=').Append(Prefixed(value)).Append('\n');

    private static void List(StringBuilder text, string name, SortedSet<string> items)
    {
        text.Append(name).Append('#').Append(items.Count.ToString(CultureInfo.InvariantCulture)).Append('\n');
        foreach (var item in items)
        {
            text.Append(Prefixed(item)).Append('\n');
        }
    }

    private static void Map(StringBuilder text, string name, IReadOnlyDictionary<string, string>? map)
    {
        var entries = (map ?? new Dictionary<string, string>()).OrderBy(e => e.Key, StringComparer.Ordinal).ToList();
        text.Append(name).Append('#').Append(entries.Count.ToString(CultureInfo.InvariantCulture)).Append('\n');
        foreach (var (key, value) in entries)
        {
            text.Append(Prefixed(key)).Append(Prefixed(value ?? "")).Append('\n');
        }
    }

    private static string Prefixed(string value) =>
        Encoding.UTF8.GetByteCount(value).ToString(CultureInfo.InvariantCulture) + ":" + value;
}
