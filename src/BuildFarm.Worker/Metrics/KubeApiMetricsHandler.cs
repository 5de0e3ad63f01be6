using System.Globalization;

namespace BuildFarm.Worker.Metrics;

/// <summary>
/// Counts every Kubernetes API request by verb (<c>get</c>, <c>list</c>, <c>watch</c>, <c>create</c>, <c>delete</c>,
/// <c>log</c>) and status code (<c>error</c> when no response came back) in <c>buildfarm_kube_api_requests_total</c>.
/// </summary>
public sealed class KubeApiMetricsHandler(BuildFarmMetrics metrics) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var verb = Verb(request.Method, request.RequestUri);
        try
        {
            var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            metrics.RecordKubeApiRequest(verb, ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture));
            return response;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
        {
            metrics.RecordKubeApiRequest(verb, "error");
            throw;
        }
    }

    /// <summary>The Kubernetes verb of a request to a pod path (<c>…/pods</c>, <c>…/pods/{name}</c>, <c>…/pods/{name}/log</c>).</summary>
    public static string Verb(HttpMethod method, Uri? uri)
    {
        ArgumentNullException.ThrowIfNull(method);
        var path = uri?.AbsolutePath.TrimEnd('/') ?? "";
        var query = uri?.Query ?? "";
        if (method == HttpMethod.Post)
        {
            return "create";
        }
        if (method == HttpMethod.Delete)
        {
            return "delete";
        }
        if (method == HttpMethod.Put || method == HttpMethod.Patch)
        {
            return "update";
        }
        if (path.EndsWith("/log", StringComparison.Ordinal))
        {
            return "log";
        }
        if (query.Contains("watch=true", StringComparison.OrdinalIgnoreCase))
        {
            return "watch";
        }
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        // …/pods is a list; …/pods/{name} a get.
        return segments.Length > 0 && segments[^1] == "pods" ? "list" : "get";
    }
}
