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
internal static class KanikoLineParser
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

    private static bool TryParseColor(ReadOnlySpan<char> s, out KanikoLine line)
    {
        line = default;
        var i = 0;

        // Optional colour: ESC[36m or its remnant [36m. A viewer that decoded the ESC byte as invalid shows
        // U+FFFD instead (tektoncd/pipeline#5727): the same thing.
        if (s[i] is '\x1b' or '\uFFFD')
        {
            i++;
        }

        if (i < s.Length && s[i] == '[')
        {
            var j = i + 1;
            while (j < s.Length && j - i <= 3 && char.IsAsciiDigit(s[j]))
            {
                j++;
            }

            if (j > i + 1 && j < s.Length && s[j] == 'm')
            {
                i = j + 1;
            }
            else
            {
                return false;
            }
        }
        else if (i > 0)
        {
            return false;
        }

        if (i + 5 > s.Length || !TryColorLevel(s.Slice(i, 4), out var level))
        {
            return false;
        }

        i += 4;

        // Optional reset: ESC[0m or its remnant [0m.
        if (i < s.Length && s[i] is '\x1b' or '\uFFFD')
        {
            if (!s[(i + 1)..].StartsWith("[0m", StringComparison.Ordinal))
            {
                return false;
            }

            i += 4;
        }
        else if (s[i..].StartsWith("[0m[", StringComparison.Ordinal))
        {
            i += 3;
        }

        if (i >= s.Length || s[i] != '[')
        {
            return false;
        }

        var close = s[(i + 1)..].IndexOf(']');
        if (close <= 0 || close > 40)
        {
            return false;
        }

        var stamp = s.Slice(i + 1, close);
        if (IsAllDigits(stamp))
        {
            line.Clock = KanikoLineClock.Elapsed;
            long seconds = 0;
            foreach (var c in stamp)
            {
                seconds = (seconds * 10) + (c - '0');
            }

            line.Ticks = seconds * TimeSpan.TicksPerSecond;
        }
        else if (Rfc3339.TryParse(stamp, out var ticks, out var used) && used == stamp.Length)
        {
            line.Clock = KanikoLineClock.Rfc3339;
            line.Ticks = ticks;
        }
        else
        {
            return false;
        }

        i += close + 2;
        var message = i < s.Length ? s[i..] : [];
        line.Format = KanikoLogFormat.Color;
        line.Level = level;
        line.Message = message.Length > 0 && message[0] == ' ' ? message[1..] : message;
        return true;
    }

    private static bool TryColorLevel(ReadOnlySpan<char> s, out KanikoLevel level)
    {
        level = KanikoLevel.Info;
        switch (s[0])
        {
            case 'I' when s.SequenceEqual("INFO"): level = KanikoLevel.Info; return true;
            case 'W' when s.SequenceEqual("WARN"): level = KanikoLevel.Warning; return true;
            case 'E' when s.SequenceEqual("ERRO"): level = KanikoLevel.Error; return true;
            case 'F' when s.SequenceEqual("FATA"): level = KanikoLevel.Fatal; return true;
            case 'P' when s.SequenceEqual("PANI"): level = KanikoLevel.Panic; return true;
            case 'D' when s.SequenceEqual("DEBU"): level = KanikoLevel.Debug; return true;
            case 'T' when s.SequenceEqual("TRAC"): level = KanikoLevel.Trace; return true;
            default: return false;
        }
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

    /// <summary><c>time="…" level=info msg="…"</c>; values are bare or Go-quoted.</summary>
    private static bool TryParseText(ReadOnlySpan<char> s, out KanikoLine line)
    {
        line = default;
        var sawLevel = false;
        var sawMsg = false;
        var i = 0;
        for (var field = 0; field < 8 && i < s.Length; field++)
        {
            var eq = s[i..].IndexOf('=');
            if (eq <= 0)
            {
                break;
            }

            var key = s.Slice(i, eq);
            i += eq + 1;
            ReadOnlySpan<char> value;
            var quoted = i < s.Length && s[i] == '"';
            if (quoted)
            {
                var end = FindClosingQuote(s, i + 1);
                if (end < 0)
                {
                    // A quoted msg cut by a truncated line: take what is there.
                    if (!key.SequenceEqual("msg"))
                    {
                        return false;
                    }

                    end = s.Length;
                }

                value = s[(i + 1)..end];
                i = Math.Min(end + 1, s.Length);
            }
            else
            {
                var end = s[i..].IndexOf(' ');
                value = end < 0 ? s[i..] : s.Slice(i, end);
                i += value.Length;
            }

            if (key.SequenceEqual("time"))
            {
                if (!Rfc3339.TryParse(value, out var ticks, out var used) || used != value.Length)
                {
                    return false;
                }

                line.Clock = KanikoLineClock.Rfc3339;
                line.Ticks = ticks;
            }
            else if (key.SequenceEqual("level"))
            {
                if (!TryWordLevel(value, out line.Level))
                {
                    return false;
                }

                sawLevel = true;
            }
            else if (key.SequenceEqual("msg"))
            {
                line.Message = value;
                line.Escaped = quoted && value.Contains('\\');
                sawMsg = true;
            }
            else if (field == 0)
            {
                return false;
            }

            if (i < s.Length)
            {
                if (s[i] != ' ')
                {
                    return false;
                }

                i++;
            }
        }

        if (!sawLevel || !sawMsg)
        {
            return false;
        }

        line.Format = KanikoLogFormat.Text;
        return true;
    }

    /// <summary>One logrus JSON object: string values for <c>level</c>, <c>msg</c>, <c>time</c> (others skipped).</summary>
    private static bool TryParseJson(ReadOnlySpan<char> s, out KanikoLine line)
    {
        line = default;
        if (s.Length < 2 || s[1] != '"')
        {
            return false;
        }

        var sawLevel = false;
        var sawMsg = false;
        var i = 1;
        for (var field = 0; field < 16; field++)
        {
            i = SkipBlanks(s, i);
            if (i >= s.Length || s[i] != '"')
            {
                return false;
            }

            var keyEnd = FindClosingQuote(s, i + 1);
            if (keyEnd < 0)
            {
                return false;
            }

            var key = s[(i + 1)..keyEnd];
            i = SkipBlanks(s, keyEnd + 1);
            if (i >= s.Length || s[i] != ':')
            {
                return false;
            }

            i = SkipBlanks(s, i + 1);
            if (i < s.Length && s[i] == '"')
            {
                var valueEnd = FindClosingQuote(s, i + 1);
                var truncated = valueEnd < 0;
                if (truncated)
                {
                    if (!key.SequenceEqual("msg"))
                    {
                        return false;
                    }

                    valueEnd = s.Length;
                }

                var value = s[(i + 1)..valueEnd];
                if (key.SequenceEqual("level"))
                {
                    if (!TryWordLevel(value, out line.Level))
                    {
                        return false;
                    }

                    sawLevel = true;
                }
                else if (key.SequenceEqual("msg"))
                {
                    line.Message = value;
                    line.Escaped = value.Contains('\\');
                    sawMsg = true;
                }
                else if (key.SequenceEqual("time"))
                {
                    if (Rfc3339.TryParse(value, out var ticks, out var used) && used == value.Length)
                    {
                        line.Clock = KanikoLineClock.Rfc3339;
                        line.Ticks = ticks;
                    }
                }

                if (truncated)
                {
                    break;
                }

                i = valueEnd + 1;
            }
            else
            {
                // A non-string value: skip to the next separator (logrus only adds strings here).
                while (i < s.Length && s[i] != ',' && s[i] != '}')
                {
                    i++;
                }
            }

            i = SkipBlanks(s, i);
            if (i >= s.Length || s[i] == '}')
            {
                break;
            }

            if (s[i] != ',')
            {
                return false;
            }

            i++;
        }

        if (!sawLevel || !sawMsg)
        {
            return false;
        }

        line.Format = KanikoLogFormat.Json;
        return true;
    }

    private static int SkipBlanks(ReadOnlySpan<char> s, int i)
    {
        while (i < s.Length && s[i] == ' ')
        {
            i++;
        }

        return i;
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

    private static bool IsAllDigits(ReadOnlySpan<char> s)
    {
        if (s.IsEmpty)
        {
            return false;
        }

        foreach (var c in s)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Decodes Go <c>%q</c> and JSON escapes (<c>\"</c>, <c>\\</c>, <c>\n</c>, <c>\t</c>, <c>\u0026</c>, <c>\x41</c>…) into
    /// <paramref name="destination"/>; stops when it is full. Returns the characters written.
    /// </summary>
    public static int Unescape(ReadOnlySpan<char> raw, Span<char> destination)
    {
        var written = 0;
        var i = 0;
        while (i < raw.Length && written < destination.Length)
        {
            var c = raw[i];
            if (c != '\\' || i + 1 >= raw.Length)
            {
                destination[written++] = c;
                i++;
                continue;
            }

            var e = raw[i + 1];
            i += 2;
            switch (e)
            {
                case 'n': destination[written++] = '\n'; break;
                case 't': destination[written++] = '\t'; break;
                case 'r': destination[written++] = '\r'; break;
                case 'b': destination[written++] = '\b'; break;
                case 'f': destination[written++] = '\f'; break;
                case 'a': destination[written++] = '\a'; break;
                case 'v': destination[written++] = '\v'; break;
                case 'u' when TryHex(raw, i, 4, out var u): destination[written++] = (char)u; i += 4; break;
                case 'x' when TryHex(raw, i, 2, out var x): destination[written++] = (char)x; i += 2; break;
                case 'U' when TryHex(raw, i, 8, out var big):
                    i += 8;
                    if (big <= 0xFFFF)
                    {
                        destination[written++] = (char)big;
                    }
                    else if (big <= 0x10FFFF && written + 2 <= destination.Length)
                    {
                        var rune = new System.Text.Rune(big);
                        written += rune.EncodeToUtf16(destination[written..]);
                    }

                    break;
                default: destination[written++] = e; break;
            }
        }

        return written;
    }

    private static bool TryHex(ReadOnlySpan<char> s, int start, int count, out int value)
    {
        value = 0;
        if (start + count > s.Length)
        {
            return false;
        }

        for (var i = start; i < start + count; i++)
        {
            var c = s[i];
            int digit;
            if (char.IsAsciiDigit(c))
            {
                digit = c - '0';
            }
            else if (c is >= 'a' and <= 'f')
            {
                digit = c - 'a' + 10;
            }
            else if (c is >= 'A' and <= 'F')
            {
                digit = c - 'A' + 10;
            }
            else
            {
                return false;
            }

            value = (value << 4) | digit;
        }

        return true;
    }
}
