namespace BuildFarm.Kaniko.Logs;

internal static partial class KanikoLineParser
{
    // ---- json layout: one logrus object per line ----------------------------------------------------

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
}
