using System.Globalization;
using System.Diagnostics;
using k8s;
using k8s.Models;

namespace BuildFarm.ClusterSim.Api;

/// <summary>A change to a stored object, as a watch delivers it.</summary>
public sealed class StoredEvent
{
    public StoredEvent(long resourceVersion, string type, string resource, IKubernetesObject<V1ObjectMeta> obj,
        IKubernetesObject<V1ObjectMeta>? previous)
    {
        ResourceVersion = resourceVersion;
        Type = type;
        Resource = resource;
        Item = obj;
        Previous = previous;
    }

    public long ResourceVersion { get; }

    /// <summary>ADDED, MODIFIED or DELETED.</summary>
    public string Type { get; }

    /// <summary><c>pods</c> or <c>events</c>.</summary>
    public string Resource { get; }

    public IKubernetesObject<V1ObjectMeta> Item { get; }
    public IKubernetesObject<V1ObjectMeta>? Previous { get; }

    /// <summary>When the store committed the change (a Stopwatch timestamp); 0 for a synthetic ADDED of the current state.</summary>
    public long CommittedAt { get; init; }

    private long _firstFlushed;

    /// <summary>
    /// Notes that the line was flushed to a watcher at <paramref name="now"/> (a Stopwatch timestamp) and returns when
    /// it was first flushed to any watcher (<paramref name="now"/> for the first).
    /// </summary>
    public long Flushed(long now)
    {
        var first = Interlocked.CompareExchange(ref _firstFlushed, now, 0);
        return first == 0 ? now : first;
    }

    private readonly Lock _serialise = new();
    private byte[]? _line;

    /// <summary>
    /// The UTF-8 watch line <c>{"type":…,"object":…}\n</c> for <paramref name="type"/>. The object is serialised once for
    /// all watchers and kept only as this event's own line (no UTF-16 copy); a line of another type (a MODIFIED seen as
    /// ADDED or DELETED through a selector) is built from its bytes.
    /// </summary>
    public byte[] WireLine(string type)
    {
        var own = Volatile.Read(ref _line);
        if (own is null)
        {
            // One watcher serialises; the others woken for the same event wait for it instead of repeating the work.
            lock (_serialise)
            {
                own = _line ??= Line(Type, System.Text.Encoding.UTF8.GetBytes(KubernetesJson.Serialize(Item)));
            }
        }
        if (type == Type)
        {
            return own;
        }
        var prefix = Prefix(Type);
        return Line(type, own.AsSpan(prefix, own.Length - prefix - 2));
    }

    private static int Prefix(string type) => "{\"type\":\"".Length + type.Length + "\",\"object\":".Length;

    private static byte[] Line(string type, ReadOnlySpan<byte> obj)
    {
        var line = new byte[Prefix(type) + obj.Length + 2];
        var at = System.Text.Encoding.UTF8.GetBytes($"{{\"type\":\"{type}\",\"object\":", line);
        obj.CopyTo(line.AsSpan(at));
        line[^2] = (byte)'}';
        line[^1] = (byte)'\n';
        return line;
    }
}

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

