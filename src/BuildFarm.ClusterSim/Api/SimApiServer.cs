using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BuildFarm.ClusterSim.Hosting;
using BuildFarm.ClusterSim.Kubelet;
using BuildFarm.ClusterSim.Scenarios;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Http;

namespace BuildFarm.ClusterSim.Api;

/// <summary>
/// The HTTP front of the simulator: the Kubernetes API paths for pods and events (list, watch, get, create, delete,
/// log, Table form), discovery, OpenAPI, <c>Status</c> errors, token auth, API fault injection and <c>/_sim</c>.
/// </summary>
public sealed class SimApiServer : IDisposable
{
    private const string RfcNanoFixed = "yyyy-MM-dd'T'HH:mm:ss.fffffff'00Z'";

    private readonly SimStore _store;
    private readonly SimKubelet _kubelet;
    private readonly SimClock _clock;
    private readonly SimStats _stats;
    private readonly Func<Scenario> _scenario;
    private readonly Action<Scenario, string> _reload;
    private readonly string? _token;
    private readonly Lock _randomLock = new();
    private readonly Random _random;
    private readonly CancellationTokenSource _stopping = new();

    private static readonly JsonSerializerOptions s_statsJson = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public SimApiServer(SimStore store, SimKubelet kubelet, SimClock clock, SimStats stats, Func<Scenario> scenario,
        Action<Scenario, string> reload, string? token, long seed)
    {
        _store = store;
        _kubelet = kubelet;
        _clock = clock;
        _stats = stats;
        _scenario = scenario;
        _reload = reload;
        _token = token;
        _random = new Random((int)(seed & int.MaxValue) ^ 0x5a5a5a5);
    }

    /// <summary>Ends every open watch and log stream (the simulator is stopping).</summary>
    public void Stop() => _stopping.Cancel();

    public void Dispose() => _stopping.Dispose();

    private double NextDouble()
    {
        lock (_randomLock)
        {
            return _random.NextDouble();
        }
    }

