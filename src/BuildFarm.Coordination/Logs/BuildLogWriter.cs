using System.Globalization;
using System.Text;

namespace BuildFarm.Coordination.Logs;

/// <summary>
/// Writes one attempt's log to an <see cref="IBuildLogStore"/> as it is streamed: lines are buffered and appended in
/// batches (when <see cref="BuildLogOptions.FlushBytes"/> are buffered, and by <see cref="RunFlushesAsync"/> every
/// <see cref="BuildLogOptions.FlushInterval"/>), never one round trip per line.
/// <para>Past <see cref="BuildLogOptions.MaxAttemptBytes"/> the head (half of it) stays stored, the newest lines are kept
/// in memory as the tail (the other half) and written with a marker line saying what was cut when the attempt
/// completes.</para>
/// <para>The same log may be streamed again (a broken stream read once more, or a pod adopted by another worker after a
/// crash): after <see cref="Restart"/>, lines up to the last one accepted — by timestamp, then by count among lines with
/// that same timestamp — are skipped, so nothing is stored twice and nothing Kubernetes still serves is lost.</para>
/// <para>Store errors never reach the caller (a log is not worth a failed build): the lines stay buffered, the next
/// flush tries again, and <see cref="LastError"/> tells.</para>
/// </summary>
public sealed class BuildLogWriter : IDisposable
{
    private readonly IBuildLogStore _store;
    private readonly string _buildId;
    private readonly int _attempt;
    private readonly BuildLogOptions _options;
    private readonly long _headBudget;
    private readonly long _tailBudget;
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _writes = new(1, 1);

    // Lines written to the head, not yet in the store.
    private List<string> _pending = [];
    private long _pendingBytes;
    // The head as stored plus pending.
    private long _lines;
    private long _bytes;
    private long? _storedLast;
    private int _storedAtLast;
    // The tail kept in memory once the head is full, and what fell out of it.
    private readonly Queue<(string Line, long Size, long? Ticks)> _tail = new();
    private long _tailBytes;
    private long _cutLines;
    private long _cutBytes;
    private bool _tailMode;
    // The last line accepted (head or tail) and how many accepted lines share its timestamp; the skip point of a restart.
    private long? _acceptedLast;
    private int _acceptedAtLast;
    private bool _skipping;
    private int _seenAtLast;
    private bool _ended;

    /// <param name="store">Where the log goes.</param>
    /// <param name="buildId">The build's id.</param>
    /// <param name="attempt">The attempt number (1-based).</param>
    /// <param name="options">Cap and batching.</param>
    /// <param name="resume">The attempt's state in the store (an adopted pod's earlier worker wrote it); null for a new attempt.</param>
    public BuildLogWriter(IBuildLogStore store, string buildId, int attempt, BuildLogOptions options, BuildLogState? resume = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        BuildLogArguments.Check(buildId, attempt);
        _store = store;
        _buildId = buildId;
        _attempt = attempt;
        _options = options;
        _headBudget = options.MaxAttemptBytes / 2;
        _tailBudget = options.MaxAttemptBytes - _headBudget - 256; // room for the marker
        if (resume is not null)
        {
            _lines = resume.Lines;
            _bytes = resume.Bytes;
            _storedLast = _acceptedLast = resume.LastTimestamp;
            _storedAtLast = _acceptedAtLast = resume.AtLastTimestamp;
            _ended = resume.Ended;
            _tailMode = _bytes >= _headBudget;
            _skipping = true;
        }
    }

    /// <summary>Bytes of this attempt's log in the store (after <see cref="CompleteAsync"/>: all of it).</summary>
    public long StoredBytes { get { lock (_gate) { return _bytes - _pendingBytes; } } }

    /// <summary>Bytes cut from the middle (over the cap).</summary>
    public long CutBytes { get { lock (_gate) { return _cutBytes; } } }

    /// <summary>The last store error, null when the last write succeeded.</summary>
    public Exception? LastError { get; private set; }

    /// <summary>The log is being read again from its start: skip what was already accepted.</summary>
    public void Restart()
    {
        lock (_gate)
        {
            _skipping = _acceptedLast is not null;
            _seenAtLast = 0;
        }
    }

