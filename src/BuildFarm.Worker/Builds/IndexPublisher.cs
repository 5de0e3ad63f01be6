using System.Net;
using BuildFarm.Contracts;
using BuildFarm.Kaniko.Pods;
using BuildFarm.Registry;
using BuildFarm.Worker.Metrics;
using k8s;
using k8s.Autorest;
using Microsoft.Extensions.Options;
using Polly.Registry;

namespace BuildFarm.Worker.Builds;

/// <summary>
/// Pushes the image index of a multi-platform build (docs/multi-platform.md "What the farm pushes") to every destination
/// tag, with the registry credentials the build's pods use: the <c>.dockerconfigjson</c> of the Secret
/// <c>Kaniko:RegistrySecretName</c>, read for each index push (a rotated Secret takes effect at once). Requests go through
/// the <see cref="RegistryResilience.PipelineName"/> pipeline; connection resets are counted with phase <c>index</c>.
/// </summary>
public sealed class IndexPublisher(
    IKubernetes kubernetes,
    IOptions<RegistryClientOptions> registryOptions,
    IOptions<KanikoPodOptions> kanikoOptions,
    ResiliencePipelineProvider<string> pipelines,
    IRegistryResetObserver resets,
    ILogger<IndexPublisher> logger)
{
    /// <summary>The Secret key Kubernetes' <c>kubernetes.io/dockerconfigjson</c> Secrets keep the config.json under.</summary>
    public const string DockerConfigKey = ".dockerconfigjson";

    /// <summary>Joins <paramref name="images"/> into one index pushed to every one of <paramref name="destinations"/>;
    /// throws <see cref="RegistryException"/> (or a network error) when the registry refuses or cannot be reached.</summary>
    public async Task<IndexPushResult> PushAsync(IReadOnlyList<string> destinations, IReadOnlyList<PlatformImage> images, CancellationToken ct)
    {
        var credentials = await CredentialsAsync(ct).ConfigureAwait(false);
        var pipeline = pipelines.GetPipeline<HttpResponseMessage>(RegistryResilience.PipelineName);
        using var client = new RegistryClient(registryOptions.Value, credentials, pipeline, resets);
        return await client.PushIndexAsync(destinations, Manifests(images), IndexFormat.Auto, ct).ConfigureAwait(false);
    }

    /// <summary>The index entries for the per-platform images, in their order (the index's order). Pure.</summary>
    public static IReadOnlyList<PlatformManifest> Manifests(IReadOnlyList<PlatformImage> images)
    {
        ArgumentNullException.ThrowIfNull(images);
        var manifests = new List<PlatformManifest>(images.Count);
        for (var i = 0; i < images.Count; i++)
        {
            if (!OciPlatform.TryParse(images[i].Platform, out var platform, out var error))
            {
                throw new ArgumentException($"images[{i}].platform: {error}", nameof(images));
            }
            manifests.Add(new PlatformManifest(platform, OciDigest.Require(images[i].Digest, $"images[{i}].digest")));
        }
        return manifests;
    }

    /// <summary>
    /// The failure reason and detail of an index push that threw. Pure. 401/403 are <c>unauthorized</c> (permanent);
    /// 429 and 5xx <c>registry_unavailable</c>; a connection reset <c>connection_reset</c>; other network errors and
    /// timeouts <c>network_error</c>; anything else the registry refused (a manifest missing, a digest mismatch) <c>unknown</c>.
    /// </summary>
    public static (string Reason, string Detail) Classify(Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var reason = error switch
        {
            RegistryException { StatusCode: 401 or 403 } => FailureReasons.Unauthorized,
            RegistryException { StatusCode: 429 or >= 500 } => FailureReasons.RegistryUnavailable,
            _ when RegistryClient.IsConnectionReset(error) => FailureReasons.ConnectionReset,
            HttpRequestException or TimeoutException or IOException or Polly.Timeout.TimeoutRejectedException => FailureReasons.NetworkError,
            _ => FailureReasons.Unknown,
        };
        return (reason, "pushing the image index: " + error.Message);
    }

    /// <summary>True for the errors <see cref="Classify"/> knows (the index push failed, the build fails); others are bugs.</summary>
    public static bool IsPushFailure(Exception error) =>
        error is RegistryException or HttpRequestException or TimeoutException or IOException or Polly.Timeout.TimeoutRejectedException;

    private async Task<DockerConfig> CredentialsAsync(CancellationToken ct)
    {
        var kaniko = kanikoOptions.Value;
        if (string.IsNullOrEmpty(kaniko.RegistrySecretName))
        {
            return DockerConfig.Empty;
        }
        k8s.Models.V1Secret secret;
        try
        {
            secret = await kubernetes.CoreV1.ReadNamespacedSecretAsync(kaniko.RegistrySecretName, kaniko.Namespace, cancellationToken: ct).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            // The pods run without it too (the volume is optional): anonymous, as they push.
            logger.LogWarning("registry Secret {Namespace}/{Secret} not found: pushing the image index without credentials", kaniko.Namespace,
                kaniko.RegistrySecretName);
            return DockerConfig.Empty;
        }
        if (secret.Data?.TryGetValue(DockerConfigKey, out var json) != true || json is null)
        {
            logger.LogWarning("registry Secret {Namespace}/{Secret} has no {Key}: pushing the image index without credentials", kaniko.Namespace,
                kaniko.RegistrySecretName, DockerConfigKey);
            return DockerConfig.Empty;
        }
        var where = $"registry Secret {kaniko.Namespace}/{kaniko.RegistrySecretName} key {DockerConfigKey}";
        if (json.Length > DockerConfig.MaxBytes)
        {
            throw new RegistryException($"{where}: larger than {DockerConfig.MaxBytes} bytes", statusCode: 401);
        }
        return DockerConfig.TryParse(json, out var config, out var error) ? config : throw new RegistryException($"{where}: {error}", statusCode: 401);
    }
}

/// <summary>Counts the registry client's connection resets in <c>buildfarm_connection_resets_total{phase, registry}</c>.</summary>
public sealed class RegistryResetMetrics(BuildFarmMetrics metrics) : IRegistryResetObserver
{
    public void ConnectionReset(string registry, string phase) => metrics.RecordConnectionReset(phase, registry);
}
