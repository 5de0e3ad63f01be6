using System.Globalization;

namespace BuildFarm.Coordination.Logs;

/// <summary>The Kubernetes timestamp at the start of a log line (<c>timestamps=true</c>): RFC 3339 with up to nine
/// fractional digits, then one space.</summary>
public static class LogLines
{
    /// <summary>Splits <paramref name="line"/> into its timestamp (UTC ticks) and its text; false (and the whole line as
    /// text) when it does not start with one.</summary>
    public static bool TrySplit(string line, out long ticks, out string text)
    {
        ArgumentNullException.ThrowIfNull(line);
        ticks = 0;
        text = line;
        var space = line.IndexOf(' ', StringComparison.Ordinal);
        var stamp = space < 0 ? line : line[..space];
        if (stamp.Length is < 20 or > 40 || stamp[^1] != 'Z' || stamp[4] != '-' || stamp[10] != 'T')
        {
            return false;
        }
        // .NET keeps 7 fractional digits: cut Kubernetes' nanoseconds to them.
        var dot = stamp.IndexOf('.', StringComparison.Ordinal);
        var parsed = dot > 0 && stamp.Length - 1 - dot > 8 ? stamp[..(dot + 8)] + "Z" : stamp;
        if (!DateTimeOffset.TryParse(parsed, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at))
        {
            return false;
        }
        ticks = at.UtcTicks;
        text = space < 0 ? "" : line[(space + 1)..];
        return true;
    }

    /// <summary>The line without its Kubernetes timestamp (unchanged when it has none).</summary>
    public static string WithoutTimestamp(string line) => TrySplit(line, out _, out var text) ? text : line;
}
