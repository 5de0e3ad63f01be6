using System.Globalization;
using System.Text.Json;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Http;

namespace BuildFarm.ClusterSim.Api;

// Lists (with selectors, limit and continue) and watches of pods and events.
public sealed partial class SimApiServer
{
    private sealed record ContinueToken(long Rv, string Start);

    private async Task ListOrWatchAsync(HttpContext context, string resource, string? ns, bool watch)
    {
        var query = context.Request.Query;
        var labels = LabelSelector.Parse(query["labelSelector"]);
        var fields = FieldSelector.Parse(query["fieldSelector"], resource);
        if (watch)
        {
            await WatchAsync(context, resource, ns, labels, fields);
            return;
        }
        var (items, rv) = resource == "pods"
            ? ((IEnumerable<IKubernetesObject<V1ObjectMeta>>, long))_store.ListPods(ns)
            : _store.ListEvents(ns);
        var matched = items.Where(o => labels.Matches(o.Metadata.Labels) && fields.Matches(o)).ToList();
        string? start = null;
        if (query["continue"] is { Count: > 0 } cont && !string.IsNullOrEmpty(cont))
        {
            try
            {
                var token = JsonSerializer.Deserialize<ContinueToken>(Convert.FromBase64String(cont!), s_statsJson)!;
                start = token.Start;
            }
            catch (Exception e) when (e is FormatException or JsonException or ArgumentNullException)
            {
                throw SimApiException.BadRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)");
            }
        }
        if (start is not null)
        {
            matched = matched.Where(o => string.CompareOrdinal(Key(o), start) > 0).ToList();
        }
        string? next = null;
        long? remaining = null;
        if (int.TryParse(query["limit"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var limit) && limit > 0 && matched.Count > limit)
        {
            remaining = matched.Count - limit;
            matched = matched.Take(limit).ToList();
            next = Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(new ContinueToken(rv, Key(matched[^1])), s_statsJson));
        }
        var rvText = rv.ToString(CultureInfo.InvariantCulture);
        if (resource == "pods" && WantsTable(context))
        {
            var table = PodTable.Table(matched.Cast<V1Pod>(), _clock.Now, query["includeObject"], true, rvText, next);
            await WriteJsonAsync(context, 200, table.ToJsonString());
            return;
        }
        if (resource == "events" && WantsTable(context))
        {
            var table = EventTable.Table(matched.Cast<Corev1Event>(), _clock.Now, query["includeObject"], rvText, next);
            await WriteJsonAsync(context, 200, table.ToJsonString());
            return;
        }
        var meta = new V1ListMeta { ResourceVersion = rvText, ContinueProperty = next, RemainingItemCount = remaining };
        string json = resource == "pods"
            ? KubernetesJson.Serialize(new V1PodList { ApiVersion = "v1", Kind = "PodList", Metadata = meta, Items = matched.Cast<V1Pod>().ToList() })
            : KubernetesJson.Serialize(new Corev1EventList { ApiVersion = "v1", Kind = "EventList", Metadata = meta, Items = matched.Cast<Corev1Event>().ToList() });
        await WriteJsonAsync(context, 200, json);
    }

    private static string Key(IKubernetesObject<V1ObjectMeta> o) => o.Metadata.NamespaceProperty + "/" + o.Metadata.Name;

    private async Task WatchAsync(HttpContext context, string resource, string? ns, LabelSelector labels, FieldSelector fields)
    {
        var query = context.Request.Query;
        var rvParam = query["resourceVersion"].ToString();
        long? from = null;
        if (!string.IsNullOrEmpty(rvParam) && rvParam != "0")
        {
            if (!long.TryParse(rvParam, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            {
                throw SimApiException.BadRequest($"invalid resource version: {rvParam}");
            }
            from = v;
        }
        var table = resource == "pods" && WantsTable(context);
        var includeObject = query["includeObject"].ToString();
        var bookmarks = IsTrue(query["allowWatchBookmarks"]);
        var api = _scenario().Api;
        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token);
        if (long.TryParse(query["timeoutSeconds"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var timeout) && timeout > 0)
        {
            lifetime.CancelAfter(TimeSpan.FromSeconds(timeout));
        }
        var drop = api.DropWatchRate > 0 && NextDouble() < api.DropWatchRate;

        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-cache, private";
        StoreWatch watch;
        long lastRv;
        try
        {
            (watch, lastRv) = _store.Subscribe(resource, from);
        }
        catch (SimApiException e) when (e.Code == 410)
        {
            await context.Response.WriteAsync($"{{\"type\":\"ERROR\",\"object\":{e.ToJson()}}}\n", context.RequestAborted);
            return;
        }
        using (watch)
        {
            await context.Response.StartAsync(context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
            var dropAt = drop ? DateTimeOffset.UtcNow.AddMilliseconds(api.DropAfterMilliseconds) : DateTimeOffset.MaxValue;
            var bookmarkEvery = TimeSpan.FromSeconds(api.BookmarkIntervalSeconds);
            var nextBookmark = DateTimeOffset.UtcNow + bookmarkEvery;
            var connection = new WatchConnection(context.Response.BodyWriter, watch, ns, labels, fields, _clock, _stats.WatchDelivery,
                lastRv, lifetime.Token)
            {
                Table = table,
                IncludeObject = includeObject,
            };
            if (!table && DirectWatchWrites)
            {
                // New changes are written by the store's fan-out step while this connection is free; this loop takes
                // the replay, the changes that queued up while the connection was busy, bookmarks and the injected drop.
                watch.AttachDirectWriter(connection.WriteDirect);
            }
            var drained = new List<StoredEvent>();
            try
            {
                while (!lifetime.IsCancellationRequested)
                {
                    var wait = Min(dropAt, bookmarks ? nextBookmark : DateTimeOffset.MaxValue) - DateTimeOffset.UtcNow;
                    if (wait > TimeSpan.Zero)
                    {
                        await watch.WaitAsync(wait < TimeSpan.FromDays(1) ? wait : Timeout.InfiniteTimeSpan, lifetime.Token);
                    }
                    if (watch.Fault is { } fault)
                    {
                        throw new IOException("writing to the watch connection failed: " + fault.Message, fault);
                    }
                    if (!watch.TryAcquire(out var handover))
                    {
                        // The fan-out step is writing to this connection right now; it wakes this loop when done.
                        await watch.WaitAsync(TimeSpan.FromMilliseconds(100), lifetime.Token);
                        continue;
                    }
                    if (handover is not null)
                    {
                        await handover;
                    }
                    do
                    {
                        drained.Clear();
                        watch.TryDrain(drained);
                        foreach (var ev in drained)
                        {
                            connection.Write(ev);
                        }
                        var now = DateTimeOffset.UtcNow;
                        if (bookmarks && now >= nextBookmark)
                        {
                            var kind = resource == "pods" ? "Pod" : "Event";
                            connection.WriteRaw(string.Create(CultureInfo.InvariantCulture,
                                $"{{\"type\":\"BOOKMARK\",\"object\":{{\"kind\":\"{kind}\",\"apiVersion\":\"v1\",\"metadata\":{{\"resourceVersion\":\"{connection.LastResourceVersion}\",\"creationTimestamp\":null}}}}}}\n"));
                            nextBookmark = now + bookmarkEvery;
                        }
                        await connection.FlushAsync();
                    }
                    while (!watch.TryRelease());
                    if (DateTimeOffset.UtcNow >= dropAt)
                    {
                        await DropAsync(watch, context);
                        return;
                    }
                }
            }
            catch (OperationCanceledException) when (lifetime.IsCancellationRequested && !context.RequestAborted.IsCancellationRequested)
            {
                // timeoutSeconds reached: the watch ends normally.
            }
            finally
            {
                // No direct write may touch the response once this returns.
                if (await watch.CloseAsync() is { } pending)
                {
                    await pending.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                }
            }
        }
    }

    private static async Task DropAsync(StoreWatch watch, HttpContext context)
    {
        if (await watch.CloseAsync() is { } pending)
        {
            await pending.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        context.Abort();
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;
}
