using k8s;
using k8s.Models;

namespace BuildFarm.ClusterSim.Api;

/// <summary>A change to a stored object, as a watch delivers it.</summary>
public sealed class StoredEvent(long resourceVersion, string type, string resource, IKubernetesObject<V1ObjectMeta> obj,
    IKubernetesObject<V1ObjectMeta>? previous)
{
    public long ResourceVersion { get; } = resourceVersion;

    /// <summary>ADDED, MODIFIED or DELETED.</summary>
    public string Type { get; } = type;

    /// <summary><c>pods</c> or <c>events</c>.</summary>
    public string Resource { get; } = resource;

    public IKubernetesObject<V1ObjectMeta> Item { get; } = obj;
    public IKubernetesObject<V1ObjectMeta>? Previous { get; } = previous;

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
