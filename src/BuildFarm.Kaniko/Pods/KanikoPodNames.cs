using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace BuildFarm.Kaniko.Pods;

/// <summary>
/// Deterministic pod names and label-safe values. A pod name is <c>bf-&lt;build&gt;-&lt;attempt&gt;</c>: a
/// redelivered message computes the same name, gets 409 AlreadyExists and adopts the pod. When the build id
/// had to be changed to fit (upper case, other characters, too long), an 8-hex-digit hash of the full id
/// is added so that two different ids never share a pod name.
/// </summary>
public static partial class KanikoPodNames
{
    public const int MaxNameLength = 63;
    public const int MaxLabelValueLength = 63;
    private const int HashLength = 8;

    /// <summary>The name of attempt <paramref name="attempt"/> of build <paramref name="buildId"/>.</summary>
    public static string PodName(string buildId, int attempt) => Name(buildId, attempt, suffix: "");

    /// <summary>
    /// The name of attempt <paramref name="attempt"/> of the pod for <paramref name="platform"/> of a multi-platform build:
    /// <c>bf-&lt;build&gt;-&lt;attempt&gt;-linux-arm64</c> (each platform numbers its own attempts). A platform slug longer
    /// than 24 characters is replaced by a hash of the platform.
    /// </summary>
    public static string PlatformPodName(string buildId, string platform, int attempt)
    {
        var slug = Specs.BuildPlatforms.Slug(platform);
        return Name(buildId, attempt, "-" + (slug.Length <= 24 ? slug : ShortHash(platform)));
    }

    /// <summary>The name of the debug pod for an attempt: the pod name with <c>-debug</c> after the attempt.</summary>
    public static string DebugPodName(string buildId, int attempt) => Name(buildId, attempt, suffix: "-debug");

    /// <summary>A label value for <paramref name="value"/> (≤ 63 characters, <c>[A-Za-z0-9._-]</c>, alphanumeric at both ends);
    /// a hash of the full value is appended whenever it had to be changed.</summary>
    public static string LabelValue(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (IsValidLabelValue(value))
        {
            return value;
        }
        var cleaned = InvalidLabelCharsRegex().Replace(value, "-");
        cleaned = cleaned.Trim('-', '.', '_');
        var room = MaxLabelValueLength - HashLength - 1;
        if (cleaned.Length > room)
        {
            cleaned = cleaned[..room].TrimEnd('-', '.', '_');
        }
        return cleaned.Length == 0 ? ShortHash(value) : $"{cleaned}-{ShortHash(value)}";
    }

    /// <summary>True for a valid Kubernetes label value (empty is valid).</summary>
    public static bool IsValidLabelValue(string? value) =>
        value is not null && value.Length <= MaxLabelValueLength && LabelValueRegex().IsMatch(value);

    /// <summary>True for a valid label key: optional DNS-subdomain prefix and '/', then a name of ≤ 63 characters.</summary>
    public static bool IsValidLabelKey(string? key)
    {
        if (string.IsNullOrEmpty(key))
        {
            return false;
        }
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        var name = slash < 0 ? key : key[(slash + 1)..];
        if (slash >= 0 && !KanikoPodOptions.IsDnsSubdomain(key[..slash]))
        {
            return false;
        }
        return name.Length is > 0 and <= 63 && LabelValueRegex().IsMatch(name);
    }

    /// <summary>The first 8 hex digits of the SHA-256 of <paramref name="value"/> (UTF-8).</summary>
    public static string ShortHash(string value) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)))[..HashLength];

    private static string Name(string buildId, int attempt, string suffix)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(buildId);
        ArgumentOutOfRangeException.ThrowIfLessThan(attempt, 1);
        const string prefix = "bf-";
        var tail = "-" + attempt.ToString(CultureInfo.InvariantCulture) + suffix;

        var sanitized = InvalidNameCharsRegex().Replace(buildId.ToLowerInvariant(), "-");
        sanitized = RepeatedDashRegex().Replace(sanitized, "-").Trim('-');
        var room = MaxNameLength - prefix.Length - tail.Length;
        if (sanitized == buildId && sanitized.Length <= room)
        {
            return prefix + sanitized + tail;
        }
        // Changed or too long: keep what fits and add a hash of the full id for uniqueness.
        var hash = ShortHash(buildId);
        var keep = room - HashLength - 1;
        if (sanitized.Length > keep)
        {
            sanitized = sanitized[..keep].TrimEnd('-');
        }
        return sanitized.Length == 0 ? prefix + hash + tail : prefix + sanitized + "-" + hash + tail;
    }

    [GeneratedRegex("[^a-z0-9-]", RegexOptions.CultureInvariant)]
    private static partial Regex InvalidNameCharsRegex();

    [GeneratedRegex("-{2,}", RegexOptions.CultureInvariant)]
    private static partial Regex RepeatedDashRegex();

    [GeneratedRegex("[^A-Za-z0-9._-]", RegexOptions.CultureInvariant)]
    private static partial Regex InvalidLabelCharsRegex();

    [GeneratedRegex("^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex LabelValueRegex();
}
