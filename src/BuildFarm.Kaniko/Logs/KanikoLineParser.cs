using System.Buffers;

namespace BuildFarm.Kaniko.Logs;

/// <summary>Log level of a Kaniko (logrus) line.</summary>
internal enum KanikoLevel : byte
{
    Trace,
    Debug,
    Info,
    Warning,
    Error,
    Fatal,
    Panic,
}

/// <summary>The time a Kaniko line carries itself.</summary>
internal enum KanikoLineClock : byte
{
    None,
    Elapsed,
    Rfc3339,
}

/// <summary>A recognised Kaniko (logrus) line. <see cref="Message"/> is still escaped when <see cref="Escaped"/>.</summary>
internal ref struct KanikoLine
{
    public KanikoLogFormat Format;
    public KanikoLevel Level;
    public KanikoLineClock Clock;

    /// <summary>UTC ticks for RFC3339, whole seconds × ticks for elapsed.</summary>
    public long Ticks;

    public ReadOnlySpan<char> Message;
    public bool Escaped;
}

/// <summary>
/// Span-based, allocation-free recognition of the parts of one log line: prefixes before the Kaniko part
/// (Kubernetes timestamp, <c>Step #0: </c>, <c>logs | pod &gt; c | </c>, markdown, leading blanks) and the
/// three Kaniko layouts (kaniko-facts §7): color (with ESC bytes, remnants or neither), text and json.
/// </summary>
internal static partial class KanikoLineParser
{
    /// <summary>How far into a line a Kaniko part is searched for behind unknown (CI) junk.</summary>
    public const int EmbeddedSearchLimit = 256;

    private static readonly SearchValues<string> EmbeddedMarkers = SearchValues.Create(
        [
            "INFO", "WARN", "ERRO", "FATA", "PANI", "DEBU", "TRAC", "time=\"", "{\"level\"",
            "error building image:", "error pushing image:", "error checking push permissions",
            "unable to complete operation after",
        ],
        StringComparison.Ordinal);

    /// <summary>Strips a leading Kubernetes RFC3339Nano timestamp and the space after it.</summary>
    public static bool TryStripKubernetesTimestamp(ref ReadOnlySpan<char> line, out long utcTicks)
    {
        utcTicks = 0;
        if (line.Length < 21 || !char.IsAsciiDigit(line[0]) || line[4] != '-')
        {
            return false;
        }

        if (!Rfc3339.TryParse(line, out utcTicks, out var length))
        {
            return false;
        }

        if (length == line.Length)
        {
            line = [];
            return true;
        }

        if (line[length] != ' ')
        {
            return false;
        }

        line = line[(length + 1)..];
        return true;
    }

    /// <summary>Strips CI prefixes that wrap every line: <c>Step #0: </c>, <c>Step #0 - "id": </c>, <c>logs | pod &gt; c | </c>.</summary>
    public static ReadOnlySpan<char> StripCiPrefixes(ReadOnlySpan<char> line)
    {
        for (var guard = 0; guard < 4 && line.Length > 0; guard++)
        {
            var c = line[0];
            if (c == 'S' && line.StartsWith("Step #", StringComparison.Ordinal))
            {
                var i = 6;
                while (i < line.Length && char.IsAsciiDigit(line[i]))
                {
                    i++;
                }

                if (i == 6 || i >= line.Length)
                {
                    return line;
                }

                if (line[i] == ':')
                {
                    line = line[(i + 1)..];
                    line = line.Length > 0 && line[0] == ' ' ? line[1..] : line;
                    continue;
                }

                // Cloud Build with a step id: Step #0 - "build": ...
                if (line[i..].StartsWith(" - \"", StringComparison.Ordinal))
                {
                    var close = line[(i + 4)..].IndexOf("\": ", StringComparison.Ordinal);
                    if (close >= 0)
                    {
                        line = line[(i + 4 + close + 3)..];
                        continue;
                    }
                }

                return line;
            }

            if (c == 'l' && line.StartsWith("logs | ", StringComparison.Ordinal))
            {
                var end = line[7..].IndexOf(" | ", StringComparison.Ordinal);
                if (end < 0)
                {
                    return line;
                }

                line = line[(7 + end + 3)..];
                continue;
            }

            return line;
        }

        return line;
    }

