using System.Security.Cryptography;
using System.Text;

namespace BuildFarm.Coordination.Scheduling;

/// <summary>One successful build's duration, for the image key <see cref="ImageDurations.KeyOf"/> gives.</summary>
public readonly record struct DurationSample(string Image, double Seconds);

/// <summary>
/// Each image's expected build duration, learned from its successful builds: an exponentially weighted mean per image
/// key, shared by the farm (Redis; in process for the demo and unit tests), forgotten <see cref="ImageDurationOptions.Ttl"/>
/// after the image's last sample.
/// </summary>
public interface IImageDurations
{
    /// <summary>The expected seconds of every image of <paramref name="images"/> (keys from <see cref="ImageDurations.KeyOf"/>),
    /// <see cref="ImageDurationOptions.DefaultSeconds"/> for one with no history; one round trip for all of them.</summary>
    Task<IReadOnlyDictionary<string, double>> ExpectedAsync(IReadOnlyCollection<string> images, CancellationToken cancellationToken);

    /// <summary>Folds a window of samples into the means (in order, per image), in one exchange.</summary>
    Task RecordAsync(IReadOnlyList<DurationSample> samples, CancellationToken cancellationToken);
}

/// <summary>The pure parts shared by the stores: image keys, bounds, the weighted mean.</summary>
public static class ImageDurations
{
    /// <summary>The longest duration learned (a day): a sample above counts as this.</summary>
    public const double MaxSeconds = 24 * 3600;

    /// <summary>The longest image key; a longer one is cut and ends in a hash of the whole.</summary>
    public const int MaxKeyLength = 256;

    /// <summary>Images one read or one window may name.</summary>
    public const int MaxImages = 100_000;

    /// <summary>
    /// The key an image's durations are kept under: the first destination's repository without tag or digest, lower
    /// case (<c>ghcr.io/team/app:1.2</c> → <c>ghcr.io/team/app</c>), at most <see cref="MaxKeyLength"/> characters.
    /// </summary>
    public static string KeyOf(IReadOnlyList<string>? destinations)
    {
        var first = destinations is { Count: > 0 } ? destinations[0] ?? "" : "";
        var name = first.Trim();
        var at = name.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            name = name[..at];
        }
        var colon = name.LastIndexOf(':');
        if (colon > name.LastIndexOf('/'))
        {
            name = name[..colon];
        }
        name = name.ToLowerInvariant();
        if (name.Length <= MaxKeyLength)
        {
            return name;
        }
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)))[..16];
        return name[..(MaxKeyLength - hash.Length - 1)] + "~" + hash;
    }

    /// <summary>The mean after <paramref name="sample"/>: the sample itself when there was none.</summary>
    public static double Fold(double? mean, double sample, double alpha)
    {
        var x = Clamp(sample);
        return mean is { } m ? (alpha * x) + ((1 - alpha) * Clamp(m)) : x;
    }

    internal static double Clamp(double seconds) => double.IsNaN(seconds) ? 0 : Math.Clamp(seconds, 0, MaxSeconds);

    internal static void CheckCount(int count, string what)
    {
        if (count > MaxImages)
        {
            throw new ArgumentException($"at most {MaxImages} images at once, got {count}", what);
        }
    }
}

/// <summary>
/// The <c>Scheduling:Durations</c> configuration section: how the farm learns each image's expected build duration
/// (docs/scheduling.md, "Expected durations").
/// </summary>
public sealed class ImageDurationOptions
{
    public const string SectionName = "Scheduling:Durations";

    /// <summary>The expected seconds of an image with no history (a new image, or one whose mean expired after
    /// <see cref="Ttl"/>).</summary>
    public double DefaultSeconds { get; set; } = 120;

    /// <summary>The weight of a new sample in the exponentially weighted mean: mean ← α·sample + (1 − α)·mean
    /// (1 = the last build only).</summary>
    public double Alpha { get; set; } = 0.3;

    /// <summary>How long an image's mean is kept after its last successful build; then the image counts as unknown
    /// again.</summary>
    public TimeSpan Ttl { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How long a worker gathers finished builds' durations before it sends them in one exchange (one Redis
    /// round trip per window, none per build).</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Every problem, each naming its setting; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!double.IsFinite(DefaultSeconds) || DefaultSeconds is < 1 or > ImageDurations.MaxSeconds)
        {
            errors.Add($"{SectionName}:DefaultSeconds: must be between 1 and {ImageDurations.MaxSeconds}, was {DefaultSeconds}");
        }
        if (!double.IsFinite(Alpha) || Alpha is <= 0 or > 1)
        {
            errors.Add($"{SectionName}:Alpha: must be above 0 and at most 1, was {Alpha}");
        }
        if (Ttl < TimeSpan.FromMinutes(1) || Ttl > TimeSpan.FromDays(365))
        {
            errors.Add($"{SectionName}:Ttl: must be between 1 minute and 365 days (e.g. '30.00:00:00'), was '{Ttl}'");
        }
        if (Window < TimeSpan.FromMilliseconds(100) || Window > TimeSpan.FromMinutes(5))
        {
            errors.Add($"{SectionName}:Window: must be between 100 ms and 5 minutes (e.g. '00:00:05'), was '{Window}'");
        }
        return errors;
    }
}
