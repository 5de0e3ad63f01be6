namespace BuildFarm.Kaniko.Logs;

/// <summary>
/// Allocation-free parser for the RFC3339 timestamps found in Kaniko logs: the Kubernetes
/// <c>timestamps=true</c> prefix (<c>2020-10-23T22:00:12.540764648Z</c>) and Kaniko's own
/// <c>2024-04-17T14:14:12Z</c> / <c>…+02:00</c>. Fractions beyond 100 ns are ignored.
/// </summary>
internal static class Rfc3339
{
    /// <summary>Parses a timestamp at the start of <paramref name="s"/>; <paramref name="length"/> is the characters used.</summary>
    public static bool TryParse(ReadOnlySpan<char> s, out long utcTicks, out int length)
    {
        utcTicks = 0;
        length = 0;
        if (s.Length < 20
            || !Digits(s, 0, 4, out var year) || s[4] != '-'
            || !Digits(s, 5, 2, out var month) || s[7] != '-'
            || !Digits(s, 8, 2, out var day) || (s[10] != 'T' && s[10] != 't')
            || !Digits(s, 11, 2, out var hour) || s[13] != ':'
            || !Digits(s, 14, 2, out var minute) || s[16] != ':'
            || !Digits(s, 17, 2, out var second))
        {
            return false;
        }

        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month)
            || hour > 23 || minute > 59 || second > 60)
        {
            return false;
        }

        var i = 19;
        long fraction = 0;
        if (i < s.Length && s[i] == '.')
        {
            i++;
            var start = i;
            long scale = TimeSpan.TicksPerSecond;
            while (i < s.Length && char.IsAsciiDigit(s[i]))
            {
                if (scale > 1)
                {
                    scale /= 10;
                    fraction += (s[i] - '0') * scale;
                }

                i++;
            }

            if (i == start)
            {
                return false;
            }
        }

        long offsetTicks = 0;
        if (i < s.Length && (s[i] == 'Z' || s[i] == 'z'))
        {
            i++;
        }
        else if (i + 6 <= s.Length && (s[i] == '+' || s[i] == '-')
                 && Digits(s, i + 1, 2, out var offHours) && s[i + 3] == ':' && Digits(s, i + 4, 2, out var offMinutes)
                 && offHours < 24 && offMinutes < 60)
        {
            offsetTicks = (offHours * 60L + offMinutes) * TimeSpan.TicksPerMinute * (s[i] == '-' ? -1 : 1);
            i += 6;
        }
        else
        {
            return false;
        }

        // A leap second (60) is folded into the last second of the minute.
        var ticks = new DateTime(year, month, day, hour, minute, Math.Min(second, 59), DateTimeKind.Utc).Ticks;
        utcTicks = ticks + fraction - offsetTicks;
        length = i;
        return true;
    }

    private static bool Digits(ReadOnlySpan<char> s, int start, int count, out int value)
    {
        value = 0;
        for (var i = start; i < start + count; i++)
        {
            var c = s[i];
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }

            value = (value * 10) + (c - '0');
        }

        return true;
    }
}
