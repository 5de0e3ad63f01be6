using System.Globalization;
using System.Diagnostics;
using k8s;
using k8s.Models;

namespace BuildFarm.ClusterSim.Api;

/// <summary>The change history and watches: every commit is a numbered change; a watch replays from a version or starts from the current objects.</summary>
public sealed partial class SimStore
{
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
