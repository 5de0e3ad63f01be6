using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BuildFarm.Cli.Tests;

/// <summary>One span as exported over OTLP (the fields the tests read).</summary>
public sealed record ExportedSpan(
    string TraceId, string SpanId, string ParentSpanId, string Name, int Kind, ulong StartNanos, ulong EndNanos,
    IReadOnlyDictionary<string, object?> Attributes, IReadOnlyList<(string TraceId, string SpanId)> Links, int StatusCode, string ServiceName)
{
    public double Seconds => (EndNanos - StartNanos) / 1e9;
}

/// <summary>
/// A real OTLP/HTTP endpoint: Kestrel on loopback taking <c>POST /v1/traces</c> (<c>application/x-protobuf</c>), decoded by
/// <see cref="OtlpDecoder"/>, a minimal protobuf reader of the OTLP trace messages (no OTLP proto package is served here).
/// </summary>
public sealed class OtlpTraceReceiver : IAsyncDisposable
{
    /// <summary>The most one request body may hold.</summary>
    public const int MaxBody = 16 * 1024 * 1024;

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ExportedSpan> _spans = new();

    private OtlpTraceReceiver(WebApplication app) => _app = app;

    public Uri Endpoint { get; private set; } = null!;

    public IReadOnlyList<ExportedSpan> Spans => [.. _spans];

    public int Requests { get; private set; }

    public static async Task<OtlpTraceReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var receiver = new OtlpTraceReceiver(app);
        app.MapPost("/v1/traces", async (HttpContext http) =>
        {
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body);
            if (body.Length > MaxBody || http.Request.ContentType != "application/x-protobuf")
            {
                return Results.BadRequest();
            }
            foreach (var span in OtlpDecoder.DecodeExportRequest(body.ToArray()))
            {
                receiver._spans.Enqueue(span);
            }
            receiver.Requests++;
            return Results.Bytes([], "application/x-protobuf"); // an empty ExportTraceServiceResponse
        });
        await app.StartAsync();
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.Endpoint = new Uri($"http://127.0.0.1:{new Uri(bound).Port}");
        return receiver;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}

/// <summary>
/// Reads the protobuf wire format of OTLP's <c>ExportTraceServiceRequest</c> (opentelemetry-proto, trace/v1): resource
/// spans → resource attributes and scope spans → spans with ids, name, kind, times, attributes, links and status.
/// Unknown fields are skipped by wire type.
/// </summary>
public static class OtlpDecoder
{
    public static IReadOnlyList<ExportedSpan> DecodeExportRequest(ReadOnlySpan<byte> message)
    {
        var spans = new List<ExportedSpan>();
        var reader = new Reader(message);
        while (reader.Next(out var field, out var wire))
        {
            if (field == 1 && wire == 2)
            {
                DecodeResourceSpans(reader.Bytes(), spans);
            }
            else
            {
                reader.Skip(wire);
            }
        }
        return spans;
    }

    private static void DecodeResourceSpans(ReadOnlySpan<byte> message, List<ExportedSpan> spans)
    {
        var service = "";
        var scopes = new List<byte[]>();
        var reader = new Reader(message);
        while (reader.Next(out var field, out var wire))
        {
            if (field == 1 && wire == 2)
            {
                var resource = new Reader(reader.Bytes());
                while (resource.Next(out var f, out var w))
                {
                    if (f == 1 && w == 2)
                    {
                        var (key, value) = DecodeKeyValue(resource.Bytes());
                        if (key == "service.name")
                        {
                            service = value as string ?? "";
                        }
                    }
                    else
                    {
                        resource.Skip(w);
                    }
                }
            }
            else if (field == 2 && wire == 2)
            {
                scopes.Add(reader.Bytes().ToArray());
            }
            else
            {
                reader.Skip(wire);
            }
        }
        foreach (var scope in scopes)
        {
            var s = new Reader(scope);
            while (s.Next(out var field, out var wire))
            {
                if (field == 2 && wire == 2)
                {
                    spans.Add(DecodeSpan(s.Bytes(), service));
                }
                else
                {
                    s.Skip(wire);
                }
            }
        }
    }

