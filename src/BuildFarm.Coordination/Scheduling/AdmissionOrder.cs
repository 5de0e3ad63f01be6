using System.Globalization;

namespace BuildFarm.Coordination.Scheduling;

/// <summary>
/// A ready build's member in its group's sorted set: <c>(9 − priority)|inverted path ms|sequence|build id</c>, fixed-width
/// digits, so that the lexicographic order of members is <see cref="SchedulingOrder.WithinGroup"/>.
/// </summary>
internal static class AdmissionOrder
{
    private const long InvertBase = 99_999_999_999;

    /// <summary>The member's first two fields (the sequence and id are added by the enqueue script).</summary>
    public static string Prefix(int priority, double pathSeconds)
    {
        var ms = (long)Math.Round(Math.Min(pathSeconds, AdmissionLimits.MaxPathSeconds) * 1000);
        return string.Create(CultureInfo.InvariantCulture, $"{9 - priority}|{InvertBase - ms:D11}");
    }

    public static ReadyBuild Parse(string member, string tenant, string group)
    {
        var parts = member.Split('|', 4);
        if (parts.Length != 4)
        {
            throw new FormatException($"unexpected admission member '{member}'");
        }
        var priority = 9 - int.Parse(parts[0], CultureInfo.InvariantCulture);
        var pathSeconds = (InvertBase - long.Parse(parts[1], CultureInfo.InvariantCulture)) / 1000.0;
        return new ReadyBuild(parts[3], tenant, group, priority, pathSeconds, long.Parse(parts[2], CultureInfo.InvariantCulture));
    }
}
