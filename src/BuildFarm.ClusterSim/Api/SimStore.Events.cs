using System.Globalization;
using k8s.Models;

namespace BuildFarm.ClusterSim.Api;

/// <summary>Events: listing, reading, recording (a repeat bumps the count) and trimming the oldest past the limit.</summary>
public sealed partial class SimStore
{
    public (List<Corev1Event> Items, long ResourceVersion) ListEvents(string? ns) => List(_events.Values, ns);

    public Corev1Event? GetEvent(string ns, string name)
    {
        lock (_lock)
        {
            return _events.GetValueOrDefault(Key(ns, name));
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
}
