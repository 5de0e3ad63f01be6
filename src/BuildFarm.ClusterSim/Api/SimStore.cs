using System.Globalization;
using System.Diagnostics;
using k8s;
using k8s.Models;

namespace BuildFarm.ClusterSim.Api;

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
