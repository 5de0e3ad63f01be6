namespace BuildFarm.Kaniko.Logs;

internal static partial class KanikoLineParser
{
    // ---- text layout: time="…" level=… msg="…" ------------------------------------------------------

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
}
