namespace BuildFarm.Kaniko.Logs;

public sealed partial class KanikoLogAnalyzer
{
    private const int ReadChunkChars = 32 * 1024;

    /// <summary>Analyses a whole log from a reader, one line at a time, with a fixed-size buffer.</summary>
    public static KanikoLogAnalysis Analyze(TextReader reader, KanikoLogAnalyzerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var analyzer = new KanikoLogAnalyzer(options);
        var splitter = new LineSplitter(analyzer);
        var buffer = new char[ReadChunkChars];
        int read;
        while ((read = reader.Read(buffer, 0, buffer.Length)) > 0)
        {
            splitter.Feed(buffer.AsSpan(0, read));
        }

        splitter.Flush();
        return analyzer.Complete();
    }

    /// <summary>Analyses a whole log from a reader asynchronously (e.g. a followed Kubernetes log stream).</summary>
    public static async Task<KanikoLogAnalysis> AnalyzeAsync(
        TextReader reader, KanikoLogAnalyzerOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var analyzer = new KanikoLogAnalyzer(options);
        var splitter = new LineSplitter(analyzer);
        var buffer = new char[ReadChunkChars];
        int read;
        while (true)
        {
            // Checked per chunk too: not every TextReader honours the token.
            cancellationToken.ThrowIfCancellationRequested();
            read = await reader.ReadAsync(buffer.AsMemory(), cancellationToken);
            if (read == 0)
            {
                break;
            }

            splitter.Feed(buffer.AsSpan(0, read));
        }

        splitter.Flush();
        return analyzer.Complete();
    }

    /// <summary>Analyses a UTF-8 log stream (a BOM is honoured). The stream is left open.</summary>
    public static async Task<KanikoLogAnalysis> AnalyzeAsync(
        Stream stream, KanikoLogAnalyzerOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var reader = new StreamReader(stream, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true,
            bufferSize: ReadChunkChars, leaveOpen: true);
        return await AnalyzeAsync(reader, options, cancellationToken);
    }

    /// <summary>
    /// Splits chunks of text into lines for an analyzer without allocating per line. A line split across chunks
    /// is assembled in a buffer of at most <see cref="MaxLineChars"/>; the rest of a longer line is dropped.
    /// </summary>
    private sealed class LineSplitter(KanikoLogAnalyzer analyzer)
    {
        // Grows by doubling up to MaxLineChars: most split lines are short.
        private char[] _partial = new char[1024];
        private int _partialLength;
        private bool _hasPartial;

        public void Feed(ReadOnlySpan<char> chunk)
        {
            while (!chunk.IsEmpty)
            {
                var newline = chunk.IndexOf('\n');
                if (newline < 0)
                {
                    Append(chunk);
                    return;
                }

                if (_hasPartial)
                {
                    Append(chunk[..newline]);
                    analyzer.AnalyzeLine(_partial.AsSpan(0, _partialLength));
                    _partialLength = 0;
                    _hasPartial = false;
                }
                else
                {
                    analyzer.AnalyzeLine(chunk[..newline]);
                }

                chunk = chunk[(newline + 1)..];
            }
        }

        public void Flush()
        {
            if (_hasPartial)
            {
                analyzer.AnalyzeLine(_partial.AsSpan(0, _partialLength));
                _partialLength = 0;
                _hasPartial = false;
            }
        }

        private void Append(ReadOnlySpan<char> text)
        {
            _hasPartial = true;
            var needed = Math.Min(_partialLength + text.Length, MaxLineChars);
            if (needed > _partial.Length)
            {
                Array.Resize(ref _partial, Math.Min(Math.Max(needed, _partial.Length * 2), MaxLineChars));
            }

            var take = Math.Min(text.Length, _partial.Length - _partialLength);
            text[..take].CopyTo(_partial.AsSpan(_partialLength));
            _partialLength += take;
        }
    }
}
