namespace BuildFarm.ClusterSim.Api;

/// <summary>
/// A registered watch: receives every committed change after its starting version. Changes reach the watcher's
/// connection one of two ways. When the HTTP layer has attached a direct writer (<see cref="AttachDirectWriter"/>) and the connection is free,
/// the store's fan-out step writes the change itself, to every such watcher one after the other, so that all of them get
/// it at about the same moment (no wake-up of one task per watcher, each queued behind the rest of the server's work).
/// Otherwise (a replay, the Table form, the connection busy with an earlier write or a flush that did not complete at
/// once: a slow client) the change waits in this watch's queue for the watcher's own loop, which keeps the order.
/// </summary>
public sealed class StoreWatch : IDisposable
{
    private enum Owner
    {
        None,
        FanOut,
        Loop,
        HandedOver,
    }

    private readonly SimStore _store;
    private readonly Lock _gate = new();
    private readonly Queue<StoredEvent> _queue = new();
    private Owner _owner;
    private Func<IReadOnlyList<StoredEvent>, ValueTask>? _direct;
    private Task? _handover;
    private TaskCompletionSource? _wake;
    private bool _signalled;
    private bool _loopWaiting;
    private bool _closed;
    private TaskCompletionSource? _released;
    private Exception? _fault;

    internal StoreWatch(SimStore store, string resource, long replayedUpTo)
    {
        _store = store;
        Resource = resource;
        ReplayedUpTo = replayedUpTo;
    }

    public string Resource { get; }

    /// <summary>The store's version when the watch began: events up to it are a replay (history or current state).</summary>
    public long ReplayedUpTo { get; }

    /// <summary>Changes waiting for the watcher's loop.</summary>
    public int Queued
    {
        get { lock (_gate) { return _queue.Count; } }
    }

    /// <summary>Set when a direct write threw (the connection is unusable): the loop ends the watch.</summary>
    public Exception? Fault
    {
        get { lock (_gate) { return _fault; } }
    }

    /// <summary>
    /// Lets the fan-out step write changes straight to the connection: <paramref name="writer"/> writes the changes it
    /// is given (filtering them as the watch asks) and flushes; a flush that does not complete at once is returned
    /// pending and the watcher's loop finishes it (see <see cref="TryAcquire"/>). Called at most once, before the loop starts.
    /// </summary>
    public void AttachDirectWriter(Func<IReadOnlyList<StoredEvent>, ValueTask> writer)
    {
        lock (_gate)
        {
            _direct = writer;
        }
    }

    internal void Enqueue(StoredEvent ev)
    {
        lock (_gate)
        {
            _queue.Enqueue(ev);
            Wake();
        }
    }

    /// <summary>The fan-out step: writes <paramref name="batch"/> directly when the connection is free, queues it otherwise.</summary>
    internal void Offer(IReadOnlyList<StoredEvent> batch)
    {
        Func<IReadOnlyList<StoredEvent>, ValueTask> direct;
        lock (_gate)
        {
            if (_closed)
            {
                return;
            }
            if (_direct is null || _owner != Owner.None || _queue.Count > 0)
            {
                foreach (var ev in batch)
                {
                    _queue.Enqueue(ev);
                }
                Wake();
                return;
            }
            _owner = Owner.FanOut;
            direct = _direct;
        }
        ValueTask pending;
        try
        {
            pending = direct(batch);
        }
        catch (Exception e)
        {
            pending = ValueTask.FromException(e);
        }
        lock (_gate)
        {
            if (!pending.IsCompleted)
            {
                // A slow client: its loop finishes the flush and takes what queues up meanwhile; the others go on.
                _handover = pending.AsTask();
                _owner = Owner.HandedOver;
                Wake();
                _released?.TrySetResult();
            }
            else
            {
                if (!pending.IsCompletedSuccessfully)
                {
                    _fault = pending.AsTask().Exception?.GetBaseException() ?? new OperationCanceledException("the watch write was cancelled");
                    _signalled = true;
                }
                _owner = Owner.None;
                if (_queue.Count > 0 || _loopWaiting || _fault is not null)
                {
                    _loopWaiting = false;
                    Wake();
                }
                _released?.TrySetResult();
            }
        }
    }

    /// <summary>Wakes the loop (under <see cref="_gate"/>).</summary>
    private void Wake()
    {
        _signalled = true;
        var wake = _wake;
        _wake = null;
        wake?.TrySetResult();
    }

    /// <summary>
    /// The loop's wait: true when there is something to do (queued changes, a flush handed over, a fault), false when
    /// <paramref name="timeout"/> passed first. Throws when <paramref name="ct"/> is cancelled.
    /// </summary>
    public async ValueTask<bool> WaitAsync(TimeSpan timeout, CancellationToken ct)
    {
        Task wait;
        lock (_gate)
        {
            if (_signalled || _queue.Count > 0 || _owner == Owner.HandedOver)
            {
                _signalled = false;
                return true;
            }
            _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            wait = _wake.Task;
        }
        try
        {
            await wait.WaitAsync(timeout, ct);
        }
        catch (TimeoutException)
        {
            return false;
        }
        lock (_gate)
        {
            _signalled = false;
        }
        return true;
    }

    /// <summary>
    /// Takes the connection for the loop: false while the fan-out step is writing (the loop is woken when it is done).
    /// <paramref name="handover"/> is the fan-out's pending flush, which the loop must await before writing.
    /// </summary>
    public bool TryAcquire(out Task? handover)
    {
        lock (_gate)
        {
            handover = null;
            if (_owner == Owner.FanOut)
            {
                _loopWaiting = true;
                return false;
            }
            handover = _handover;
            _handover = null;
            _owner = Owner.Loop;
            return true;
        }
    }

    /// <summary>Takes every queued change (the loop holds the connection).</summary>
    public bool TryDrain(List<StoredEvent> into)
    {
        ArgumentNullException.ThrowIfNull(into);
        lock (_gate)
        {
            if (_queue.Count == 0)
            {
                return false;
            }
            while (_queue.TryDequeue(out var ev))
            {
                into.Add(ev);
            }
            return true;
        }
    }

    /// <summary>Gives the connection back to the fan-out step; false (still held) when changes queued up meanwhile.</summary>
    public bool TryRelease()
    {
        lock (_gate)
        {
            if (_queue.Count > 0)
            {
                return false;
            }
            _owner = Owner.None;
            return true;
        }
    }

    /// <summary>
    /// Ends direct writes: waits until a write of the fan-out step in progress is done and returns its flush if handed
    /// over and not yet awaited. After it the connection is the caller's alone.
    /// </summary>
    public async Task<Task?> CloseAsync()
    {
        Task? wait = null;
        Task? handover;
        lock (_gate)
        {
            _closed = true;
            _direct = null;
            if (_owner == Owner.FanOut)
            {
                _released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = _released.Task;
            }
            handover = _handover;
            _handover = null;
        }
        if (wait is not null)
        {
            await wait;
            lock (_gate)
            {
                handover = _handover;
                _handover = null;
            }
        }
        return handover;
    }

    public void Dispose() => _store.Unsubscribe(this);
}
