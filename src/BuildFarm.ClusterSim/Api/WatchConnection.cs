using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Text;
using BuildFarm.ClusterSim.Hosting;
using BuildFarm.ClusterSim.Kubelet;
using k8s;
using k8s.Models;

namespace BuildFarm.ClusterSim.Api;

/// <summary>
/// One watch's HTTP response: filters changes as the watch asks, writes their lines (the shared wire line, or a Table
/// row), flushes, and records each delivery's timing once flushed. Not thread-safe: whoever holds the watch's
/// connection (<see cref="StoreWatch"/>: the fan-out step or the watcher's loop) is the only caller.
/// </summary>
internal sealed class WatchConnection
{
    private readonly PipeWriter _body;
    private readonly StoreWatch _watch;
    private readonly string? _ns;
    private readonly LabelSelector _labels;
    private readonly FieldSelector _fields;
    private readonly SimClock _clock;
    private readonly WatchDeliveryStats _stats;
    private readonly CancellationToken _lifetime;
    private readonly List<StoredEvent> _written = [];
    private bool _pending;
    private bool _firstTableRow = true;
    private long _lastRv;

    public WatchConnection(PipeWriter body, StoreWatch watch, string? ns, LabelSelector labels, FieldSelector fields,
        SimClock clock, WatchDeliveryStats stats, long startVersion, CancellationToken lifetime)
    {
        _body = body;
        _watch = watch;
        _ns = ns;
        _labels = labels;
        _fields = fields;
        _clock = clock;
        _stats = stats;
        _lastRv = startVersion;
        _lifetime = lifetime;
    }

    /// <summary>Table form (<c>as=Table</c>): rows instead of objects; written by the watcher's loop only.</summary>
    public bool Table { get; init; }

    public string IncludeObject { get; init; } = "";

    /// <summary>The highest resourceVersion seen (matched or not): what a bookmark reports.</summary>
    public long LastResourceVersion => Volatile.Read(ref _lastRv);

    /// <summary>Writes <paramref name="ev"/> if it passes the watch's filters; true when a line was written.</summary>
    public bool Write(StoredEvent ev)
    {
        if (ev.ResourceVersion > _lastRv)
        {
            Volatile.Write(ref _lastRv, ev.ResourceVersion);
        }
        var type = Filter(ev, _ns, _labels, _fields);
        if (type is null)
        {
            return false;
        }
        if (Table)
        {
            var row = PodTable.Table([(V1Pod)ev.Item], _clock.Now, IncludeObject, _firstTableRow, ev.Item.Metadata.ResourceVersion).ToJsonString();
            _firstTableRow = false;
            _body.Write(Encoding.UTF8.GetBytes($"{{\"type\":\"{type}\",\"object\":{row}}}\n"));
        }
        else
        {
            _body.Write(ev.WireLine(type));
        }
        _written.Add(ev);
        _pending = true;
        return true;
    }

    /// <summary>Writes a line of its own (a bookmark).</summary>
    public void WriteRaw(string line)
    {
        _body.Write(Encoding.UTF8.GetBytes(line));
        _pending = true;
    }

    /// <summary>The fan-out step's write: the batch, then one flush; pending only when the flush did not complete at once.</summary>
    public ValueTask WriteDirect(IReadOnlyList<StoredEvent> batch)
    {
        foreach (var ev in batch)
        {
            Write(ev);
        }
        return FlushCore(direct: true);
    }

    /// <summary>The loop's flush of what it wrote.</summary>
    public ValueTask FlushAsync() => FlushCore(direct: false);

    private ValueTask FlushCore(bool direct)
    {
        if (!_pending)
        {
            return ValueTask.CompletedTask;
        }
        _pending = false;
        var flush = _body.FlushAsync(_lifetime);
        if (flush.IsCompletedSuccessfully)
        {
            Delivered(direct);
            return ValueTask.CompletedTask;
        }
        return AwaitFlush(flush, direct);
    }

    private async ValueTask AwaitFlush(ValueTask<FlushResult> flush, bool direct)
    {
        await flush;
        Delivered(direct);
    }

    private void Delivered(bool direct)
    {
        var now = Stopwatch.GetTimestamp();
        foreach (var ev in _written)
        {
            if (direct)
            {
                _stats.CountDirect();
            }
            else
            {
                _stats.CountQueued();
            }
            // A replay (history or current state at the start) is not a fan-out of a new change.
            if (ev.CommittedAt != 0 && ev.ResourceVersion > _watch.ReplayedUpTo)
            {
                _stats.CommitToFlush.Record(ev.CommittedAt, now);
                _stats.Spread.Record(ev.Flushed(now), now);
            }
        }
        _written.Clear();
    }

    /// <summary>
    /// The type a watcher sees for <paramref name="ev"/>, or null when it is not theirs: a change that moves an object into
    /// or out of the selection is ADDED or DELETED for them.
    /// </summary>
    public static string? Filter(StoredEvent ev, string? ns, LabelSelector labels, FieldSelector fields)
    {
        ArgumentNullException.ThrowIfNull(ev);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(fields);
        bool Match(IKubernetesObject<V1ObjectMeta>? o) =>
            o is not null && (ns is null || o.Metadata.NamespaceProperty == ns) && labels.Matches(o.Metadata.Labels) && fields.Matches(o);
        var now = Match(ev.Item);
        switch (ev.Type)
        {
            case "MODIFIED":
                var before = Match(ev.Previous);
                return now && before ? "MODIFIED" : now ? "ADDED" : before ? "DELETED" : null;
            case "DELETED":
                return Match(ev.Previous) || now ? "DELETED" : null;
            default:
                return now ? ev.Type : null;
        }
    }
}
