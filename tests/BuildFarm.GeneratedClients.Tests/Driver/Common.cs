// Compiled with the generated clients by GeneratedClientsFixture (not part of the test project).
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Driver;

/// <summary>Where the driver is pointed: the demo farm's API, an API whose broker is unreachable, and two keys.</summary>
public sealed record Target(Uri Api, Uri Broken, string AdminKey, string ReaderKey, string Run);

/// <summary>Every HTTP answer the generated clients received, one JSON line each, for the test to validate against the
/// document: method, path and query, status, media type, the headers that matter and the body (not for event streams,
/// whose events are logged one by one as "sse" lines).</summary>
public sealed class ExchangeLog : IDisposable
{
    private readonly StreamWriter _writer;
    private readonly object _gate = new();

    public ExchangeLog(string path) => _writer = new StreamWriter(path, append: false, Encoding.UTF8) { AutoFlush = true };

    public void Write(JsonObject line)
    {
        lock (_gate)
        {
            _writer.WriteLine(line.ToJsonString());
        }
    }

    public void Dispose() => _writer.Dispose();
}

public sealed class LoggingHandler(ExchangeLog log) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        var mediaType = response.Content.Headers.ContentType?.MediaType;
        var line = new JsonObject
        {
            ["kind"] = "http",
            ["method"] = request.Method.Method,
            ["path"] = request.RequestUri!.AbsolutePath,
            ["query"] = request.RequestUri.Query,
            ["status"] = (int)response.StatusCode,
            ["mediaType"] = mediaType,
        };
        var headers = new JsonObject();
        foreach (var name in new[] { "Location", "Retry-After", "Idempotent-Replayed", "WWW-Authenticate" })
        {
            if (response.Headers.TryGetValues(name, out var values))
            {
                headers[name] = string.Join(",", values);
            }
        }
        line["headers"] = headers;
        if (mediaType != "text/event-stream")
        {
            // Buffer the body so that both the log and the generated client read it.
            var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            var copy = new ByteArrayContent(bytes);
            foreach (var header in response.Content.Headers)
            {
                copy.Headers.TryAddWithoutValidation(header.Key, header.Value);
            }
            response.Content = copy;
            line["body"] = Encoding.UTF8.GetString(bytes);
        }
        log.Write(line);
        return response;
    }
}

public static class Check
{
    public static void That(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvalidOperationException("check failed: " + what);
        }
    }

    public static HttpClient Http(Uri baseAddress, string key, ExchangeLog log)
    {
        var http = new HttpClient(new LoggingHandler(log) { InnerHandler = new HttpClientHandler() }) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(90) };
        if (key is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
        return http;
    }

    /// <summary>Reads a Server-Sent Events stream until its "end" event; logs each event's data; returns (event, data) pairs.</summary>
    public static async Task<List<(string Event, string Data)>> ReadEventsAsync(Stream stream, string path, ExchangeLog log, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var events = new List<(string, string)>();
        string name = "message", data = "";
        while (await reader.ReadLineAsync(cts.Token) is { } line)
        {
            if (line.Length == 0)
            {
                if (data.Length > 0 || name != "message")
                {
                    events.Add((name, data));
                    log.Write(new JsonObject { ["kind"] = "sse", ["path"] = path, ["event"] = name, ["data"] = data });
                    if (name == "end")
                    {
                        return events;
                    }
                }
                name = "message";
                data = "";
            }
            else if (line.StartsWith("event:", StringComparison.Ordinal))
            {
                name = line["event:".Length..].Trim();
            }
            else if (line.StartsWith("data:", StringComparison.Ordinal))
            {
                data += line["data:".Length..].TrimStart();
            }
        }
        throw new InvalidOperationException($"the stream {path} closed without an 'end' event after {events.Count} events");
    }

    public static string Manifest(string run) => $$"""
        defaults:
          context: s3://ctx-bucket/app.tar.gz
          destinations: ["registry.example.com/gen-{{run}}/{name}:{short_sha}"]
        images:
          - name: base
            contextSubPath: images/base
          - name: app
            contextSubPath: services/app
            dependsOn:
              - { image: base, buildArg: BASE_IMAGE }
        """;
}
