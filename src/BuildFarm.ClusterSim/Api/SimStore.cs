using System.Globalization;
using k8s;
using k8s.Models;

namespace BuildFarm.ClusterSim.Api;

/// <summary>
/// The API server's storage: pods and events with a global resourceVersion, a bounded history of changes for
/// watch-from-version (older versions are 410 Expired), and a namespace pod quota. Stored objects are never mutated:
/// every update stores a new copy.
/// </summary>
public sealed partial class SimStore
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

    /// <summary>Called (under the store's lock) with a pod's uid when its phase turns Succeeded or Failed: from then on
    /// the pod no longer counts against <see cref="PodQuota"/>, as in a real ResourceQuota.</summary>
    public Action<string>? PodTerminated { get; set; }

    private static bool IsTerminal(V1Pod pod) => pod.Status?.Phase is "Succeeded" or "Failed";

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
                    var used = _pods.Values.Count(p => p.Metadata.NamespaceProperty == ns && !IsTerminal(p));
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
    public (List<V1Pod> Items, long ResourceVersion) ListPods(string? ns) => List(_pods.Values, ns);

    /// <summary>Objects of one kind in <paramref name="ns"/> (all when null), sorted by namespace/name, and the current version.</summary>
    private (List<T> Items, long ResourceVersion) List<T>(IEnumerable<T> objects, string? ns)
        where T : IKubernetesObject<V1ObjectMeta>
    {
        lock (_lock)
        {
            var items = objects.Where(o => ns is null || o.Metadata.NamespaceProperty == ns)
                .OrderBy(o => o.Metadata.NamespaceProperty, StringComparer.Ordinal)
                .ThenBy(o => o.Metadata.Name, StringComparer.Ordinal)
                .ToList();
            return (items, _resourceVersion);
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
                if (IsTerminal(next) && !IsTerminal(current))
                {
                    PodTerminated?.Invoke(next.Metadata.Uid);
                }
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
}
