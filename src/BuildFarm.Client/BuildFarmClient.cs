using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using BuildFarm.Wire;

namespace BuildFarm.Client;

/// <summary>Reconnect behaviour of the event streams.</summary>
public sealed record BuildFarmClientOptions
{
    /// <summary>Reconnects in a row (without an event in between) before the stream gives up.</summary>
    public int MaxReconnects { get; init; } = 10;

    /// <summary>Wait before a reconnect; the server's <c>retry:</c> field overrides it.</summary>
    public TimeSpan ReconnectDelay { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// A typed client for the BuildFarm HTTP API (docs/api.md). The <see cref="HttpClient"/> must have its
/// <see cref="HttpClient.BaseAddress"/> set to the API root (e.g. <c>http://127.0.0.1:8080/</c>). Every error status
/// becomes a <see cref="BuildFarmApiException"/> carrying the problem details.
/// </summary>
public sealed partial class BuildFarmClient
{
    public const string IdempotencyKeyHeader = ApiHeaders.IdempotencyKey;

    private readonly HttpClient _http;
    private readonly string? _apiKey;
    private readonly BuildFarmClientOptions _options;

    /// <param name="http">An HttpClient with BaseAddress set; the caller owns it.</param>
    /// <param name="apiKey">Sent as <c>Authorization: Bearer</c>; null for an API in dev mode without auth.</param>
    /// <param name="options">Stream reconnect settings; null for the defaults.</param>
    public BuildFarmClient(HttpClient http, string? apiKey = null, BuildFarmClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(http);
        if (http.BaseAddress is null)
        {
            throw new ArgumentException("the HttpClient needs a BaseAddress (the API root, e.g. http://127.0.0.1:8080/)", nameof(http));
        }
        _http = http;
        _apiKey = string.IsNullOrEmpty(apiKey) ? null : apiKey;
        _options = options ?? new BuildFarmClientOptions();
    }

    /// <summary><c>POST /v1/builds</c>: one build. A retry with the same <paramref name="idempotencyKey"/> returns the same build.</summary>
    public Task<BuildRecord> SubmitBuildAsync(SubmitBuildRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var message = new HttpRequestMessage(HttpMethod.Post, "v1/builds") { Content = JsonContent.Create(request, options: BuildFarmJson.Options) };
        return SendAsync<BuildRecord>(message, idempotencyKey, cancellationToken);
    }

    /// <summary><c>POST /v1/batches</c> with a JSON list of images. All or nothing: a rejected batch publishes nothing.</summary>
    public Task<BatchStatus> SubmitBatchAsync(SubmitBatchRequest request, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var message = new HttpRequestMessage(HttpMethod.Post, "v1/batches") { Content = JsonContent.Create(request, options: BuildFarmJson.Options) };
        return SendAsync<BatchStatus>(message, idempotencyKey, cancellationToken);
    }

    /// <summary><c>POST /v1/batches</c> with a manifest (YAML text); the server plans the batch (<c>sha</c>, <c>only</c>, <c>changed</c>).</summary>
    public Task<BatchStatus> SubmitManifestAsync(
        string manifestYaml, ManifestSubmitOptions? options = null, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(manifestYaml);
        options ??= new ManifestSubmitOptions();
        var query = new List<string>();
        if (!string.IsNullOrEmpty(options.Sha))
        {
            query.Add("sha=" + Uri.EscapeDataString(options.Sha));
        }
        if (options.Only.Count > 0)
        {
            query.Add("only=" + Uri.EscapeDataString(string.Join(',', options.Only)));
        }
        query.AddRange(options.Changed.Select(path => "changed=" + Uri.EscapeDataString(path)));
        var uri = query.Count == 0 ? "v1/batches" : "v1/batches?" + string.Join('&', query);
        var content = new StringContent(manifestYaml, Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/yaml") { CharSet = "utf-8" };
        return SendAsync<BatchStatus>(new HttpRequestMessage(HttpMethod.Post, uri) { Content = content }, idempotencyKey, cancellationToken);
    }

    /// <summary><c>GET /v1/builds/{id}</c>.</summary>
    public Task<BuildRecord> GetBuildAsync(string buildId, CancellationToken cancellationToken = default) =>
        SendAsync<BuildRecord>(new HttpRequestMessage(HttpMethod.Get, "v1/builds/" + Escape(buildId)), null, cancellationToken);

    /// <summary><c>GET /v1/batches/{id}</c>: progress counts and per-image state.</summary>
    public Task<BatchStatus> GetBatchAsync(string batchId, CancellationToken cancellationToken = default) =>
        SendAsync<BatchStatus>(new HttpRequestMessage(HttpMethod.Get, "v1/batches/" + Escape(batchId)), null, cancellationToken);

    /// <summary>
    /// <c>GET /v1/builds</c>: one page of the key's own tenant's builds (every tenant's for an admin key); pass the returned
    /// <see cref="BuildPage.Continue"/> for the next. <paramref name="tenant"/> narrows an admin key's list to one tenant.
    /// </summary>
    public Task<BuildPage> ListBuildsAsync(
        BuildState? state = null, string? batchId = null, int? limit = null, string? continueToken = null, string? tenant = null,
        CancellationToken cancellationToken = default)
    {
        var query = new List<string>();
        if (state is { } s)
        {
            query.Add("state=" + s.ToWire());
        }
        if (!string.IsNullOrEmpty(batchId))
        {
            query.Add("batch=" + Uri.EscapeDataString(batchId));
        }
        if (!string.IsNullOrEmpty(tenant))
        {
            query.Add("tenant=" + Uri.EscapeDataString(tenant));
        }
        if (limit is { } l)
        {
            query.Add("limit=" + l.ToString(CultureInfo.InvariantCulture));
        }
        if (!string.IsNullOrEmpty(continueToken))
        {
            query.Add("continue=" + Uri.EscapeDataString(continueToken));
        }
        var uri = query.Count == 0 ? "v1/builds" : "v1/builds?" + string.Join('&', query);
        return SendAsync<BuildPage>(new HttpRequestMessage(HttpMethod.Get, uri), null, cancellationToken);
    }

    /// <summary><c>DELETE /v1/builds/{id}</c>: asks the farm to cancel; the record shows <c>cancelled</c> once a worker (or the
    /// orchestrator) acted. 404 unknown, 409 already final.</summary>
    public Task<BuildRecord> CancelBuildAsync(string buildId, CancellationToken cancellationToken = default) =>
        SendAsync<BuildRecord>(new HttpRequestMessage(HttpMethod.Delete, "v1/builds/" + Escape(buildId)), null, cancellationToken);

    /// <summary><c>DELETE /v1/batches/{id}</c>: asks the farm to cancel every build of the batch that has not ended; the
    /// batch as it stood. 404 unknown, 409 every build already final.</summary>
    public Task<BatchStatus> CancelBatchAsync(string batchId, CancellationToken cancellationToken = default) =>
        SendAsync<BatchStatus>(new HttpRequestMessage(HttpMethod.Delete, "v1/batches/" + Escape(batchId)), null, cancellationToken);

    /// <summary>
    /// <c>POST /v1/builds/{id}/rerun</c>: runs an ended build again as a new build (its <see cref="BuildRecord.RerunOf"/>
    /// names the original); the new build's record. With <paramref name="failedOnly"/> a build that succeeded is 409.
    /// 404 unknown, 409 not ended yet (or a batch image that never received its dependencies' digests).
    /// </summary>
    public Task<BuildRecord> RerunBuildAsync(string buildId, bool failedOnly = false, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        SendAsync<BuildRecord>(new HttpRequestMessage(HttpMethod.Post, RerunPath("v1/builds/", buildId, failedOnly)), idempotencyKey, cancellationToken);

    /// <summary>
    /// <c>POST /v1/batches/{id}/rerun</c>: runs an ended batch again as a new batch: every image, or with
    /// <paramref name="failedOnly"/> only what did not succeed and its dependents, built on the digests that did
    /// (<see cref="BatchStatus.Reused"/>). 404 unknown, 409 not ended yet or (failed only) nothing failed.
    /// </summary>
    public Task<BatchStatus> RerunBatchAsync(string batchId, bool failedOnly = false, string? idempotencyKey = null, CancellationToken cancellationToken = default) =>
        SendAsync<BatchStatus>(new HttpRequestMessage(HttpMethod.Post, RerunPath("v1/batches/", batchId, failedOnly)), idempotencyKey, cancellationToken);

    private static string RerunPath(string prefix, string id, bool failedOnly) => prefix + Escape(id) + "/rerun" + (failedOnly ? "?failed=true" : "");

    /// <summary>
    /// Follows <c>GET /v1/builds/{id}/events</c>: the current record, then every change, until the build is final (an
    /// <see cref="BuildEvent.End"/> event is the last one). A dropped connection is reopened with <c>Last-Event-ID</c>.
    /// </summary>
    public IAsyncEnumerable<BuildEvent> StreamBuildEventsAsync(string buildId, CancellationToken cancellationToken = default) =>
        StreamAsync("v1/builds/" + Escape(buildId) + "/events", cancellationToken);

    /// <summary>Follows <c>GET /v1/batches/{id}/events</c> until every build of the batch is final.</summary>
    public IAsyncEnumerable<BuildEvent> StreamBatchEventsAsync(string batchId, CancellationToken cancellationToken = default) =>
        StreamAsync("v1/batches/" + Escape(batchId) + "/events", cancellationToken);

    private static string Escape(string id)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        return Uri.EscapeDataString(id);
    }

    private async Task<T> SendAsync<T>(HttpRequestMessage request, string? idempotencyKey, CancellationToken cancellationToken)
    {
        using (request)
        {
            Authorize(request);
            if (!string.IsNullOrEmpty(idempotencyKey))
            {
                request.Headers.Add(IdempotencyKeyHeader, idempotencyKey);
            }
            using var response = await _http.SendAsync(request, cancellationToken);
            await ThrowOnErrorAsync(response, cancellationToken);
            return await response.Content.ReadFromJsonAsync<T>(BuildFarmJson.Options, cancellationToken)
                ?? throw new BuildFarmApiException($"{request.Method} {request.RequestUri}: the API answered {(int)response.StatusCode} with an empty body");
        }
    }

    private void Authorize(HttpRequestMessage request)
    {
        if (_apiKey is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _apiKey);
        }
    }

    private static async Task ThrowOnErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        ApiProblem? problem = null;
        if (response.Content.Headers.ContentType?.MediaType is { } mediaType && mediaType.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                problem = JsonSerializer.Deserialize<ApiProblem>(body, BuildFarmJson.Options);
            }
            catch (JsonException)
            {
                problem = null;
            }
        }
        problem ??= new ApiProblem
        {
            Status = (int)response.StatusCode,
            Title = response.ReasonPhrase,
            Detail = body.Length > 500 ? body[..500] : body,
        };
        var retryAfter = response.Headers.RetryAfter?.Delta
            ?? (response.Headers.RetryAfter?.Date is { } date ? date - DateTimeOffset.UtcNow : null);
        throw new BuildFarmApiException(response.StatusCode, problem, retryAfter);
    }

