using System.Globalization;
using System.Net;
using BuildFarm.Contracts;
using BuildFarm.Kaniko.Classification;
using BuildFarm.Kaniko.Pods;
using BuildFarm.Worker.Builds;
using BuildFarm.Worker.Resilience;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Registry;

namespace BuildFarm.Worker.Pods;

/// <summary>The attempt's pod once it exists (<see cref="Adopted"/>: it existed already), or why the API will never accept it.</summary>
public sealed record PodCreation(V1Pod? Pod, bool Adopted, FailureClassification? Rejection);

/// <summary>
/// The Kubernetes side of a build's attempts, one pod each: build the pod, create or adopt it (waiting out a full
/// ResourceQuota through the <see cref="WorkerPipelines.QuotaWait"/> pipeline), delete it, list the attempt pods a
/// build left, where a redelivered build resumes, and the pods of a build found already completed.
/// </summary>
public sealed class AttemptPods(
    IKubernetes kubernetes,
    PodWatcher watcher,
    AttemptLogStreamer logs,
    ResiliencePipelineProvider<string> pipelines,
    IOptions<KanikoPodOptions> kanikoOptions,
    TimeProvider time,
    ILogger<AttemptPods> logger)
{
    private readonly KanikoPodOptions _kaniko = kanikoOptions.Value;
    private readonly ResiliencePipeline _quotaWait = pipelines.GetPipeline(WorkerPipelines.QuotaWait);

    /// <summary>The attempt's pod spec (for <paramref name="platform"/> of a multi-platform build when not null); the
    /// build's deadline also bounds the pod (the kubelet stops it even if this worker is gone). <paramref name="memory"/>:
    /// the memory in place of the spec's own (learned, or raised after an OOM kill), null for its own.</summary>
    public V1Pod Prepare(BuildImage command, int attempt, string buildKey, string? platform = null, PodMemory? memory = null)
    {
        ArgumentNullException.ThrowIfNull(command);
        var pod = platform is null
            ? KanikoPodFactory.Create(command.Spec, command.BuildId, attempt, _kaniko, buildKey, memory)
            : KanikoPodFactory.CreateForPlatform(command.Spec, command.BuildId, platform, attempt, _kaniko, buildKey, memory);
        if (command.Deadline is { } deadline)
        {
            var remaining = (long)Math.Ceiling(Math.Max(1, (deadline - time.GetUtcNow()).TotalSeconds));
            pod.Spec.ActiveDeadlineSeconds = Math.Min(pod.Spec.ActiveDeadlineSeconds ?? long.MaxValue, remaining);
        }
        return pod;
    }

    /// <summary>
    /// Creates the attempt's pod, or adopts it when it exists already (a redelivered message, a crashed worker's build).
    /// A full ResourceQuota is waited out (until the pod is created, the build is cancelled or its deadline passes); a
    /// pod the API will never accept ends the attempt with a permanent <c>unknown</c> naming the API's answer (no pod);
    /// a refusal caused by the farm's own set-up throws <see cref="FarmMisconfiguredException"/> (the message goes back
    /// to the queue).
    /// </summary>
    public async Task<PodCreation> CreateOrAdoptAsync(V1Pod pod, string buildId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(pod);
        var quotaWaits = 0;
        var creation = await _quotaWait.UntilAsync(async token =>
        {
            var attempt = await TryCreateOrAdoptAsync(pod, buildId, quotaWaits == 0, token).ConfigureAwait(false);
            if (attempt is null)
            {
                quotaWaits++;
                return Polled<PodCreation>.NotYet(null!);
            }
            return Polled<PodCreation>.Finished(attempt);
        }, ct).ConfigureAwait(false);
        if (quotaWaits > 0 && creation.Pod is not null && !creation.Adopted)
        {
            logger.LogInformation("build {Build}: pod {Pod} created after {Waits} quota refusals", buildId, pod.Metadata.Name, quotaWaits);
        }
        return creation;
    }

    /// <summary>One try; null when the namespace's quota is full.</summary>
    private async Task<PodCreation?> TryCreateOrAdoptAsync(V1Pod pod, string buildId, bool firstTry, CancellationToken ct)
    {
        var name = pod.Metadata.Name;
        var ns = _kaniko.Namespace;
        while (true)
        {
            try
            {
                return new PodCreation(await kubernetes.CoreV1.CreateNamespacedPodAsync(pod, ns, cancellationToken: ct).ConfigureAwait(false), false, null);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
            {
                try
                {
                    var existing = await kubernetes.CoreV1.ReadNamespacedPodAsync(name, ns, cancellationToken: ct).ConfigureAwait(false);
                    logger.LogInformation("build {Build}: adopted existing pod {Pod}", buildId, name);
                    return new PodCreation(existing, true, null);
                }
                catch (HttpOperationException gone) when (gone.Response.StatusCode == HttpStatusCode.NotFound)
                {
                    // Deleted between the two requests (its grace period ended): create it again.
                    logger.LogInformation("build {Build}: pod {Pod} existed, then was gone; creating it again", buildId, name);
                }
            }
            catch (HttpOperationException e) when (PodCreateRefusals.Classify(e.Response.StatusCode, PodCreateRefusals.StatusMessage(e.Response.Content)) is
                var refusal and not PodCreateRefusal.None)
            {
                var message = PodCreateRefusals.StatusMessage(e.Response.Content) ?? e.Message;
                var answer = $"{(int)e.Response.StatusCode} {e.Response.StatusCode}: {message}";
                switch (refusal)
                {
                    case PodCreateRefusal.WaitForCapacity:
                        if (firstTry)
                        {
                            logger.LogInformation("build {Build}: the namespace's quota is full ({Answer}); waiting for capacity", buildId, message);
                        }
                        return null;
                    case PodCreateRefusal.FarmMisconfigured:
                        throw new FarmMisconfiguredException($"the Kubernetes API refused to create pod {name} in namespace {ns}: {answer}", e);
                    default:
                        logger.LogWarning("build {Build}: the Kubernetes API refused pod {Pod}: {Answer}", buildId, name, answer);
                        return new PodCreation(null, false, new FailureClassification(false, FailureReasons.Unknown, false,
                            $"the Kubernetes API refused the build's pod {name}: {answer}") { Rule = "pod-rejected" });
                }
            }
        }
    }

    /// <summary>Deletes the pod (no grace period) and drops the watcher's copy; gone already is fine, other errors are logged.</summary>
    public async Task DeleteAsync(string? name, CancellationToken ct)
    {
        if (name is null)
        {
            return;
        }
        try
        {
            var deleted = await kubernetes.CoreV1.DeleteNamespacedPodAsync(name, _kaniko.Namespace, gracePeriodSeconds: 0, cancellationToken: ct).ConfigureAwait(false);
            // This build never waits for the pod again: the watcher keeps no copy of it.
            watcher.Release(name, deleted?.Metadata?.Uid);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            // Already gone.
        }
        catch (Exception e) when (e is HttpOperationException or HttpRequestException or IOException)
        {
            logger.LogWarning("could not delete pod {Pod}: {Error}", name, e.Message);
        }
    }

    /// <summary>The attempt pods of <paramref name="buildId"/> that exist, with their attempt numbers (one list request by
    /// the build-id label); with <paramref name="platform"/>, only that platform's pods of a multi-platform build (by the
    /// <c>buildfarm.io/platform</c> annotation).</summary>
    public async Task<List<(V1Pod Pod, int Attempt)>> ListAsync(string buildId, CancellationToken ct, string? platform = null)
    {
        var pods = await kubernetes.CoreV1.ListNamespacedPodAsync(_kaniko.Namespace,
            labelSelector: $"{KanikoPodLabels.BuildId}={KanikoPodNames.LabelValue(buildId)}", cancellationToken: ct).ConfigureAwait(false);
        var found = new List<(V1Pod, int)>();
        foreach (var pod in pods.Items)
        {
            var annotations = pod.Metadata?.Annotations;
            var labels = pod.Metadata?.Labels;
            // The label may be a shortened value: the annotation holds the full build id. Debug pods are not attempts.
            if ((annotations?.TryGetValue(KanikoPodLabels.BuildId, out var id) == true && id != buildId)
                || labels?.ContainsKey(KanikoPodLabels.Debug) == true)
            {
                continue;
            }
            if (platform is not null && (annotations?.TryGetValue(KanikoPodLabels.Platform, out var podPlatform) != true || podPlatform != platform))
            {
                continue;
            }
            if (labels?.TryGetValue(KanikoPodLabels.Attempt, out var text) == true
                && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var attempt))
            {
                found.Add((pod, attempt));
            }
        }
        return found;
    }

    /// <summary>
    /// The newest attempt whose pod exists for a redelivered build (one list request by the build-id label), or 1: the
    /// attempts continue there (adopting that pod by name) instead of walking from 1 through finished attempts. Also
    /// the connection resets of the earlier attempts, read again from the logs of their pods (kept for
    /// KeepFailedPodsFor), so that the build's count stays over all attempts.
    /// </summary>
    public async Task<(int Newest, int EarlierResets)> ResumePointAsync(BuildImage command, CancellationToken ct, string? platform = null)
    {
        ArgumentNullException.ThrowIfNull(command);
        var existing = await ListAsync(command.BuildId, ct, platform).ConfigureAwait(false);
        var newest = existing.Count == 0 ? 1 : Math.Max(1, existing.Max(p => p.Attempt));
        var resets = 0;
        foreach (var (pod, _) in existing.Where(p => p.Attempt < newest))
        {
            resets += (await logs.ReadAsync(pod, command.Spec.Destinations, ct).ConfigureAwait(false))?.TotalResets ?? 0;
        }
        if (newest > 1)
        {
            logger.LogInformation("build {Build}: redelivered; continuing at attempt {Attempt}{Platform}, the newest pod ({Resets} connection resets in earlier attempts)",
                command.BuildId, newest, platform is null ? "" : " of " + platform, resets);
        }
        return (newest, resets);
    }

    /// <summary>
    /// For a build found already completed: deletes its pods that did not fail (failed ones stay for debugging until the
    /// janitor's KeepFailedPodsFor), reading the succeeded pod's log first. Returns that log's phase seconds and the
    /// succeeded attempt's number (empty and 0 when the pod is gone already).
    /// </summary>
    public async Task<(Dictionary<string, double> PhaseSeconds, int Attempts)> ClearSucceededAsync(BuildImage command, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(command);
        var phaseSeconds = new Dictionary<string, double>(StringComparer.Ordinal);
        var attempts = 0;
        foreach (var (pod, attempt) in await ListAsync(command.BuildId, ct).ConfigureAwait(false))
        {
            if (pod.Status?.Phase == "Failed")
            {
                continue;
            }
            if (pod.Status?.Phase == "Succeeded" && attempt > attempts)
            {
                phaseSeconds = BuildEvents.PhaseSeconds(await logs.ReadAsync(pod, command.Spec.Destinations, ct).ConfigureAwait(false));
                attempts = attempt;
            }
            logger.LogInformation("build {Build}: already completed; deleting its pod {Pod} left behind", command.BuildId, pod.Metadata.Name);
            await DeleteAsync(pod.Metadata.Name, ct).ConfigureAwait(false);
        }
        return (phaseSeconds, attempts);
    }
}
