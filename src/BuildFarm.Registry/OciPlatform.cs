using System.Diagnostics.CodeAnalysis;

namespace BuildFarm.Registry;

/// <summary>
/// An image platform as an index descriptor and an image config name it: <c>os</c>, <c>architecture</c> and an optional
/// <c>variant</c> (<c>linux/arm64/v8</c>). Written and parsed as <c>os/arch[/variant]</c>, lower case.
/// </summary>
public sealed record OciPlatform(string Os, string Architecture, string? Variant = null)
{
    /// <summary>Longest platform string accepted.</summary>
    public const int MaxLength = 64;

    public override string ToString() => Variant is null ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";

    public static OciPlatform Parse(string value) =>
        TryParse(value, out var platform, out var error) ? platform : throw new FormatException(error);

    /// <summary>Parses <c>os/arch[/variant]</c>: each part 1-20 of <c>a-z</c>, <c>0-9</c>, <c>_</c>.</summary>
    public static bool TryParse(string? value, [NotNullWhen(true)] out OciPlatform? platform, [NotNullWhen(false)] out string? error)
    {
        platform = null;
        if (string.IsNullOrEmpty(value) || value.Length > MaxLength)
        {
            error = $"'{OciDigest.Shown(value)}' must be os/arch[/variant] of at most {MaxLength} characters";
            return false;
        }
        var parts = value.Split('/');
        if (parts.Length is < 2 or > 3 || parts.Any(p => p.Length is 0 or > 20 || p.Any(c => c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '_'))))
        {
            error = $"'{value}' must be os/arch[/variant] in lower case, e.g. linux/amd64 or linux/arm64/v8";
            return false;
        }
        platform = new OciPlatform(parts[0], parts[1], parts.Length == 3 ? parts[2] : null);
        error = null;
        return true;
    }
}
