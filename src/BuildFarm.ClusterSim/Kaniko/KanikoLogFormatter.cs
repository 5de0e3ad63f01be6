using System.Globalization;
using System.Text;

namespace BuildFarm.ClusterSim.Kaniko;

/// <summary>Logrus levels Kaniko logs at (the simulator prints info and warning lines).</summary>
public enum KanikoLevel
{
    Info,
    Warning,
    Error,
}

/// <summary>
/// Formats one logrus entry exactly as Kaniko's logger prints it (kaniko-facts §7): <c>color</c> is
/// <c>ESC[36mINFO ESC[0m[time] message-padded-to-44 </c>, <c>text</c> is <c>time="…" level=info msg=…</c> with Go
/// <c>%q</c> quoting when needed, <c>json</c> is <c>{"level","msg","time"}</c> with Go's HTML escaping.
/// </summary>
public static class KanikoLogFormatter
{
    /// <summary>One log line (no newline). <paramref name="time"/> is the entry's time (UTC, as in Kaniko's scratch image);
    /// <paramref name="elapsedSeconds"/> is whole seconds since the executor started (color without --log-timestamp).</summary>
    public static string Format(KanikoLogFormat format, bool fullTimestamp, KanikoLevel level, string message,
        DateTimeOffset time, long elapsedSeconds)
    {
        ArgumentNullException.ThrowIfNull(message);
        return format switch
        {
            KanikoLogFormat.Color => Color(fullTimestamp, level, message, time, elapsedSeconds),
            KanikoLogFormat.Text => Text(level, message, time),
            KanikoLogFormat.Json => Json(level, message, time),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, "unknown log format"),
        };
    }

    /// <summary>Go's <c>time.RFC3339</c> in UTC: <c>2024-04-17T14:14:12Z</c>.</summary>
    public static string Rfc3339(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static string Color(bool fullTimestamp, KanikoLevel level, string message, DateTimeOffset time, long elapsed)
    {
        var (colour, text) = level switch
        {
            KanikoLevel.Info => (36, "INFO"),
            KanikoLevel.Warning => (33, "WARN"),
            _ => (31, "ERRO"),
        };
        var stamp = fullTimestamp ? Rfc3339(time) : elapsed.ToString("D4", CultureInfo.InvariantCulture);
        var msg = message.EndsWith('\n') ? message[..^1] : message;
        var runes = msg.EnumerateRunes().Count();
        var pad = runes < 44 ? new string(' ', 44 - runes) : string.Empty;
        return string.Create(CultureInfo.InvariantCulture, $"\u001b[{colour}m{text}\u001b[0m[{stamp}] {msg}{pad} ");
    }

    private static string LevelWord(KanikoLevel level) => level switch
    {
        KanikoLevel.Info => "info",
        KanikoLevel.Warning => "warning",
        _ => "error",
    };

    private static string Text(KanikoLevel level, string message, DateTimeOffset time)
    {
        var b = new StringBuilder();
        b.Append("time=").Append(QuoteIfNeeded(Rfc3339(time)));
        b.Append(" level=").Append(LevelWord(level));
        b.Append(" msg=").Append(QuoteIfNeeded(message));
        return b.ToString();
    }

    private static string Json(KanikoLevel level, string message, DateTimeOffset time)
    {
        var b = new StringBuilder();
        b.Append("{\"level\":");
        AppendGoJsonString(b, LevelWord(level));
        b.Append(",\"msg\":");
        AppendGoJsonString(b, message);
        b.Append(",\"time\":");
        AppendGoJsonString(b, Rfc3339(time));
        b.Append('}');
        return b.ToString();
    }

    /// <summary>logrus <c>needsQuoting</c>: quote unless every rune is in <c>[A-Za-z0-9-._/@^+]</c>.</summary>
    public static string QuoteIfNeeded(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        foreach (var ch in value)
        {
            var plain = ch is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9')
                or '-' or '.' or '_' or '/' or '@' or '^' or '+';
            if (!plain)
            {
                return GoQuote(value);
            }
        }
        return value;
    }

    /// <summary>Go's <c>strconv.Quote</c>.</summary>
    public static string GoQuote(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var b = new StringBuilder(value.Length + 2);
        b.Append('"');
        foreach (var rune in value.EnumerateRunes())
        {
            var v = rune.Value;
            switch (v)
            {
                case '"': b.Append("\\\""); break;
                case '\\': b.Append("\\\\"); break;
                case '\a': b.Append("\\a"); break;
                case '\b': b.Append("\\b"); break;
                case '\f': b.Append("\\f"); break;
                case '\n': b.Append("\\n"); break;
                case '\r': b.Append("\\r"); break;
                case '\t': b.Append("\\t"); break;
                case '\v': b.Append("\\v"); break;
                default:
                    if (v < 0x20 || v == 0x7f)
                    {
                        b.Append(CultureInfo.InvariantCulture, $"\\x{v:x2}");
                    }
                    else if (v > 0x7f && Rune.GetUnicodeCategory(rune) is UnicodeCategory.Control
                        or UnicodeCategory.Format or UnicodeCategory.OtherNotAssigned or UnicodeCategory.Surrogate
                        or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator)
                    {
                        b.Append(v <= 0xffff ? "\\u" + v.ToString("x4", CultureInfo.InvariantCulture) : "\\U" + v.ToString("x8", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        b.Append(rune.ToString());
                    }
                    break;
            }
        }
        b.Append('"');
        return b.ToString();
    }

    /// <summary>Go <c>encoding/json</c> string encoding with <c>EscapeHTML</c> (the default).</summary>
    public static void AppendGoJsonString(StringBuilder b, string value)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(value);
        b.Append('"');
        foreach (var ch in value)
        {
            switch (ch)
            {
                case '"': b.Append("\\\""); break;
                case '\\': b.Append("\\\\"); break;
                case '\n': b.Append("\\n"); break;
                case '\r': b.Append("\\r"); break;
                case '\t': b.Append("\\t"); break;
                case '<': b.Append("\\u003c"); break;
                case '>': b.Append("\\u003e"); break;
                case '&': b.Append("\\u0026"); break;
                case '\u2028': b.Append("\\u2028"); break;
                case '\u2029': b.Append("\\u2029"); break;
                default:
                    if (ch < 0x20)
                    {
                        b.Append("\\u").Append(((int)ch).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        b.Append(ch);
                    }
                    break;
            }
        }
        b.Append('"');
    }
}
