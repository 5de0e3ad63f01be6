namespace BuildFarm.Kaniko.Logs;

internal static partial class KanikoLineParser
{
    // ---- Go %q and JSON string escapes --------------------------------------------------------------

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
