using BuildFarm.Coordination.Logs;
using BuildFarm.Kaniko.Classification;
using BuildFarm.Kaniko.Logs;
using BuildFarm.Kaniko.Pods;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Options;

namespace BuildFarm.Worker.Pods;

/// <summary>
/// Reads an attempt pod's Kaniko log from the Kubernetes API, line by line as it arrives, through a fresh
/// <see cref="KanikoLogAnalyzer"/>. The one place each attempt's log lines pass: each also goes to the attempt's
/// <see cref="BuildLogWriter"/> when one is given (the log store; the line with its Kubernetes timestamp, which the
/// analyzer strips itself).
/// </summary>
public sealed class AttemptLogStreamer(IKubernetes kubernetes, IOptions<KanikoPodOptions> kaniko, ILogger<AttemptLogStreamer> logger)
{
    /// <summary>Follows the running container's log to its end; null when the stream broke (read it again once the
    /// container ended).</summary>
    public Task<KanikoLogAnalysis?> FollowAsync(string pod, IReadOnlyList<string> destinations, DateTimeOffset? containerStartedAt, CancellationToken ct,
        BuildLogWriter? log = null) =>
        StreamAsync(pod, new KanikoLogAnalyzerOptions { Destinations = destinations, ContainerStartedAt = containerStartedAt }, follow: true, log, ct);

    /// <summary>Reads the whole log of a container that ended (or of a pod kept from an earlier attempt); null when it broke.</summary>
    public Task<KanikoLogAnalysis?> ReadAsync(string pod, IReadOnlyList<string> destinations, DateTimeOffset? containerStartedAt, CancellationToken ct,
        BuildLogWriter? log = null) =>
        StreamAsync(pod, new KanikoLogAnalyzerOptions { Destinations = destinations, ContainerStartedAt = containerStartedAt }, follow: false, log, ct);

    /// <summary><see cref="ReadAsync(string, IReadOnlyList{string}, DateTimeOffset?, CancellationToken, BuildLogWriter)"/> of a pod as listed.</summary>
    public Task<KanikoLogAnalysis?> ReadAsync(V1Pod pod, IReadOnlyList<string> destinations, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(pod);
        return ReadAsync(pod.Metadata.Name, destinations, PodStates.ContainerStartedAt(pod), ct);
    }

    private async Task<KanikoLogAnalysis?> StreamAsync(string pod, KanikoLogAnalyzerOptions options, bool follow, BuildLogWriter? log, CancellationToken ct)
    {
        var analyzer = new KanikoLogAnalyzer(options);
        // Each stream starts at the log's beginning: the writer skips what an earlier stream (or worker) already took.
        log?.Restart();
        try
        {
            using var response = await kubernetes.CoreV1.ReadNamespacedPodLogWithHttpMessagesAsync(pod, kaniko.Value.Namespace,
                container: KanikoPodFactory.ContainerName, follow: follow, timestamps: true, cancellationToken: ct).ConfigureAwait(false);
            using var reader = new StreamReader(response.Body);
            while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
            {
                analyzer.AnalyzeLine(line);
                if (log is not null && log.Add(line))
                {
                    await log.FlushAsync(ct).ConfigureAwait(false);
                }
            }
            return analyzer.Complete();
        }
        catch (Exception e) when (e is IOException or HttpRequestException or HttpOperationException && !ct.IsCancellationRequested)
        {
            logger.LogInformation("log stream of {Pod} broke ({Error})", pod, e.Message);
            return null;
        }
    }
}