    /// <summary>Takes one line as Kubernetes served it (with its timestamp). True when enough is buffered that
    /// <see cref="FlushAsync"/> should run now.</summary>
    public bool Add(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        long? ticks = LogLines.TrySplit(line, out var t, out _) ? t : null;
        lock (_gate)
        {
            if (_ended || Skip(ticks))
            {
                return false;
            }
            ticks ??= _acceptedLast;
            if (ticks is not null && ticks == _acceptedLast)
            {
                _acceptedAtLast++;
            }
            else
            {
                _acceptedLast = ticks;
                _acceptedAtLast = 1;
            }
            var size = (long)Encoding.UTF8.GetByteCount(line) + 1;
            if (!_tailMode && _bytes + size <= _headBudget)
            {
                _pending.Add(line);
                _pendingBytes += size;
                _lines++;
                _bytes += size;
                if (ticks is not null && ticks == _storedLast)
                {
                    _storedAtLast++;
                }
                else if (ticks is not null)
                {
                    _storedLast = ticks;
                    _storedAtLast = 1;
                }
                return _pendingBytes >= _options.FlushBytes;
            }
            _tailMode = true;
            _tail.Enqueue((line, size, ticks));
            _tailBytes += size;
            while (_tailBytes > _tailBudget && _tail.TryDequeue(out var dropped))
            {
                _tailBytes -= dropped.Size;
                _cutLines++;
                _cutBytes += dropped.Size;
            }
            return false;
        }
    }

    private bool Skip(long? ticks)
    {
        if (!_skipping)
        {
            return false;
        }
        if (ticks is null || ticks < _acceptedLast)
        {
            return true;
        }
        if (ticks == _acceptedLast && ++_seenAtLast <= _acceptedAtLast)
        {
            return true;
        }
        _skipping = false;
        return false;
    }

    /// <summary>Writes what is buffered of the head (one round trip; none when nothing is).</summary>
    public Task FlushAsync(CancellationToken cancellationToken) => WriteAsync(complete: false, cancellationToken);

    /// <summary>The attempt ended: writes the rest, the cut marker and the tail, and marks the log ended. False when the
    /// store refused (the lines stay buffered for another try).</summary>
    public async Task<bool> CompleteAsync(CancellationToken cancellationToken)
    {
        await WriteAsync(complete: true, cancellationToken).ConfigureAwait(false);
        return LastError is null;
    }

    /// <summary>Flushes every <see cref="BuildLogOptions.FlushInterval"/> until <paramref name="cancellationToken"/> fires.</summary>
    public async Task RunFlushesAsync(TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(time);
        using var timer = new PeriodicTimer(_options.FlushInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                await FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task WriteAsync(bool complete, CancellationToken cancellationToken)
    {
        await _writes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            List<string> lines;
            long pendingBytes;
            BuildLogState state;
            lock (_gate)
            {
                if (_ended || (_pending.Count == 0 && !complete))
                {
                    return;
                }
                lines = _pending;
                pendingBytes = _pendingBytes;
                _pending = [];
                _pendingBytes = 0;
                var (addedLines, addedBytes) = (0L, 0L);
                if (complete && (_tail.Count > 0 || _cutLines > 0))
                {
                    if (_cutLines > 0)
                    {
                        var marker = CutMarker(_tail.Count > 0 ? _tail.Peek().Ticks : _storedLast);
                        lines.Add(marker);
                        addedLines++;
                        addedBytes += Encoding.UTF8.GetByteCount(marker) + 1;
                    }
                    foreach (var (line, size, _) in _tail)
                    {
                        lines.Add(line);
                        addedLines++;
                        addedBytes += size;
                    }
                }
                state = new BuildLogState(_lines + addedLines, _bytes + addedBytes, _storedLast, _storedAtLast, _cutLines, _cutBytes, complete);
            }
            try
            {
                await _store.AppendAsync(_buildId, _attempt, lines, state, cancellationToken).ConfigureAwait(false);
                LastError = null;
                if (complete)
                {
                    lock (_gate)
                    {
                        _ended = true;
                        _lines = state.Lines;
                        _bytes = state.Bytes;
                        _tail.Clear();
                        _tailBytes = 0;
                    }
                }
            }
            catch (Exception e)
            {
                lock (_gate)
                {
                    // Back to the front of the buffer (without the marker and tail, which are rebuilt on the next try).
                    var head = complete ? lines.Take((int)(lines.Count - (state.Lines - _lines))).ToList() : lines;
                    head.AddRange(_pending);
                    _pending = head;
                    _pendingBytes += pendingBytes;
                }
                if (e is OperationCanceledException && cancellationToken.IsCancellationRequested)
                {
                    throw;
                }
                LastError = e;
            }
        }
        finally
        {
            _writes.Release();
        }
    }

    public void Dispose() => _writes.Dispose();

    private string CutMarker(long? ticks)
    {
        var stamp = new DateTimeOffset(ticks ?? 0, TimeSpan.Zero).ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);
        return string.Create(CultureInfo.InvariantCulture,
            $"{stamp} [buildfarm] {_cutLines} lines ({_cutBytes} bytes) cut here: this attempt's log is over Logs:MaxAttemptBytes ({_options.MaxAttemptBytes} bytes); its head and tail are kept");
    }
}
