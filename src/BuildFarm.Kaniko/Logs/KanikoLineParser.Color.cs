namespace BuildFarm.Kaniko.Logs;

internal static partial class KanikoLineParser
{
    // ---- color layout: INFO[0005] message (elapsed seconds or an RFC3339 stamp in the brackets) -----

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
}
