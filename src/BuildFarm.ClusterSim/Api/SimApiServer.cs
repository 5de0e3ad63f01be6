using System.Globalization;
using System.Text.Json;
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
/// Requests are dispatched through a table of path templates (<see cref="SimRouteTable"/>, built in <see cref="Routes"/>).
/// </summary>
public sealed partial class SimApiServer : IDisposable
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
    private readonly SimRouteTable _routes;

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
        _routes = Routes();
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
        var method = context.Request.Method;
        var match = _routes.Match(method, segments);
        var isSim = segments is ["_sim", ..];
        var resource = match.Route?.Resource ?? (isSim ? "_sim" : "unknown");
        var verb = VerbOf(method, match.Route?.Kind ?? (isSim ? SimRouteKind.Sim : SimRouteKind.Discovery), IsTrue(context.Request.Query["watch"]));
        try
        {
            if (isSim && match.Handler is null)
            {
                throw new SimApiException(404, "NotFound", "unknown simulator endpoint: use GET /_sim/stats, GET|POST /_sim/scenario, POST /_sim/compact", new V1StatusDetails());
            }
            if (_token is not null && !isSim && match.Route is not { Public: true })
            {
                var auth = context.Request.Headers.Authorization.ToString();
                if (auth != "Bearer " + _token)
                {
                    throw new SimApiException(401, "Unauthorized", "Unauthorized");
                }
            }
            if (match.Route is null)
            {
                throw new SimApiException(404, "NotFound", "the server could not find the requested resource", new V1StatusDetails());
            }
            if (match.Route.InjectsFaults)
            {
                await InjectFaultsAsync(context);
            }
            if (match.Handler is null)
            {
                throw new SimApiException(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", new V1StatusDetails());
            }
            await match.Handler(context, match.Values);
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

    /// <summary>
    /// The Kubernetes API paths the simulator serves (pods and events, discovery, OpenAPI), its health and version
    /// endpoints and <c>/_sim</c>. A path no template fits is 404; a method a fitting template does not serve is 405.
    /// </summary>
    private SimRouteTable Routes()
    {
        const string Pods = "/api/v1/namespaces/{namespace}/pods";
        const string Events = "/api/v1/namespaces/{namespace}/events";
        SimRouteHandler JsonOf(Func<HttpContext, string> body) => (context, _) => WriteJsonAsync(context, 200, body(context));
        SimRouteHandler ok = async (context, _) =>
        {
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync("ok", context.RequestAborted);
        };
        SimRouteHandler ListOf(string resource) => (context, values) =>
            ListOrWatchAsync(context, resource, values.Namespace, IsTrue(context.Request.Query["watch"]));
        SimRouteHandler getPod = (context, values) =>
            WriteObjectAsync(context, _store.GetPod(values.Namespace!, values.Name!) ?? throw SimApiException.NotFound("pods", values.Name!));

        return new SimRouteTable()
            .MapPublic("/version", JsonOf(_ => Discovery.Version().ToJsonString()))
            .MapPublic("/healthz", ok)
            .MapPublic("/livez", ok)
            .MapPublic("/readyz", ok)
            .Map("/api", "discovery", SimRouteKind.Discovery, ("*", JsonOf(c => Discovery.ApiVersions($"{c.Request.Host}").ToJsonString())))
            .Map("/apis", "discovery", SimRouteKind.Discovery, ("*", JsonOf(_ => Discovery.ApiGroups().ToJsonString())))
            .Map("/api/v1", "discovery", SimRouteKind.Discovery, ("*", JsonOf(_ => Discovery.CoreV1Resources().ToJsonString())))
            .Map("/openapi/v3", "discovery", SimRouteKind.Discovery, ("*", JsonOf(_ => Discovery.OpenApiV3Index().ToJsonString())))
            .Map("/openapi/v3/api/v1", "discovery", SimRouteKind.Discovery, ("*", JsonOf(_ => Discovery.OpenApiV3CoreV1().ToJsonString())))
            .Map("/api/v1/pods", "pods", SimRouteKind.Collection, ("GET", ListOf("pods")))
            .Map("/api/v1/events", "events", SimRouteKind.Collection, ("GET", ListOf("events")))
            .Map("/api/v1/namespaces/{namespace}", "discovery", SimRouteKind.Discovery, ("GET", (context, values) => NamespaceAsync(context, values.Namespace!)))
            .Map(Pods, "pods", SimRouteKind.Collection, ("GET", ListOf("pods")), ("POST", (context, values) => CreatePodAsync(context, values.Namespace!)))
            .Map(Pods + "/{name}", "pods", SimRouteKind.Object, ("GET", getPod), ("DELETE", (context, values) => DeletePodAsync(context, values.Namespace!, values.Name!)))
            .Map(Pods + "/{name}/status", "pods/status", SimRouteKind.Object, ("GET", getPod))
            .Map(Pods + "/{name}/log", "pods/log", SimRouteKind.Log, ("GET", (context, values) => LogAsync(context, values.Namespace!, values.Name!)))
            .Map(Events, "events", SimRouteKind.Collection, ("GET", ListOf("events")))
            .Map(Events + "/{name}", "events", SimRouteKind.Object, ("GET", (context, values) => WriteJsonAsync(context, 200,
                KubernetesJson.Serialize(_store.GetEvent(values.Namespace!, values.Name!) ?? throw SimApiException.NotFound("events", values.Name!)))))
            .Map("/_sim/stats", "_sim", SimRouteKind.Sim, ("GET", (context, _) => SimStatsAsync(context)))
            .Map("/_sim/scenario", "_sim", SimRouteKind.Sim, ("GET", (context, _) => SimScenarioAsync(context)),
                ("POST", (context, _) => SimReloadAsync(context)), ("PUT", (context, _) => SimReloadAsync(context)))
            .Map("/_sim/compact", "_sim", SimRouteKind.Sim, ("POST", (context, _) => SimCompactAsync(context)));
    }

    /// <summary>The verb a request is counted under in <c>/_sim/stats</c>, as the API server's audit log names them.</summary>
    private static string VerbOf(string method, SimRouteKind kind, bool watch) => method switch
    {
        "GET" when kind == SimRouteKind.Log => "log",
        "GET" when watch => "watch",
        "GET" when kind == SimRouteKind.Collection => "list",
        "GET" => "get",
        "POST" => "create",
        "DELETE" => "delete",
        _ => method.ToLowerInvariant(),
    };

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

    private static Task NamespaceAsync(HttpContext context, string ns) =>
        WriteJsonAsync(context, 200, KubernetesJson.Serialize(new V1Namespace
        {
            ApiVersion = "v1",
            Kind = "Namespace",
            Metadata = new V1ObjectMeta { Name = ns, Labels = new Dictionary<string, string> { ["kubernetes.io/metadata.name"] = ns } },
            Status = new V1NamespaceStatus { Phase = "Active" },
        }));
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

    /// <summary>Whether the store's fan-out step may write changes to watch connections itself (see <see cref="ClusterSimulatorOptions.DirectWatchWrites"/>).</summary>
    public bool DirectWatchWrites { get; init; } = true;

    /// <summary>The YAML of the scenario in force, when it came from a file or a POST.</summary>
    public string? CurrentScenarioYaml { get; set; }
}