/// <summary>
/// The API server's storage: pods and events with a global resourceVersion, a bounded history of changes for
/// watch-from-version (older versions are 410 Expired), and a namespace pod quota. Stored objects are never mutated:
/// every update stores a new copy.
/// </summary>
public sealed class SimStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, V1Pod> _pods = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Corev1Event> _events = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Uid, string Reason, string Message), string> _eventKeys = [];

    // Every event write in commit order (key, the version it got), so that trimming takes the oldest without sorting.
    // An entry whose event was written again later is stale and skipped.
    private readonly Queue<(string Key, long Version)> _eventOrder = new();
    private readonly LinkedList<StoredEvent> _history = new();
    private StoreWatch[] _watches = [];
    private readonly WatchFanOut _fanOut = new();
    private readonly Func<DateTimeOffset> _now;
    private long _resourceVersion = 1;
    private long _oldestAvailable = 1;
    private int _historyLimit;
    private int _uid;

    public SimStore(Func<DateTimeOffset> now, int historyLimit)
    {
        _now = now;
        _historyLimit = historyLimit;
    }

    /// <summary>Non-terminated pods allowed per namespace; 0 = unlimited.</summary>
    public int PodQuota { get; set; }

    /// <summary>Largest memory limit per container (a LimitRange); a pod above it is refused with 403. Null: none.</summary>
    public ResourceQuantity? MaxContainerMemory { get; set; }

    public int HistoryLimit
    {
        get { lock (_lock) { return _historyLimit; } }
        set { lock (_lock) { _historyLimit = value; TrimHistory(); } }
    }

    public long ResourceVersion
    {
        get { lock (_lock) { return _resourceVersion; } }
    }

    public int WatchCount
    {
        get { lock (_lock) { return _watches.Length; } }
    }

    public static T Clone<T>(T obj) => KubernetesJson.Deserialize<T>(KubernetesJson.Serialize(obj));

    /// <summary>
    /// A new version of a stored pod: its own metadata (the resourceVersion changes), a deep copy of the spec and status
    /// only where asked, the stored parts shared otherwise. Copying the whole pod through JSON on every status change
    /// was most of the simulator's allocation under load.
    /// </summary>
    private static V1Pod CopyPod(V1Pod pod, bool status, bool spec) => new()
    {
        ApiVersion = pod.ApiVersion,
        Kind = pod.Kind,
        Metadata = Clone(pod.Metadata),
        Spec = spec && pod.Spec is not null ? Clone(pod.Spec) : pod.Spec,
        Status = status && pod.Status is not null ? Clone(pod.Status) : pod.Status,
    };

    private static string Key(string ns, string name) => ns + "/" + name;

    private static string Rv(long v) => v.ToString(CultureInfo.InvariantCulture);

    public V1Pod CreatePod(V1Pod pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        try
        {
            lock (_lock)
            {
                var ns = pod.Metadata.NamespaceProperty;
                var key = Key(ns, pod.Metadata.Name);
                if (_pods.ContainsKey(key))
                {
                    throw SimApiException.AlreadyExists("pods", pod.Metadata.Name);
                }
                if (MaxContainerMemory is { } max)
                {
                    RefuseOverMemoryLimit(pod, max);
                }
                if (PodQuota > 0)
                {
                    var used = _pods.Values.Count(p => p.Metadata.NamespaceProperty == ns && p.Status?.Phase is not ("Succeeded" or "Failed"));
                    if (used >= PodQuota)
                    {
                        throw new SimApiException(403, "Forbidden",
                            $"pods \"{pod.Metadata.Name}\" is forbidden: exceeded quota: pod-quota, requested: pods=1, used: pods={used}, limited: pods={PodQuota}",
                            new V1StatusDetails { Name = pod.Metadata.Name, Kind = "pods" });
                    }
                }
                pod.Metadata.Uid = NewUid();
                pod.Metadata.CreationTimestamp = Truncate(_now());
                pod.Metadata.Generation = 1;
                Commit(pod.Metadata, "ADDED", "pods", pod, null);
                _pods[key] = pod;
                return pod;
            }
        }
        finally
        {
            PrepareCommitted();
        }
    }

    /// <summary>As the LimitRanger admission plugin refuses a container whose memory limit is above the LimitRange's max.</summary>
    private static void RefuseOverMemoryLimit(V1Pod pod, ResourceQuantity max)
    {
        foreach (var container in pod.Spec?.Containers ?? [])
        {
            if (container.Resources?.Limits is { } limits && limits.TryGetValue("memory", out var limit) && limit.ToDecimal() > max.ToDecimal())
            {
                throw new SimApiException(403, "Forbidden",
                    $"pods \"{pod.Metadata.Name}\" is forbidden: maximum memory usage per Container is {max}, but limit is {limit}",
                    new V1StatusDetails { Name = pod.Metadata.Name, Kind = "pods" });
            }
        }
    }

    private string NewUid()
    {
        var n = ++_uid;
        return string.Create(CultureInfo.InvariantCulture, $"5e1f0000-0000-4000-8000-{n:x12}");
    }

    /// <summary>Kubernetes timestamps have one-second resolution.</summary>
    public static DateTime Truncate(DateTimeOffset t) =>
        new(t.UtcDateTime.Ticks - t.UtcDateTime.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);

    public V1Pod? GetPod(string ns, string name)
    {
        lock (_lock)
        {
            return _pods.GetValueOrDefault(Key(ns, name));
        }
    }

    /// <summary>Pods (all namespaces when <paramref name="ns"/> is null) sorted by namespace/name, and the current version.</summary>
    public (List<V1Pod> Items, long ResourceVersion) ListPods(string? ns)
    {
        lock (_lock)
        {
            var items = _pods.Values.Where(p => ns is null || p.Metadata.NamespaceProperty == ns)
                .OrderBy(p => p.Metadata.NamespaceProperty, StringComparer.Ordinal)
                .ThenBy(p => p.Metadata.Name, StringComparer.Ordinal)
                .ToList();
            return (items, _resourceVersion);
        }
    }

    public (List<Corev1Event> Items, long ResourceVersion) ListEvents(string? ns)
    {
        lock (_lock)
        {
            var items = _events.Values.Where(e => ns is null || e.Metadata.NamespaceProperty == ns)
                .OrderBy(e => e.Metadata.NamespaceProperty, StringComparer.Ordinal)
                .ThenBy(e => e.Metadata.Name, StringComparer.Ordinal)
                .ToList();
            return (items, _resourceVersion);
        }
    }

    public Corev1Event? GetEvent(string ns, string name)
    {
        lock (_lock)
        {
            return _events.GetValueOrDefault(Key(ns, name));
        }
    }

    /// <summary>
    /// Applies <paramref name="mutate"/> to a copy of the pod and stores it (MODIFIED). Null when the pod is gone.
    /// The copy has its own metadata and status; its spec is the stored one, shared, unless <paramref name="changesSpec"/>
    /// says <paramref name="mutate"/> writes to it (a stored object is never changed: watchers serialise it later).
    /// </summary>
    public V1Pod? UpdatePod(string ns, string name, Action<V1Pod> mutate, bool changesSpec = false)
    {
        ArgumentNullException.ThrowIfNull(mutate);
        try
        {
            lock (_lock)
            {
                var key = Key(ns, name);
                if (!_pods.TryGetValue(key, out var current))
                {
                    return null;
                }
                var next = CopyPod(current, status: true, spec: changesSpec);
                mutate(next);
                Commit(next.Metadata, "MODIFIED", "pods", next, current);
                _pods[key] = next;
                return next;
            }
        }
        finally
        {
            PrepareCommitted();
        }
    }

    /// <summary>Removes the pod (DELETED). Null when it was not there.</summary>
    public V1Pod? RemovePod(string ns, string name, string? uid = null)
    {
        try
        {
            lock (_lock)
            {
                var key = Key(ns, name);
                if (!_pods.TryGetValue(key, out var current) || (uid is not null && current.Metadata.Uid != uid))
                {
                    return null;
                }
                _pods.Remove(key);
                var gone = CopyPod(current, status: false, spec: false);
                Commit(gone.Metadata, "DELETED", "pods", gone, current);
                return gone;
            }
        }
        finally
        {
            PrepareCommitted();
        }
    }

    /// <summary>Records an event about a pod; a repeat (same reason and message) bumps its count.</summary>
    public Corev1Event RecordEvent(V1Pod pod, string type, string reason, string message, string component = "kubelet",
        string? host = null)
    {
        ArgumentNullException.ThrowIfNull(pod);
        try
        {
            lock (_lock)
            {
                var now = Truncate(_now());
                var existing = _eventKeys.TryGetValue((pod.Metadata.Uid, reason, message), out var existingKey)
                    ? _events.GetValueOrDefault(existingKey) : null;
                if (existing is not null)
                {
                    var next = Clone(existing);
                    next.Count = (next.Count ?? 1) + 1;
                    next.LastTimestamp = now;
                    Commit(next.Metadata, "MODIFIED", "events", next, existing);
                    var key = Key(next.Metadata.NamespaceProperty, next.Metadata.Name);
                    _events[key] = next;
                    _eventOrder.Enqueue((key, _resourceVersion));
                    return next;
                }
                var ev = new Corev1Event
                {
                    ApiVersion = "v1",
                    Kind = "Event",
                    Metadata = new V1ObjectMeta
                    {
                        Name = string.Create(CultureInfo.InvariantCulture, $"{pod.Metadata.Name}.{_resourceVersion + 1:x16}"),
                        NamespaceProperty = pod.Metadata.NamespaceProperty,
                        Uid = NewUid(),
                        CreationTimestamp = now,
                    },
                    InvolvedObject = new V1ObjectReference
                    {
                        ApiVersion = "v1",
                        Kind = "Pod",
                        Name = pod.Metadata.Name,
                        NamespaceProperty = pod.Metadata.NamespaceProperty,
                        Uid = pod.Metadata.Uid,
                        ResourceVersion = pod.Metadata.ResourceVersion,
                        FieldPath = reason is "Scheduled" or "FailedScheduling" or "Evicted" ? null : "spec.containers{kaniko}",
                    },
                    Reason = reason,
                    Message = message,
                    Type = type,
                    Count = 1,
                    FirstTimestamp = now,
                    LastTimestamp = now,
                    Source = new V1EventSource { Component = component, Host = host },
                    ReportingComponent = component,
                    ReportingInstance = host ?? string.Empty,
                };
                if (ev.InvolvedObject.FieldPath is not null && pod.Spec?.Containers is { Count: > 0 } cs)
                {
                    ev.InvolvedObject.FieldPath = $"spec.containers{{{cs[0].Name}}}";
                }
                Commit(ev.Metadata, "ADDED", "events", ev, null);
                var added = Key(ev.Metadata.NamespaceProperty, ev.Metadata.Name);
                _events[added] = ev;
                _eventKeys[(pod.Metadata.Uid, reason, message)] = added;
                _eventOrder.Enqueue((added, _resourceVersion));
                TrimEvents();
                return ev;
            }
        }
        finally
        {
            PrepareCommitted();
        }
    }

    private void TrimEvents()
    {
        const int limit = 50_000;
        if (_events.Count > limit)
        {
            // A tenth below the limit at once, oldest first, straight from the commit-order queue: no sort (sorting
            // 50,000 events under the store lock stalled every request for tens of milliseconds each time).
            while (_events.Count > limit * 9 / 10 && _eventOrder.TryDequeue(out var oldest))
            {
                if (IsCurrent(oldest) && _events.Remove(oldest.Key, out var old))
                {
                    _eventKeys.Remove((old.InvolvedObject.Uid, old.Reason, old.Message));
                }
            }
        }
        if (_eventOrder.Count > 2 * limit)
        {
            // Events written again and again (a repeating reason) leave stale entries behind: drop them.
            var current = _eventOrder.Where(IsCurrent).ToList();
            _eventOrder.Clear();
            foreach (var entry in current)
            {
                _eventOrder.Enqueue(entry);
            }
        }
    }

    private bool IsCurrent((string Key, long Version) entry) =>
        _events.TryGetValue(entry.Key, out var ev) && ev.Metadata.ResourceVersion == Rv(entry.Version);

    private void Commit(V1ObjectMeta meta, string type, string resource, IKubernetesObject<V1ObjectMeta> obj,
        IKubernetesObject<V1ObjectMeta>? previous)
    {
        var rv = ++_resourceVersion;
        meta.ResourceVersion = Rv(rv);
        var ev = new StoredEvent(rv, type, resource, obj, previous) { CommittedAt = Stopwatch.GetTimestamp() };
        _history.AddLast(ev);
        TrimHistory();
        if (_watches.Length > 0)
        {
            // The fan-out thread writes it to the watchers, outside this lock; the array is never changed, only replaced.
            _fanOut.Post(ev, _watches);
            t_committed = ev;
        }
    }

    [ThreadStatic]
    private static StoredEvent? t_committed;

    /// <summary>
    /// After the lock: the committing thread serialises the change's wire line (once, shared by every watcher) unless the
    /// fan-out thread got to it first, so that the one fan-out thread spends its time writing, not serialising.
    /// </summary>
    private static void PrepareCommitted()
    {
        if (t_committed is { } ev)
        {
            t_committed = null;
            ev.WireLine(ev.Type);
        }
    }

    private void TrimHistory()
    {
        while (_history.Count > _historyLimit)
        {
            _oldestAvailable = _history.First!.Value.ResourceVersion;
            _history.RemoveFirst();
        }
    }

    /// <summary>Forgets all history: any watch from a version before now gets 410 Expired.</summary>
    public long Compact()
    {
        lock (_lock)
        {
            _history.Clear();
            _oldestAvailable = _resourceVersion;
            return _resourceVersion;
        }
    }

    /// <summary>
    /// Starts a watch. With <paramref name="fromVersion"/> null it begins with a synthetic ADDED for every current
    /// object (the "get state and start at most recent" semantics of resourceVersion unset or "0"); otherwise it
    /// replays every change after that version, or throws 410 Expired when the history no longer holds it.
    /// </summary>
    public (StoreWatch Watch, long StartVersion) Subscribe(string resource, long? fromVersion)
    {
        lock (_lock)
        {
            var watch = new StoreWatch(this, resource, _resourceVersion);
            if (fromVersion is null)
            {
                IEnumerable<IKubernetesObject<V1ObjectMeta>> current = resource == "pods" ? _pods.Values : _events.Values;
                foreach (var obj in current.OrderBy(o => long.Parse(o.Metadata.ResourceVersion, CultureInfo.InvariantCulture)))
                {
                    watch.Enqueue(new StoredEvent(long.Parse(obj.Metadata.ResourceVersion, CultureInfo.InvariantCulture), "ADDED", resource, obj, null));
                }
            }
            else
            {
                var from = fromVersion.Value;
                if (from < _oldestAvailable)
                {
                    throw SimApiException.Expired(string.Create(CultureInfo.InvariantCulture, $"too old resource version: {from} ({_oldestAvailable})"));
                }
                foreach (var ev in _history)
                {
                    if (ev.ResourceVersion > from && ev.Resource == resource)
                    {
                        watch.Enqueue(ev);
                    }
                }
            }
            _watches = [.. _watches, watch];
            return (watch, _resourceVersion);
        }
    }

    internal void Unsubscribe(StoreWatch watch)
    {
        lock (_lock)
        {
            _watches = [.. _watches.Where(w => w != watch)];
        }
    }
}
