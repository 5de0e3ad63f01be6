using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Text;

namespace BuildFarm.SimLoad;

/// <summary>One watch line as a watcher received it: the event's resourceVersion, when, and the pod name for ADDED.</summary>
public readonly record struct Receipt(long ResourceVersion, long Timestamp, string? AddedName);

/// <summary>An all-namespace pod watcher that records when each event arrived, without building strings per line.</summary>
public sealed class WatchRecorder
{
    private static readonly byte[] s_rv = "\"resourceVersion\":\""u8.ToArray();
    private static readonly byte[] s_name = "\"name\":\""u8.ToArray();
    private static readonly byte[] s_added = "{\"type\":\"ADDED\""u8.ToArray();

    private static readonly byte[] s_phase = "\"phase\":\""u8.ToArray();
    private static readonly byte[] s_deleted = "{\"type\":\"DELETED\""u8.ToArray();

    /// <summary>
    /// Called with the pod name and status.phase of every event (phase "Deleted" for DELETED), so that the load
    /// generator follows the pods without polling the server. Only one watcher needs it.
    /// </summary>
    public Action<string, string>? OnPhase { get; init; }

    public List<Receipt> Receipts { get; } = new(8192);

    /// <summary>The highest resourceVersion received (read from other threads while the watch runs).</summary>
    public long LastResourceVersion => Volatile.Read(ref _last);

    private long _last;

    public async Task RunAsync(HttpClient http, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(http);
        try
        {
            using var response = await http.GetAsync("/api/v1/pods?watch=true", HttpCompletionOption.ResponseHeadersRead, ct);
            response.EnsureSuccessStatusCode();
            // Pod lines are about 4 KB: a 64 KB buffer takes several per read instead of several reads per line.
            var reader = PipeReader.Create(await response.Content.ReadAsStreamAsync(ct), new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 16 * 1024));
            while (true)
            {
                var result = await reader.ReadAsync(ct);
                var now = Stopwatch.GetTimestamp();
                var buffer = result.Buffer;
                while (TryLine(ref buffer, out var line))
                {
                    Record(line.IsSingleSegment ? line.FirstSpan : line.ToArray(), now);
                }
                reader.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
            await reader.CompleteAsync();
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>The first <c>"name"</c> of a pod line is metadata.name (metadata precedes spec and status).</summary>
    private static string? Name(ReadOnlySpan<byte> line)
    {
        var n = line.IndexOf(s_name);
        if (n < 0)
        {
            return null;
        }
        var value = line[(n + s_name.Length)..];
        return Encoding.UTF8.GetString(value[..value.IndexOf((byte)'"')]);
    }

    private static bool TryLine(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> line)
    {
        var end = buffer.PositionOf((byte)'\n');
        if (end is null)
        {
            line = default;
            return false;
        }
        line = buffer.Slice(0, end.Value);
        buffer = buffer.Slice(buffer.GetPosition(1, end.Value));
        return true;
    }

    private void Record(ReadOnlySpan<byte> line, long now)
    {
        var at = line.IndexOf(s_rv);
        if (at < 0)
        {
            return;
        }
        var rest = line[(at + s_rv.Length)..];
        if (!Utf8Parser.TryParse(rest, out long rv, out _))
        {
            return;
        }
        var name = line.StartsWith(s_added) ? Name(line) : null;
        Receipts.Add(new Receipt(rv, now, name));
        if (OnPhase is { } onPhase && (name ?? Name(line)) is { } pod)
        {
            // The first "phase" of a pod line is status.phase (spec and conditions have none).
            var p = line.IndexOf(s_phase);
            var phase = line.StartsWith(s_deleted) ? "Deleted"
                : p < 0 ? "Pending"
                : Encoding.UTF8.GetString(line[(p + s_phase.Length)..][..line[(p + s_phase.Length)..].IndexOf((byte)'"')]);
            onPhase(pod, phase);
        }
        if (rv > _last)
        {
            Volatile.Write(ref _last, rv);
        }
    }
}
