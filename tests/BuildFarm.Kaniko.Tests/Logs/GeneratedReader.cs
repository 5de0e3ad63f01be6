namespace BuildFarm.Kaniko.Tests.Logs;

/// <summary>
/// A TextReader that streams pieces of text, each repeated a number of times, without ever building the whole
/// text: lets tests feed hundreds of megabytes with a constant footprint.
/// </summary>
internal sealed class GeneratedReader((string Text, long Repeat)[] pieces) : TextReader
{
    private int _piece;
    private long _repeat;
    private int _offset;

    public long CharsRead { get; private set; }

    public override int Read(char[] buffer, int index, int count) => Read(buffer.AsSpan(index, count));

    public override int Read(Span<char> buffer)
    {
        var written = 0;
        while (written < buffer.Length && _piece < pieces.Length)
        {
            var (text, repeat) = pieces[_piece];
            if (_repeat >= repeat || text.Length == 0)
            {
                _piece++;
                _repeat = 0;
                _offset = 0;
                continue;
            }

            if (text.Length == 1)
            {
                var n = (int)Math.Min(buffer.Length - written, repeat - _repeat);
                buffer.Slice(written, n).Fill(text[0]);
                written += n;
                _repeat += n;
                continue;
            }

            var take = Math.Min(buffer.Length - written, text.Length - _offset);
            text.AsSpan(_offset, take).CopyTo(buffer[written..]);
            written += take;
            _offset += take;
            if (_offset == text.Length)
            {
                _offset = 0;
                _repeat++;
            }
        }

        CharsRead += written;
        return written;
    }

    public override int Peek() => -1;
}