    public async Task HandleAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var path = context.Request.Path.Value ?? "/";
        var segments = path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        var (verb, resource) = Classify(context.Request.Method, segments, context.Request.Query);
        try
        {
            if (segments is ["_sim", ..])
            {
                await SimAsync(context, segments);
                return;
            }
            if (_token is not null && !IsPublic(segments))
            {
                var auth = context.Request.Headers.Authorization.ToString();
                if (auth != "Bearer " + _token)
                {
                    throw new SimApiException(401, "Unauthorized", "Unauthorized");
                }
            }
            if (resource is "pods" or "events" or "pods/log" or "pods/status")
            {
                await InjectFaultsAsync(context);
            }
            await RouteAsync(context, segments, verb);
        }
        catch (SimApiException e)
        {
            if (!context.Response.HasStarted)
            {
                if (e.Code == 429)
                {
                    context.Response.Headers.RetryAfter = _scenario().Api.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
                }
                await WriteJsonAsync(context, e.Code, e.ToJson());
            }
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away (or a dropped connection was injected).
        }
        catch (Exception e) when (!context.Response.HasStarted)
        {
            await WriteJsonAsync(context, 500, SimApiException.Json(SimApiException.Status(500, "InternalError",
                $"Internal error occurred: {e.GetType().Name}: {e.Message}")));
        }
        finally
        {
            _stats.CountRequest(verb, resource, context.Response.StatusCode);
        }
    }

    private static bool IsPublic(string[] segments) =>
        segments is ["version"] or ["healthz"] or ["livez"] or ["readyz"];

    private static (string Verb, string Resource) Classify(string method, string[] s, IQueryCollection query)
    {
        var watch = IsTrue(query["watch"]);
        string resource = s switch
        {
            ["api", "v1", "namespaces", _, var r, _, var sub] => $"{r}/{sub}",
            ["api", "v1", "namespaces", _, var r, ..] => r,
            ["api", "v1", var r] when r != "namespaces" => r,
            ["_sim", ..] => "_sim",
            _ => "discovery",
        };
        var named = s is ["api", "v1", "namespaces", _, _, _, ..];
        var verb = method switch
        {
            "GET" when resource == "pods/log" => "log",
            "GET" when watch => "watch",
            "GET" when named || resource == "discovery" || resource == "_sim" => "get",
            "GET" => "list",
            "POST" => "create",
            "DELETE" => "delete",
            _ => method.ToLowerInvariant(),
        };
        return (verb, resource);
    }

    private static bool IsTrue(string? value) => value is "true" or "1" or "True";

    private async Task InjectFaultsAsync(HttpContext context)
    {
        var api = _scenario().Api;
        if (api.SlowRate > 0 && NextDouble() < api.SlowRate)
        {
            await Task.Delay(api.SlowMilliseconds, context.RequestAborted);
        }
        if (api.ThrottleRate > 0 && NextDouble() < api.ThrottleRate)
        {
            throw new SimApiException(429, "TooManyRequests", "Too many requests, please try again later.",
                new V1StatusDetails { RetryAfterSeconds = api.RetryAfterSeconds });
        }
        if (api.ErrorRate > 0 && NextDouble() < api.ErrorRate)
        {
            throw new SimApiException(500, "InternalError", "Internal error occurred: simulated API server failure");
        }
    }

    private async Task RouteAsync(HttpContext context, string[] s, string verb)
    {
        var method = context.Request.Method;
        var query = context.Request.Query;
        switch (s)
        {
            case ["version"]:
                await WriteJsonAsync(context, 200, Discovery.Version().ToJsonString());
                return;
            case ["healthz"] or ["livez"] or ["readyz"]:
                context.Response.ContentType = "text/plain; charset=utf-8";
                await context.Response.WriteAsync("ok", context.RequestAborted);
                return;
            case ["api"]:
                await WriteJsonAsync(context, 200, Discovery.ApiVersions($"{context.Request.Host}").ToJsonString());
                return;
            case ["apis"]:
                await WriteJsonAsync(context, 200, Discovery.ApiGroups().ToJsonString());
                return;
            case ["api", "v1"]:
                await WriteJsonAsync(context, 200, Discovery.CoreV1Resources().ToJsonString());
                return;
            case ["openapi", "v3"]:
                await WriteJsonAsync(context, 200, Discovery.OpenApiV3Index().ToJsonString());
                return;
            case ["openapi", "v3", "api", "v1"]:
                await WriteJsonAsync(context, 200, Discovery.OpenApiV3CoreV1().ToJsonString());
                return;
            case ["api", "v1", "pods"] when method == "GET":
                await ListOrWatchAsync(context, "pods", null, verb == "watch");
                return;
            case ["api", "v1", "events"] when method == "GET":
                await ListOrWatchAsync(context, "events", null, verb == "watch");
                return;
            case ["api", "v1", "namespaces", var ns] when method == "GET":
                await WriteJsonAsync(context, 200, KubernetesJson.Serialize(new V1Namespace
                {
                    ApiVersion = "v1",
                    Kind = "Namespace",
                    Metadata = new V1ObjectMeta { Name = ns, Labels = new Dictionary<string, string> { ["kubernetes.io/metadata.name"] = ns } },
                    Status = new V1NamespaceStatus { Phase = "Active" },
                }));
                return;
            case ["api", "v1", "namespaces", var ns, "pods"]:
                if (method == "GET")
                {
                    await ListOrWatchAsync(context, "pods", ns, verb == "watch");
                }
                else if (method == "POST")
                {
                    await CreatePodAsync(context, ns);
                }
                else
                {
                    throw MethodNotAllowed();
                }
                return;
            case ["api", "v1", "namespaces", var ns, "pods", var name, ..] when s.Length == 6 || s[6] == "status":
                if (method == "GET")
                {
                    var pod = _store.GetPod(ns, name) ?? throw SimApiException.NotFound("pods", name);
                    await WriteObjectAsync(context, pod);
                }
                else if (method == "DELETE" && s.Length == 6)
                {
                    await DeletePodAsync(context, ns, name);
                }
                else
                {
                    throw MethodNotAllowed();
                }
                return;
            case ["api", "v1", "namespaces", var ns, "pods", var name, "log"] when method == "GET":
                await LogAsync(context, ns, name);
                return;
            case ["api", "v1", "namespaces", var ns, "events"] when method == "GET":
                await ListOrWatchAsync(context, "events", ns, verb == "watch");
                return;
            case ["api", "v1", "namespaces", var ns, "events", var name] when method == "GET":
                var ev = _store.GetEvent(ns, name) ?? throw SimApiException.NotFound("events", name);
                await WriteJsonAsync(context, 200, KubernetesJson.Serialize(ev));
                return;
            default:
                throw new SimApiException(404, "NotFound", "the server could not find the requested resource", new V1StatusDetails());
        }
    }

    private static SimApiException MethodNotAllowed() =>
        new(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", new V1StatusDetails());

    private static async Task WriteJsonAsync(HttpContext context, int code, string json)
    {
        context.Response.StatusCode = code;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(json, context.RequestAborted);
    }

    private static bool WantsTable(HttpContext context) =>
        context.Request.Headers.Accept.ToString().Contains("as=Table", StringComparison.Ordinal);

    private async Task WriteObjectAsync(HttpContext context, V1Pod pod, int code = 200)
    {
        if (WantsTable(context))
        {
            var table = PodTable.Table([pod], _clock.Now, context.Request.Query["includeObject"], true, pod.Metadata.ResourceVersion);
            await WriteJsonAsync(context, code, table.ToJsonString());
            return;
        }
        await WriteJsonAsync(context, code, KubernetesJson.Serialize(pod));
    }

    private async Task CreatePodAsync(HttpContext context, string ns)
    {
        string body;
        using (var reader = new StreamReader(context.Request.Body, Encoding.UTF8))
        {
            body = await reader.ReadToEndAsync(context.RequestAborted);
        }
        V1Pod? pod;
        try
        {
            pod = KubernetesJson.Deserialize<V1Pod>(body);
        }
        catch (JsonException e)
        {
            throw SimApiException.BadRequest($"the body of the request was in an unknown format - accepted media types include: application/json; json parse error: {e.Message}");
        }
        if (pod is null)
        {
            throw SimApiException.BadRequest("the body of the request is empty: a Pod is required");
        }
        if (pod.Kind is { Length: > 0 } kind && kind != "Pod")
        {
            throw SimApiException.BadRequest($"the API version in the data ({pod.ApiVersion}) does not match the expected API version (v1) or the kind ({kind}) is not Pod");
        }
        pod.Metadata ??= new V1ObjectMeta();
        if (!string.IsNullOrEmpty(pod.Metadata.NamespaceProperty) && pod.Metadata.NamespaceProperty != ns)
        {
            throw SimApiException.BadRequest("the namespace of the provided object does not match the namespace sent on the request");
        }
        pod.Metadata.NamespaceProperty = ns;
        pod.Metadata.ResourceVersion = null;
        Random nameRandom;
        lock (_randomLock)
        {
            nameRandom = new Random(_random.Next());
        }
        PodValidation.ValidateAndDefault(pod, nameRandom);
        if (context.Request.Query["dryRun"] == "All")
        {
            pod.Metadata.CreationTimestamp = SimStore.Truncate(_clock.Now);
            await WriteObjectAsync(context, pod, 201);
            return;
        }
        var created = _store.CreatePod(pod);
        _kubelet.OnCreated(created);
        await WriteObjectAsync(context, created, 201);
    }

    private async Task DeletePodAsync(HttpContext context, string ns, string name)
    {
        long? grace = null;
        if (long.TryParse(context.Request.Query["gracePeriodSeconds"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var g))
        {
            grace = g;
        }
        if (context.Request.ContentLength is > 0 || context.Request.Headers.TransferEncoding.Count > 0)
        {
            using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
            var body = await reader.ReadToEndAsync(context.RequestAborted);
            if (!string.IsNullOrWhiteSpace(body))
            {
                V1DeleteOptions? options;
                try
                {
                    options = KubernetesJson.Deserialize<V1DeleteOptions>(body);
                }
                catch (JsonException e)
                {
                    throw SimApiException.BadRequest($"invalid DeleteOptions: {e.Message}");
                }
                if (options?.PropagationPolicy is { } policy && policy is not ("Orphan" or "Background" or "Foreground"))
                {
                    throw new SimApiException(422, "Invalid", $"DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{policy}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"");
                }
                grace ??= options?.GracePeriodSeconds;
                if (options?.Preconditions?.Uid is { } uid && _store.GetPod(ns, name) is { } p && p.Metadata.Uid != uid)
                {
                    throw new SimApiException(409, "Conflict",
                        $"Operation cannot be fulfilled on Pod \"{name}\": Precondition failed: UID in precondition: {uid}, UID in object meta: {p.Metadata.Uid}");
                }
            }
        }
        if (grace is < 0)
        {
            grace = 1;
        }
        var pod = _store.GetPod(ns, name) ?? throw SimApiException.NotFound("pods", name);
        var result = _kubelet.RequestDelete(pod, grace);
        await WriteObjectAsync(context, result);
    }

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

    private async Task LogAsync(HttpContext context, string ns, string name)
    {
        var query = context.Request.Query;
        var pod = _store.GetPod(ns, name) ?? throw SimApiException.NotFound("pods", name);
        var names = pod.Spec.Containers.Select(c => c.Name).ToList();
        var container = query["container"].ToString();
        if (string.IsNullOrEmpty(container))
        {
            if (names.Count != 1)
            {
                throw SimApiException.BadRequest($"a container name must be specified for pod {name}, choose one of: [{string.Join(' ', names)}]");
            }
            container = names[0];
        }
        else if (!names.Contains(container))
        {
            throw SimApiException.BadRequest($"container {container} is not valid for pod {name}");
        }
        if (IsTrue(query["previous"]))
        {
            throw SimApiException.BadRequest($"previous terminated container \"{container}\" in pod \"{name}\" not found");
        }
        var log = _kubelet.Log(pod.Metadata.Uid, container);
        if (log is null)
        {
            var reason = pod.Status?.ContainerStatuses?.FirstOrDefault(c => c.Name == container)?.State?.Waiting?.Reason ?? "ContainerCreating";
            throw SimApiException.BadRequest($"container \"{container}\" in pod \"{name}\" is waiting to start: {reason}");
        }
        var follow = IsTrue(query["follow"]);
        var timestamps = IsTrue(query["timestamps"]);
        int? tail = int.TryParse(query["tailLines"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var t) && t >= 0 ? t : null;
        long? limitBytes = long.TryParse(query["limitBytes"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var lb) && lb > 0 ? lb : null;
        DateTimeOffset? since = null;
        if (long.TryParse(query["sinceSeconds"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var ss))
        {
            if (ss < 1)
            {
                throw SimApiException.BadRequest("sinceSeconds: Invalid value: must be greater than 0");
            }
            since = _clock.Now.AddSeconds(-ss);
        }
        else if (DateTimeOffset.TryParse(query["sinceTime"], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var st))
        {
            since = st;
        }
        var api = _scenario().Api;
        var dropAt = follow && api.DropLogRate > 0 && NextDouble() < api.DropLogRate
            ? DateTimeOffset.UtcNow.AddMilliseconds(api.DropAfterMilliseconds) : DateTimeOffset.MaxValue;

        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/plain";
        await context.Response.StartAsync(context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
        var (lines, ended, changed) = log.Read(0);
        var index = lines.Length;
        IEnumerable<LogLine> initial = lines;
        if (since is { } sinceTime)
        {
            initial = initial.Where(l => l.Time >= sinceTime);
        }
        if (tail is { } tailLines)
        {
            var list = initial.ToList();
            initial = list.Skip(Math.Max(0, list.Count - tailLines));
        }
        long written = 0;
        async Task<bool> WriteAsync(IEnumerable<LogLine> batch)
        {
            var sb = new StringBuilder();
            foreach (var line in batch)
            {
                if (timestamps)
                {
                    sb.Append(line.Time.UtcDateTime.ToString(RfcNanoFixed, CultureInfo.InvariantCulture)).Append(' ');
                }
                sb.Append(line.Text).Append('\n');
            }
            if (sb.Length == 0)
            {
                return true;
            }
            var bytes = Encoding.UTF8.GetBytes(sb.ToString());
            var count = bytes.Length;
            var full = false;
            if (limitBytes is { } max && written + count >= max)
            {
                count = (int)(max - written);
                full = true;
            }
            await context.Response.Body.WriteAsync(bytes.AsMemory(0, count), context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
            written += count;
            return !full;
        }
        if (!await WriteAsync(initial) || !follow)
        {
            return;
        }
        while (!ended)
        {
            var wait = dropAt - DateTimeOffset.UtcNow;
            if (wait <= TimeSpan.Zero)
            {
                context.Abort();
                return;
            }
            using var waitCts = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token);
            await changed.WaitAsync(wait < TimeSpan.FromDays(1) ? wait : Timeout.InfiniteTimeSpan, waitCts.Token)
                .ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            context.RequestAborted.ThrowIfCancellationRequested();
            if (_stopping.IsCancellationRequested)
            {
                return;
            }
            (lines, ended, changed) = log.Read(index);
            index += lines.Length;
            if (!await WriteAsync(lines))
            {
                return;
            }
        }
    }

    private async Task SimAsync(HttpContext context, string[] s)
    {
        var method = context.Request.Method;
        switch (s)
        {
            case ["_sim", "stats"] when method == "GET":
                var (pods, _) = _store.ListPods(null);
                var byPhase = pods.GroupBy(p => p.Status?.Phase ?? "Pending").ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
                var snapshot = _stats.Snapshot(byPhase, _store.WatchCount, _store.ResourceVersion.ToString(CultureInfo.InvariantCulture));
                await WriteJsonAsync(context, 200, JsonSerializer.Serialize(snapshot, s_statsJson));
                return;
            case ["_sim", "scenario"] when method == "GET":
                context.Response.ContentType = "application/yaml";
                await context.Response.WriteAsync(CurrentScenarioYaml ?? ScenarioLoader.DefaultYaml(), context.RequestAborted);
                return;
            case ["_sim", "scenario"] when method is "POST" or "PUT":
                using (var reader = new StreamReader(context.Request.Body, Encoding.UTF8))
                {
                    var yaml = await reader.ReadToEndAsync(context.RequestAborted);
                    Scenario scenario;
                    try
                    {
                        scenario = ScenarioLoader.Parse(yaml, "posted scenario");
                    }
                    catch (ScenarioException e)
                    {
                        throw SimApiException.BadRequest(e.Message);
                    }
                    _reload(scenario, yaml);
                    CurrentScenarioYaml = yaml;
                }
                await WriteJsonAsync(context, 200, new JsonObject { ["reloaded"] = true, ["timeScale"] = _scenario().TimeScale }.ToJsonString());
                return;
            case ["_sim", "compact"] when method == "POST":
                var rv = _store.Compact();
                await WriteJsonAsync(context, 200, new JsonObject { ["compactedTo"] = rv.ToString(CultureInfo.InvariantCulture) }.ToJsonString());
                return;
            default:
                throw new SimApiException(404, "NotFound", "unknown simulator endpoint: use GET /_sim/stats, GET|POST /_sim/scenario, POST /_sim/compact", new V1StatusDetails());
        }
    }

    /// <summary>Whether the store's fan-out step may write changes to watch connections itself (see <see cref="ClusterSimulatorOptions.DirectWatchWrites"/>).</summary>
    public bool DirectWatchWrites { get; init; } = true;

    /// <summary>The YAML of the scenario in force, when it came from a file or a POST.</summary>
    public string? CurrentScenarioYaml { get; set; }
}
