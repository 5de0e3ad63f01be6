using System.Globalization;

namespace BuildFarm.Cli;

/// <summary>Counts in the CLI's text output: "1 build", "2 builds", "0 builds".</summary>
public static class Plural
{
    /// <summary><paramref name="count"/> and the noun, singular for exactly one (<paramref name="plural"/> defaults to the singular plus "s").</summary>
    public static string Of(long count, string singular, string? plural = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(singular);
        return string.Create(CultureInfo.InvariantCulture, $"{count} {(count == 1 ? singular : plural ?? singular + "s")}");
    }
}
