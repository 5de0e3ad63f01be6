namespace BuildFarm.ClusterSim.Scenarios;

/// <summary>
/// The scenario's <c>imageDurations</c> block: each image (the first destination's repository, without tag) gets a
/// factor on the duration of its <c>RUN</c> steps, so the same image is consistently slow or fast from build to build:
/// a lognormal factor of median 1 (<see cref="Spread"/> its sigma), times <see cref="HeavyFactor"/> for the share
/// <see cref="HeavyShare"/> of images that are heavy, times the scale of the first glob in <see cref="Scale"/> that
/// matches. Each draw is seeded by the image name alone (not the pod's random stream): with the defaults every factor
/// is 1 and every other timing stays as it was.
/// </summary>
public sealed class ImageDurationSettings
{
    /// <summary>Sigma of the per-image lognormal factor (0: none). 0.5 puts 90% of images between 0.44× and 2.3×.</summary>
    public double Spread { get; set; }

    /// <summary>The share of images (0–1) that are heavy: their factor is multiplied by <see cref="HeavyFactor"/>.</summary>
    public double HeavyShare { get; set; }

    /// <summary>How much slower a heavy image is (e.g. 20 for the heavy tail of a monorepo).</summary>
    public double HeavyFactor { get; set; } = 20;

    /// <summary>Fixed factors by image glob (<c>*</c> any run of characters, matched against <c>registry/repository</c>);
    /// the first matching glob in the order written applies.</summary>
    public Dictionary<string, double> Scale { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The most globs <see cref="Scale"/> may hold, and the largest spread and factors.</summary>
    public const int MaxGlobs = 1000;
    public const double MaxSpread = 3;
    public const double MaxFactor = 1000;

    internal void Validate(List<string> errors)
    {
        if (!(Spread >= 0 && Spread <= MaxSpread))
        {
            errors.Add($"imageDurations.spread must be between 0 and {MaxSpread} (got {Spread})");
        }
        Scenario.Rate(errors, "imageDurations.heavyShare", HeavyShare);
        if (!(HeavyFactor >= 1 && HeavyFactor <= MaxFactor))
        {
            errors.Add($"imageDurations.heavyFactor must be between 1 and {MaxFactor} (got {HeavyFactor})");
        }
        if (Scale.Count > MaxGlobs)
        {
            errors.Add($"imageDurations.scale holds at most {MaxGlobs} globs (got {Scale.Count})");
        }
        foreach (var (glob, factor) in Scale.Take(MaxGlobs))
        {
            if (string.IsNullOrEmpty(glob) || glob.Length > 512)
            {
                errors.Add("imageDurations.scale: a glob has 1 to 512 characters");
            }
            else if (!(factor > 0 && factor <= MaxFactor))
            {
                errors.Add($"imageDurations.scale.{glob} must be above 0 and at most {MaxFactor} (got {factor})");
            }
        }
    }

    /// <summary>True when every image's factor is 1.</summary>
    public bool IsUniform => Spread == 0 && (HeavyShare == 0 || HeavyFactor == 1) && Scale.Count == 0;

    /// <summary>The factor of <paramref name="image"/> (<c>registry/repository</c>): the same for the same name.</summary>
    public double FactorOf(string image)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (IsUniform)
        {
            return 1;
        }
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(image));
        var u1 = 1.0 - Unit(hash, 0);
        var u2 = Unit(hash, 8);
        var z = Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        var factor = Math.Exp(Spread * z);
        if (Unit(hash, 16) < HeavyShare)
        {
            factor *= HeavyFactor;
        }
        foreach (var (glob, scale) in Scale)
        {
            if (Matches(glob, image))
            {
                factor *= scale;
                break;
            }
        }
        return factor;
    }

    /// <summary>A uniform in [0, 1) from 53 bits of <paramref name="hash"/> at <paramref name="offset"/>.</summary>
    private static double Unit(byte[] hash, int offset) => (BitConverter.ToUInt64(hash, offset) >> 11) * (1.0 / (1UL << 53));

    /// <summary><c>*</c> matches any run of characters (ordinal, case-insensitive); linear, no backtracking blow-up.</summary>
    internal static bool Matches(string glob, string text)
    {
        var parts = glob.Split('*');
        if (parts.Length == 1)
        {
            return string.Equals(glob, text, StringComparison.OrdinalIgnoreCase);
        }
        if (!text.StartsWith(parts[0], StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        var at = parts[0].Length;
        for (var i = 1; i < parts.Length - 1; i++)
        {
            var found = text.IndexOf(parts[i], at, StringComparison.OrdinalIgnoreCase);
            if (found < 0)
            {
                return false;
            }
            at = found + parts[i].Length;
        }
        return text.Length - at >= parts[^1].Length && text.EndsWith(parts[^1], StringComparison.OrdinalIgnoreCase);
    }
}
