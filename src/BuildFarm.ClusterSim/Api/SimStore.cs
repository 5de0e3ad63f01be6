using System.Globalization;
using System.Threading.Channels;
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

/// <summary>A registered watch: receives every committed change after its starting version.</summary>
public sealed class StoreWatch : IDisposable
{
    private readonly SimStore _store;

    internal StoreWatch(SimStore store, string resource)
    {
        _store = store;
        Resource = resource;
    }

    public string Resource { get; }
    public Channel<StoredEvent> Events { get; } = Channel.CreateUnbounded<StoredEvent>(new UnboundedChannelOptions { SingleReader = true });

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
    private readonly List<StoreWatch> _watches = [];
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
        get { lock (_lock) { return _watches.Count; } }
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
        lock (_lock)
        {
            var ns = pod.Metadata.NamespaceProperty;
            var key = Key(ns, pod.Metadata.Name);
            if (_pods.ContainsKey(key))
            {
                throw SimApiException.AlreadyExists("pods", pod.Metadata.Name);
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

    /// <summary>Removes the pod (DELETED). Null when it was not there.</summary>
    public V1Pod? RemovePod(string ns, string name, string? uid = null)
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

    /// <summary>Records an event about a pod; a repeat (same reason and message) bumps its count.</summary>
    public Corev1Event RecordEvent(V1Pod pod, string type, string reason, string message, string component = "kubelet",
        string? host = null)
    {
        ArgumentNullException.ThrowIfNull(pod);
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
        var ev = new StoredEvent(rv, type, resource, obj, previous);
        _history.AddLast(ev);
        TrimHistory();
        foreach (var w in _watches)
        {
            if (w.Resource == resource)
            {
                w.Events.Writer.TryWrite(ev);
            }
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
            var watch = new StoreWatch(this, resource);
            if (fromVersion is null)
            {
                IEnumerable<IKubernetesObject<V1ObjectMeta>> current = resource == "pods" ? _pods.Values : _events.Values;
                foreach (var obj in current.OrderBy(o => long.Parse(o.Metadata.ResourceVersion, CultureInfo.InvariantCulture)))
                {
                    watch.Events.Writer.TryWrite(new StoredEvent(long.Parse(obj.Metadata.ResourceVersion, CultureInfo.InvariantCulture), "ADDED", resource, obj, null));
                }
            }
            else
            {
                var from = fromVersion.Value;
                if (from < _oldestAvailable)
                {
                    watch.Events.Writer.TryComplete();
                    throw SimApiException.Expired(string.Create(CultureInfo.InvariantCulture, $"too old resource version: {from} ({_oldestAvailable})"));
                }
                foreach (var ev in _history)
                {
                    if (ev.ResourceVersion > from && ev.Resource == resource)
                    {
                        watch.Events.Writer.TryWrite(ev);
                    }
                }
            }
            _watches.Add(watch);
            return (watch, _resourceVersion);
        }
    }

    internal void Unsubscribe(StoreWatch watch)
    {
        lock (_lock)
        {
            _watches.Remove(watch);
            watch.Events.Writer.TryComplete();
        }
    }
}
