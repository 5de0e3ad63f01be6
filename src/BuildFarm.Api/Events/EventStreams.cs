using System.Globalization;
using System.Text;
using System.Text.Json;
using BuildFarm.Api.Auth;
using BuildFarm.Api.Metrics;
using BuildFarm.Api.Options;
using BuildFarm.Status;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace BuildFarm.Api.Events;

/// <summary>
/// Server-Sent Events for a build or a batch (docs/api.md "Events"). Subscribes to the store first, then sends the
/// current record(s) as <c>snapshot</c> events, then each change (<c>event:</c> the change kind, <c>data:</c> the whole
/// record as JSON). Ids: a build's stream uses the record's version; a batch's stream uses the sum of its builds'
/// versions (each change adds one), so <c>Last-Event-ID</c> tells whether anything changed since. A heartbeat comment
/// goes out every <see cref="ApiOptions.SseHeartbeat"/>, and the records are re-read then too, so a change the
/// subscription missed still arrives. The stream ends with an <c>end</c> event once every build it follows is final.
/// Only records the caller may see are ever written (the endpoints check the build or batch first; a batch's builds all
/// share its tenant, and this filter holds even if they did not).
/// </summary>
public sealed class EventStreams(IBuildStatusStore store, IOptions<ApiOptions> options, ApiMetrics metrics, TimeProvider time)
{
    private static readonly JsonSerializerOptions Json = BuildFarmJson.Options;

    public Task StreamBuildAsync(HttpContext context, ApiCaller caller, string buildId, long? lastEventId, CancellationToken cancellationToken) =>
        RunAsync(
            context, caller, buildId, batchId: null, lastEventId,
            async ct => await store.GetBuildAsync(buildId, ct) is { } record ? [record] : [],
            cancellationToken);

    public Task StreamBatchAsync(HttpContext context, ApiCaller caller, string batchId, long? lastEventId, CancellationToken cancellationToken) =>
        RunAsync(context, caller, null, batchId, lastEventId, ct => store.GetBatchBuildsAsync(batchId, ct), cancellationToken);

    private async Task RunAsync(
        HttpContext context, ApiCaller caller, string? buildId, string? batchId, long? lastEventId,
        Func<CancellationToken, Task<IReadOnlyList<BuildRecord>>> readAll, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(caller);
        async Task<IReadOnlyList<BuildRecord>> ReadVisibleAsync(CancellationToken ct) => [.. (await readAll(ct)).Where(r => caller.CanSee(r.Tenant))];
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        metrics.StreamOpened();

        using var subscription = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var changes = store.SubscribeAsync(buildId, batchId, subscription.Token).GetAsyncEnumerator(subscription.Token);
        // Start listening before reading the current records so that no change falls between the two.
        var next = changes.MoveNextAsync().AsTask();
        var stream = new StreamState(batchId is not null);
        try
        {
            var records = await ReadVisibleAsync(cancellationToken);
            var batchUnchanged = stream.IsBatch && lastEventId is { } last && last == records.Sum(r => r.Version);
            foreach (var record in records)
            {
                var alreadySeen = batchUnchanged || (!stream.IsBatch && lastEventId is { } seen && record.Version <= seen);
                stream.Track(record);
                if (!alreadySeen)
                {
                    await WriteEventAsync(response, stream.EventId(record), BuildEvent.Snapshot, record, cancellationToken);
                }
            }
            await response.Body.FlushAsync(cancellationToken);
            if (stream.AllFinal)
            {
                await WriteEndAsync(response, stream, cancellationToken);
                return;
            }
            while (true)
            {
                using var heartbeat = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var tick = Task.Delay(options.Value.SseHeartbeat, time, heartbeat.Token);
                var first = await Task.WhenAny(next, tick);
                if (first == next)
                {
                    await heartbeat.CancelAsync();
                    if (!await next)
                    {
                        return; // the store ended the subscription: the client reconnects with Last-Event-ID
                    }
                    var change = changes.Current;
                    next = changes.MoveNextAsync().AsTask();
                    if (caller.CanSee(change.Record.Tenant) && stream.IsNewer(change.Record))
                    {
                        stream.Track(change.Record);
                        await WriteEventAsync(response, stream.EventId(change.Record), change.Event, change.Record, cancellationToken);
                    }
                }
                else
                {
                    await tick;
                    await response.WriteAsync(": heartbeat\n\n", cancellationToken);
                    foreach (var record in await ReadVisibleAsync(cancellationToken))
                    {
                        if (stream.IsNewer(record))
                        {
                            stream.Track(record);
                            await WriteEventAsync(response, stream.EventId(record), BuildEvent.Snapshot, record, cancellationToken);
                        }
                    }
                }
                await response.Body.FlushAsync(cancellationToken);
                if (stream.AllFinal)
                {
                    await WriteEndAsync(response, stream, cancellationToken);
                    return;
                }
            }
        }
        finally
        {
            metrics.StreamClosed();
            await subscription.CancelAsync();
            try
            {
                await next;
            }
            catch (OperationCanceledException)
            {
                // expected: the subscription was cancelled
            }
            await changes.DisposeAsync();
        }
    }

    private static async Task WriteEventAsync(HttpResponse response, long id, string kind, BuildRecord record, CancellationToken cancellationToken)
    {
        var text = new StringBuilder()
            .Append("id: ").Append(id.ToString(CultureInfo.InvariantCulture)).Append('\n')
            .Append("event: ").Append(kind).Append('\n')
            .Append("data: ").Append(JsonSerializer.Serialize(record.AsWire(), Json)).Append("\n\n");
        await response.WriteAsync(text.ToString(), cancellationToken);
    }

    private static async Task WriteEndAsync(HttpResponse response, StreamState stream, CancellationToken cancellationToken)
    {
        await response.WriteAsync($"id: {stream.CurrentId.ToString(CultureInfo.InvariantCulture)}\nevent: {BuildEvent.End}\ndata: {{}}\n\n", cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
    }

    /// <summary>What the stream has sent: each build's latest version and state.</summary>
    private sealed class StreamState(bool isBatch)
    {
        private readonly Dictionary<string, (long Version, BuildState State)> _builds = new(StringComparer.Ordinal);

        public bool IsBatch { get; } = isBatch;

        public bool AllFinal => _builds.Count > 0 && _builds.Values.All(b => b.State.IsFinal());

        /// <summary>The id of the latest event: the build's version, or the sum of the batch's versions.</summary>
        public long CurrentId => _builds.Values.Sum(b => b.Version);

        public bool IsNewer(BuildRecord record) => !_builds.TryGetValue(record.BuildId, out var known) || record.Version > known.Version;

        public void Track(BuildRecord record) => _builds[record.BuildId] = (record.Version, record.State);

        public long EventId(BuildRecord record) => IsBatch ? CurrentId : record.Version;
    }
}
