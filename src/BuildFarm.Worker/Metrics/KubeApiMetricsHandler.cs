using System.Globalization;
using BuildFarm.Worker.Pods;

namespace BuildFarm.Worker.Metrics;

/// <summary>
/// Counts every Kubernetes API request by verb (<c>get</c>, <c>list</c>, <c>watch</c>, <c>create</c>, <c>delete</c>,
/// <c>log</c>) and status code (<c>error</c> when no response came back) in <c>buildfarm_kube_api_requests_total</c>, and
/// each refused pod create by what <see cref="PodCreateRefusals"/> makes of it in <c>buildfarm_pod_create_refusals_total</c>
/// (<c>kind</c>: <c>quota</c>, <c>misconfigured</c>, <c>rejected</c>), so that a full ResourceQuota is told from an RBAC denial.
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
            if (verb == "create" && (int)response.StatusCode is >= 400 and < 500)
            {
                // Buffered (a Status body is small), so the client still reads it after this.
                await response.Content.LoadIntoBufferAsync(cancellationToken).ConfigureAwait(false);
                var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                if (RefusalKind(PodCreateRefusals.Classify(response.StatusCode, PodCreateRefusals.StatusMessage(body))) is { } kind)
                {
                    metrics.RecordPodCreateRefusal(kind);
                }
            }
            return response;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
        {
            metrics.RecordKubeApiRequest(verb, "error");
            throw;
        }
    }

    /// <summary>The <c>kind</c> label of a refused pod create; null when it is not a refusal (409 adoption, 429).</summary>
    public static string? RefusalKind(PodCreateRefusal refusal) => refusal switch
    {
        PodCreateRefusal.WaitForCapacity => "quota",
        PodCreateRefusal.FarmMisconfigured => "misconfigured",
        PodCreateRefusal.Rejected => "rejected",
        _ => null,
    };

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