    private async IAsyncEnumerable<BuildEvent> StreamAsync(string path, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? lastEventId = null;
        var delay = _options.ReconnectDelay;
        var failures = 0;
        while (true)
        {
            var response = await OpenStreamAsync(path, lastEventId, cancellationToken);
            if (response is not null)
            {
                using (response)
                {
                    using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken), Encoding.UTF8);
                    while (await ReadEventAsync(reader, cancellationToken) is { } frame)
                    {
                        if (frame.Retry is { } retry)
                        {
                            delay = retry;
                        }
                        if (frame.Event is null)
                        {
                            continue;
                        }
                        failures = 0;
                        if (frame.Id is not null)
                        {
                            lastEventId = frame.Id;
                        }
                        var record = frame.Event == BuildEvent.End || string.IsNullOrEmpty(frame.Data)
                            ? null
                            : JsonSerializer.Deserialize<BuildRecord>(frame.Data, BuildFarmJson.Options);
                        yield return new BuildEvent(frame.Id, frame.Event, record);
                        if (frame.Event == BuildEvent.End)
                        {
                            yield break;
                        }
                    }
                }
            }
            failures++;
            if (failures > _options.MaxReconnects)
            {
                throw new BuildFarmApiException($"GET {path}: the event stream dropped {failures} times in a row without an event; giving up");
            }
            await Task.Delay(delay, cancellationToken);
        }
    }

    /// <summary>Opens the stream; null on a transient failure (connection refused, 5xx) so the caller reconnects.</summary>
    private async Task<HttpResponseMessage?> OpenStreamAsync(string path, string? lastEventId, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        Authorize(request);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (HttpRequestException)
        {
            return null;
        }
        if ((int)response.StatusCode >= 500)
        {
            response.Dispose();
            return null;
        }
        try
        {
            await ThrowOnErrorAsync(response, cancellationToken);
        }
        catch
        {
            response.Dispose();
            throw;
        }
        return response;
    }

    private sealed record SseFrame(string? Id, string? Event, string Data, TimeSpan? Retry);

    /// <summary>Reads one event (up to a blank line); null at the end of the stream or when the connection broke.</summary>
    private static async Task<SseFrame?> ReadEventAsync(StreamReader reader, CancellationToken cancellationToken)
    {
        string? id = null;
        string? eventName = null;
        TimeSpan? retry = null;
        var data = new StringBuilder();
        var any = false;
        while (true)
        {
            string? line;
            try
            {
                line = await reader.ReadLineAsync(cancellationToken);
            }
            catch (Exception e) when (e is IOException or HttpRequestException && !cancellationToken.IsCancellationRequested)
            {
                return null;
            }
            if (line is null)
            {
                return null;
            }
            if (line.Length == 0)
            {
                if (any)
                {
                    return new SseFrame(id, eventName ?? (data.Length > 0 ? "message" : null), data.ToString(), retry);
                }
                continue;
            }
            if (line[0] == ':')
            {
                continue;
            }
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..];
            if (value.StartsWith(' '))
            {
                value = value[1..];
            }
            any = true;
            switch (field)
            {
                case "id":
                    id = value;
                    break;
                case "event":
                    eventName = value;
                    break;
                case "data":
                    if (data.Length > 0)
                    {
                        data.Append('\n');
                    }
                    data.Append(value);
                    break;
                case "retry" when int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var ms):
                    retry = TimeSpan.FromMilliseconds(ms);
                    break;
                default:
                    break;
            }
        }
    }
}
