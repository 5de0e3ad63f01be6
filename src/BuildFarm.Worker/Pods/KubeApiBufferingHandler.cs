using BuildFarm.Worker.Metrics;

namespace BuildFarm.Worker.Pods;

/// <summary>
/// Reads the whole body of a Kubernetes API response (a create's, get's, list's or delete's object) asynchronously
/// before the client sees it. KubernetesClient deserializes a response from the network stream synchronously: when the
/// body had not fully arrived, a thread-pool thread sat in a blocking socket read until it did, and on two busy cores the
/// pool's few threads all doing that stalled every build of the worker (0.5–1 s). Watches and pod logs are streams and
/// pass through untouched (<see cref="Buffers"/>). A body over <see cref="MaxBody"/> fails the request
/// (<see cref="HttpRequestException"/>, retried like a broken connection) instead of being held in memory.
/// </summary>
public sealed class KubeApiBufferingHandler : DelegatingHandler
{
    /// <summary>The largest body read ahead (an unpaged list of many pods stays well under it).</summary>
    public const long MaxBody = 512L * 1024 * 1024;

    /// <summary>True for the requests whose response is one object (not a watch, not a log stream).</summary>
    public static bool Buffers(HttpRequestMessage request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return KubeApiMetricsHandler.Verb(request.Method, request.RequestUri) is not ("watch" or "log");
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (!Buffers(request))
        {
            return response;
        }
        try
        {
            await response.Content.LoadIntoBufferAsync(MaxBody, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            response.Dispose();
            throw;
        }
        return response;
    }
}
