namespace BuildFarm.Kaniko.Logs;

public sealed partial class KanikoLogAnalyzer
{
    // ---- fatal lines --------------------------------------------------------------------------------

    /// <summary>Recognises the executor's final error line, which has no logrus prefix in any format.</summary>
    private bool TryStartFatal(ReadOnlySpan<char> text, ReadOnlySpan<char> body)
    {
        var isFatal = text[0] switch
        {
            'e' or 'E' => text.StartsWith("error building image", StringComparison.OrdinalIgnoreCase)
                || text.StartsWith("error pushing image", StringComparison.OrdinalIgnoreCase)
                || text.StartsWith("error checking push permissions", StringComparison.OrdinalIgnoreCase)
                || text.StartsWith("error resolving relative paths to absolute paths", StringComparison.OrdinalIgnoreCase)
                || text.StartsWith("error changing to root dir", StringComparison.OrdinalIgnoreCase)
                // cobra validation errors: printed before the executor logs anything above debug level
                // (PersistentPreRunE logs "Getting source context" at debug, kaniko#727), never indented.
                || (_kanikoInfoLines == 0 && text.StartsWith("Error: ", StringComparison.Ordinal) && body.StartsWith("Error: ", StringComparison.Ordinal)),
            'u' or 'U' => text.StartsWith("unable to complete operation after", StringComparison.OrdinalIgnoreCase),
            'T' or 't' => text.StartsWith("Timed out snapshotting FS", StringComparison.OrdinalIgnoreCase),
            's' => text.StartsWith("stream error: stream ID ", StringComparison.Ordinal),
            // The executor crashed: a Go panic (tektoncd/pipeline#5727) or a Go runtime fatal error such as
            // "fatal error: runtime: out of memory" (kaniko#1333). Both end the process.
            'p' => text.StartsWith("panic: ", StringComparison.Ordinal),
            'f' => text.StartsWith("fatal error: ", StringComparison.Ordinal),
            _ => false,
        };

        if (!isFatal)
        {
            return false;
        }

        StartFatal(text, continuation: true);
        return true;
    }

    private void StartFatal(ReadOnlySpan<char> text, bool continuation)
    {
        if (_tentativePull)
        {
            ResolveTentative(confirmed: true);
        }

        _fatalSlot = _slot;
        _fatalLastPhaseSlot = _lastPhaseSlot;
        _hasFatal = true;
        _hasFatalFromError = false;
        _continuationOpen = continuation;
        _fatalHasReset = text.Contains(ResetByPeer, StringComparison.OrdinalIgnoreCase);
        _errorLength = 0;
        AppendError(text);
    }

    private void HandlePlain(ReadOnlySpan<char> body)
    {
        if (!_hasFatal || !_continuationOpen)
        {
            return;
        }

        // The error continues on lines that are indented or bulleted (Go multi-line errors), or after a line
        // ending in ':'. Anything else (CI junk, cobra's "Usage:") ends it.
        var previousEndsWithColon = _errorLength > 0 && _error[_errorLength - 1] == ':';
        var continues = body.Length > 0
            && (body[0] is ' ' or '\t' || body.StartsWith("* ", StringComparison.Ordinal) || previousEndsWithColon);
        if (!continues)
        {
            _continuationOpen = false;
            return;
        }

        _fatalHasReset |= body.Contains(ResetByPeer, StringComparison.OrdinalIgnoreCase);
        AppendError("\n");
        AppendError(body);
    }

    private void AppendError(ReadOnlySpan<char> text)
    {
        var room = MaxErrorChars - _errorLength;
        var take = Math.Min(room, text.Length);
        text[..take].CopyTo(_error.AsSpan(_errorLength));
        _errorLength += take;
    }
}