    /// <summary>Strips leading blanks and markdown (<c>&gt; </c> quotes, <c>- </c>/<c>* </c>/<c>+ </c> bullets).</summary>
    public static ReadOnlySpan<char> StripBlanksAndMarkdown(ReadOnlySpan<char> line)
    {
        for (var guard = 0; guard < 8; guard++)
        {
            line = line.TrimStart(" \t");
            if (line.Length >= 2 && line[1] == ' ' && line[0] is '>' or '-' or '*' or '+')
            {
                line = line[2..];
                continue;
            }

            if (line.Length == 1 && line[0] == '>')
            {
                return [];
            }

            return line;
        }

        return line;
    }

    /// <summary>Recognises a Kaniko line starting exactly at <paramref name="text"/>[0].</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out KanikoLine line)
    {
        line = default;
        if (text.Length < 6)
        {
            return false;
        }

        return text[0] switch
        {
            't' => TryParseText(text, out line),
            'l' => TryParseText(text, out line),
            '{' => TryParseJson(text, out line),
            _ => TryParseColor(text, out line),
        };
    }

    /// <summary>
    /// Looks for a Kaniko part or fatal line behind unknown junk in the first <see cref="EmbeddedSearchLimit"/>
    /// characters; candidates must follow a separator (blank, <c>]</c>, <c>|</c>, <c>:</c>, <c>&gt;</c>, or the <c>m</c> of a colour code).
    /// </summary>
    public static int FindEmbeddedStart(ReadOnlySpan<char> text)
    {
        var window = text.Length > EmbeddedSearchLimit ? text[..EmbeddedSearchLimit] : text;
        var offset = 0;
        for (var guard = 0; guard < 8 && offset < window.Length; guard++)
        {
            var found = window[offset..].IndexOfAny(EmbeddedMarkers);
            if (found < 0)
            {
                return -1;
            }

            var position = offset + found;
            if (position > 0 && window[position - 1] is ' ' or '\t' or ']' or '|' or ':' or '>' or 'm')
            {
                return position;
            }

            offset = position + 1;
        }

        return -1;
    }

    private static bool TryWordLevel(ReadOnlySpan<char> s, out KanikoLevel level)
    {
        level = KanikoLevel.Info;
        if (s.Equals("info", StringComparison.OrdinalIgnoreCase)) { level = KanikoLevel.Info; return true; }
        if (s.Equals("warning", StringComparison.OrdinalIgnoreCase) || s.Equals("warn", StringComparison.OrdinalIgnoreCase)) { level = KanikoLevel.Warning; return true; }
        if (s.Equals("error", StringComparison.OrdinalIgnoreCase)) { level = KanikoLevel.Error; return true; }
        if (s.Equals("fatal", StringComparison.OrdinalIgnoreCase)) { level = KanikoLevel.Fatal; return true; }
        if (s.Equals("panic", StringComparison.OrdinalIgnoreCase)) { level = KanikoLevel.Panic; return true; }
        if (s.Equals("debug", StringComparison.OrdinalIgnoreCase)) { level = KanikoLevel.Debug; return true; }
        if (s.Equals("trace", StringComparison.OrdinalIgnoreCase)) { level = KanikoLevel.Trace; return true; }
        return false;
    }

    /// <summary>Index of the closing quote of a string starting at <paramref name="start"/>, honouring backslash escapes.</summary>
    private static int FindClosingQuote(ReadOnlySpan<char> s, int start)
    {
        var i = start;
        while (i < s.Length)
        {
            var next = s[i..].IndexOfAny('"', '\\');
            if (next < 0)
            {
                return -1;
            }

            i += next;
            if (s[i] == '"')
            {
                return i;
            }

            i += 2;
        }

        return -1;
    }
}