    private static ExportedSpan DecodeSpan(ReadOnlySpan<byte> message, string service)
    {
        string traceId = "", spanId = "", parent = "", name = "";
        int kind = 0, status = 0;
        ulong start = 0, end = 0;
        var attributes = new Dictionary<string, object?>(StringComparer.Ordinal);
        var links = new List<(string, string)>();
        var reader = new Reader(message);
        while (reader.Next(out var field, out var wire))
        {
            switch (field, wire)
            {
                case (1, 2): traceId = Convert.ToHexStringLower(reader.Bytes()); break;
                case (2, 2): spanId = Convert.ToHexStringLower(reader.Bytes()); break;
                case (4, 2): parent = Convert.ToHexStringLower(reader.Bytes()); break;
                case (5, 2): name = System.Text.Encoding.UTF8.GetString(reader.Bytes()); break;
                case (6, 0): kind = (int)reader.Varint(); break;
                case (7, 1): start = reader.Fixed64(); break;
                case (8, 1): end = reader.Fixed64(); break;
                case (9, 2):
                    var (key, value) = DecodeKeyValue(reader.Bytes());
                    attributes[key] = value;
                    break;
                case (13, 2):
                    var link = new Reader(reader.Bytes());
                    string linkTrace = "", linkSpan = "";
                    while (link.Next(out var f, out var w))
                    {
                        switch (f, w)
                        {
                            case (1, 2): linkTrace = Convert.ToHexStringLower(link.Bytes()); break;
                            case (2, 2): linkSpan = Convert.ToHexStringLower(link.Bytes()); break;
                            default: link.Skip(w); break;
                        }
                    }
                    links.Add((linkTrace, linkSpan));
                    break;
                case (15, 2):
                    var st = new Reader(reader.Bytes());
                    while (st.Next(out var f, out var w))
                    {
                        if (f == 3 && w == 0)
                        {
                            status = (int)st.Varint();
                        }
                        else
                        {
                            st.Skip(w);
                        }
                    }
                    break;
                default: reader.Skip(wire); break;
            }
        }
        return new ExportedSpan(traceId, spanId, parent, name, kind, start, end, attributes, links, status, service);
    }

    private static (string Key, object? Value) DecodeKeyValue(ReadOnlySpan<byte> message)
    {
        var key = "";
        object? value = null;
        var reader = new Reader(message);
        while (reader.Next(out var field, out var wire))
        {
            if (field == 1 && wire == 2)
            {
                key = System.Text.Encoding.UTF8.GetString(reader.Bytes());
            }
            else if (field == 2 && wire == 2)
            {
                var any = new Reader(reader.Bytes());
                while (any.Next(out var f, out var w))
                {
                    switch (f, w)
                    {
                        case (1, 2): value = System.Text.Encoding.UTF8.GetString(any.Bytes()); break;
                        case (2, 0): value = any.Varint() != 0; break;
                        case (3, 0): value = (long)any.Varint(); break;
                        case (4, 1): value = BitConverter.UInt64BitsToDouble(any.Fixed64()); break;
                        default: any.Skip(w); break;
                    }
                }
            }
            else
            {
                reader.Skip(wire);
            }
        }
        return (key, value);
    }

    /// <summary>A cursor over one protobuf message; every length is checked against what is left.</summary>
    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private ReadOnlySpan<byte> _data = data;

        public bool Next(out int field, out int wire)
        {
            field = wire = 0;
            if (_data.IsEmpty)
            {
                return false;
            }
            var tag = Varint();
            field = (int)(tag >> 3);
            wire = (int)(tag & 7);
            return true;
        }

        public ulong Varint()
        {
            ulong value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (_data.IsEmpty)
                {
                    throw new InvalidDataException("truncated varint");
                }
                var b = _data[0];
                _data = _data[1..];
                value |= (ulong)(b & 0x7f) << shift;
                if ((b & 0x80) == 0)
                {
                    return value;
                }
            }
            throw new InvalidDataException("varint longer than 10 bytes");
        }

        public ulong Fixed64()
        {
            var value = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
            return value;
        }

        public ReadOnlySpan<byte> Bytes()
        {
            var length = Varint();
            if (length > (ulong)_data.Length)
            {
                throw new InvalidDataException($"length {length} past the end of the message");
            }
            return Take((int)length);
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: Take(8); break;
                case 2: Bytes(); break;
                case 5: Take(4); break;
                default: throw new InvalidDataException($"unsupported wire type {wire}");
            }
        }

        private ReadOnlySpan<byte> Take(int n)
        {
            if (n > _data.Length)
            {
                throw new InvalidDataException("truncated field");
            }
            var taken = _data[..n];
            _data = _data[n..];
            return taken;
        }
    }
}
