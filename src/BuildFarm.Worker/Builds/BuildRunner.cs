using System.Net;
using BuildFarm.Contracts;
using BuildFarm.Coordination;
using BuildFarm.Kaniko;
using BuildFarm.Kaniko.Classification;
using BuildFarm.Kaniko.Logs;
using BuildFarm.Kaniko.Pods;
using BuildFarm.Kaniko.Specs;
using BuildFarm.Worker.Metrics;
using BuildFarm.Worker.Options;
using BuildFarm.Worker.Pods;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Options;

namespace BuildFarm.Worker.Builds;

/// <summary>How a build ended on this worker.</summary>
/// <param name="Outcome"><c>succeeded</c>, <c>failed</c>, <c>cancelled</c> or <c>deduplicated</c>.</param>
/// <param name="Reason">The failure reason when not succeeded.</param>
/// <param name="Digest">The pushed digest when succeeded or deduplicated.</param>
/// <param name="Attempts">Pods this build ran (0 when deduplicated or invalid).</param>
public sealed record BuildRunOutcome(string Outcome, string? Reason, string? Digest, int Attempts);

/// <summary>The destination lock was lost while the build ran: success is not published, the message goes back to the queue.</summary>
public sealed class LeaseLostException(string message) : Exception(message);

/// <summary>
/// The Kubernetes API refused a pod because of the farm's own set-up (the worker's RBAC, a missing namespace, its
/// credentials), not because of the build: the message goes back to the queue until an operator fixes it.
/// </summary>
public sealed class FarmMisconfiguredException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// Runs one build, all attempts (docs/architecture.md "Flow"): validate → dedupe → destination locks → registry slots →
/// attempts (one pod each, shared watch, streamed log analysis, classification, backoff) → events and metrics.
/// Testable without MassTransit: all I/O is behind <see cref="IKubernetes"/>, the coordination interfaces,
/// <see cref="PodWatcher"/> and <see cref="IBuildEventPublisher"/>.
/// </summary>
public sealed class BuildRunner(
    IKubernetes kubernetes,
    PodWatcher watcher,
    IBuildDedupe dedupe,
    IDestinationLocks locks,
    IRegistrySlots slots,
    ICancelRequests cancelRequests,
    BuildFarmMetrics metrics,
    IOptions<WorkerOptions> workerOptions,
    IOptions<KanikoPodOptions> kanikoOptions,
    TimeProvider time,
    ILogger<BuildRunner> logger)
{
    private static readonly string[] StuckWaitingReasons =
        ["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError", "CreateContainerError"];

    private readonly WorkerOptions _options = workerOptions.Value;
    private readonly KanikoPodOptions _kaniko = kanikoOptions.Value;

    /// <summary>
    /// Runs <paramref name="command"/> to its end and publishes its events. Returns normally when the build ended
    /// (succeeded, failed, cancelled, deduplicated). Throws <see cref="OperationCanceledException"/> when
    /// <paramref name="stopping"/> fires (worker shutdown: pods and leases are left for the redelivered message) and
    /// <see cref="LeaseLostException"/> when the fencing check fails. <paramref name="redelivered"/>: the message was seen
    /// before (a crashed or stopped worker, a retry): the attempts continue from the newest existing attempt pod.
    /// </summary>
    public async Task<BuildRunOutcome> RunAsync(BuildImage command, IBuildEventPublisher events, BuildCancellation cancellation, CancellationToken stopping,
        bool redelivered = false)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(cancellation);
        var started = time.GetUtcNow();
        if (command.SubmittedAt != default)
        {
            metrics.RecordQueueWait(started - command.SubmittedAt);
        }
        metrics.BuildStarted();
        try
        {
            var outcome = await RunCoreAsync(command, events, cancellation, redelivered, stopping).ConfigureAwait(false);
            metrics.RecordBuild(outcome.Outcome, time.GetUtcNow() - started);
            return outcome;
        }
        finally
        {
            metrics.BuildEnded();
        }
    }

    private async Task<BuildRunOutcome> RunCoreAsync(BuildImage command, IBuildEventPublisher events, BuildCancellation cancellation, bool redelivered,
        CancellationToken stopping)
    {
        // Resource maxima are the API's to enforce (Api:MaxResources); here only each quantity's form and size are checked.
        var validation = BuildSpecValidator.Validate(command.Spec, new BuildSpecValidationOptions { AllowedDestinations = _options.AllowedDestinations, MaxResources = null });
        if (!validation.IsValid)
        {
            var detail = "invalid build spec: " + string.Join("; ", validation.Errors);
            await events.PublishAsync(new BuildFailed
            {
                BuildId = command.BuildId, BatchId = command.BatchId, Reason = FailureReasons.DockerfileInvalid, Detail = detail, Attempts = 0, At = time.GetUtcNow(),
            }, stopping).ConfigureAwait(false);
            return new BuildRunOutcome("failed", FailureReasons.DockerfileInvalid, null, 0);
        }
        if (await WorkerPreflight.CheckAsync(command.Spec, _options.AllowedContextRoots, _options.MaxDockerfileBytes, stopping).ConfigureAwait(false) is { } rejection)
        {
            // A dir:// context outside Worker:AllowedContextRoots, or a Dockerfile the worker can read that would break
            // Kaniko or is invalid: no pod, no retry.
            await events.PublishAsync(new BuildFailed
            {
                BuildId = command.BuildId, BatchId = command.BatchId, Reason = rejection.Reason, Detail = rejection.Detail, Attempts = 0, At = time.GetUtcNow(),
            }, stopping).ConfigureAwait(false);
            return new BuildRunOutcome("failed", rejection.Reason, null, 0);
        }

        var buildKey = BuildKey.Compute(command.Spec, _kaniko.ExecutorImage);
        var destinations = command.Spec.Destinations.Select(d => d.Trim()).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var registries = destinations.Select(d => ImageReference.Parse(d).RegistryHost).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();

        using var deadline = DeadlineSource(command.Deadline, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stopping, cancellation.Token, deadline.Token);
        var ct = linked.Token;
        var state = new RunState(command, buildKey, registries[0]);
        var heldLocks = new List<Lease>();
        var heldSlots = new List<Lease>();
        var releaseLeases = true;
        var claimed = false;
        try
        {
            // A CancelBuild that arrived while the build was still queued left a marker. Looked up together with the
            // dedupe claim: the client pipelines the two into one round trip.
            var marker = cancelRequests.FindAsync(command.BuildId, ct);
            var firstClaim = dedupe.ClaimAsync(buildKey, command.BuildId, _options.LeaseTtl, ct);
            await Task.WhenAll(marker, firstClaim).ConfigureAwait(false);
            claimed = firstClaim.Result.State == DedupeState.Claimed;
            CancelIfRequested(marker.Result, cancellation, ct);
            var claim = await ClaimOrWaitAsync(state, events, firstClaim.Result, ct).ConfigureAwait(false);
            if (claim is not null)
            {
                return claim;
            }
            claimed = true;
            foreach (var destination in destinations)
            {
                heldLocks.Add(await AcquireAsync(() => locks.TryAcquireAsync(destination, command.BuildId, _options.LeaseTtl, ct), ct).ConfigureAwait(false));
            }
            foreach (var registry in registries)
            {
                heldSlots.Add(await AcquireAsync(() => slots.TryAcquireAsync(registry, command.BuildId, _options.RegistrySlotLimit, _options.LeaseTtl, ct), ct).ConfigureAwait(false));
            }
            using var renewStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var renewal = RenewLeasesAsync(state, heldLocks, heldSlots, renewStop.Token);
            try
            {
                var (firstAttempt, earlierResets) = redelivered ? await ResumePointAsync(command, ct).ConfigureAwait(false) : (1, 0);
                return await RunAttemptsAsync(state, events, heldLocks, cancellation, firstAttempt, earlierResets, ct).ConfigureAwait(false);
            }
            finally
            {
                await renewStop.CancelAsync().ConfigureAwait(false);
                await renewal.ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested && (cancellation.IsCancellationRequested || deadline.IsCancellationRequested))
        {
            // Cancelled on request or past the deadline: end the build here.
            var cancelled = cancellation.IsCancellationRequested;
            var attemptRunning = state.CurrentPod is not null;
            await DeletePodAsync(state.CurrentPod, CancellationToken.None).ConfigureAwait(false);
            if (claimed)
            {
                await dedupe.AbandonAsync(buildKey, command.BuildId, CancellationToken.None).ConfigureAwait(false);
            }
            if (cancelled)
            {
                if (attemptRunning)
                {
                    metrics.RecordAttempt("cancelled", FailureReasons.Cancelled, state.PushRegistry);
                }
                await events.PublishAsync(new BuildCancelled
                {
                    BuildId = command.BuildId, BatchId = command.BatchId, RequestedBy = cancellation.RequestedBy, Attempts = state.Attempt, At = time.GetUtcNow(),
                }, CancellationToken.None).ConfigureAwait(false);
                return new BuildRunOutcome("cancelled", FailureReasons.Cancelled, null, state.Attempt);
            }
            if (attemptRunning)
            {
                metrics.RecordAttempt("failed", FailureReasons.DeadlineExceeded, state.PushRegistry);
            }
            await events.PublishAsync(new BuildFailed
            {
                BuildId = command.BuildId, BatchId = command.BatchId, Reason = FailureReasons.DeadlineExceeded,
                Detail = $"the build's deadline {command.Deadline:O} passed", Attempts = state.Attempt, At = time.GetUtcNow(),
            }, CancellationToken.None).ConfigureAwait(false);
            return new BuildRunOutcome("failed", FailureReasons.DeadlineExceeded, null, state.Attempt);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Shutdown: the message goes back to the queue; the redelivered build adopts the pod by name and takes
            // its own (re-entrant) leases back. Releasing them here would let another build push the destination.
            releaseLeases = false;
            throw;
        }
        finally
        {
            if (releaseLeases)
            {
                // All at once: the Redis client pipelines them into one round trip.
                await Task.WhenAll(heldLocks.Select(lease => ReleaseAsync(lease, locks.ReleaseAsync))
                    .Concat(heldSlots.Select(lease => ReleaseAsync(lease, slots.ReleaseAsync)))).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Null when this build holds the claim and must build; otherwise the deduplicated outcome.</summary>
    private async Task<BuildRunOutcome?> ClaimOrWaitAsync(RunState state, IBuildEventPublisher events, DedupeClaim claim, CancellationToken ct)
    {
        var command = state.Command;
        if (claim.State == DedupeState.Claimed)
        {
            return null;
        }
        if (claim.State == DedupeState.Completed && claim.BuildId == command.BuildId)
        {
            // This very build already succeeded (its worker died after completing, before the ack): report it again,
            // not as a duplicate of itself, and build nothing. That worker may have died before deleting the succeeded
            // pod: its log gives the phase seconds again, then it is deleted here.
            var (phaseSeconds, attempts) = await ClearSucceededPodsAsync(command, ct).ConfigureAwait(false);
            await events.PublishAsync(new BuildSucceeded
            {
                BuildId = command.BuildId, BatchId = command.BatchId, Digest = claim.Digest!,
                Pushed = [.. command.Spec.Destinations.Select(d => $"{ImageReference.Parse(d.Trim()).Name}@{claim.Digest}")],
                PhaseSeconds = phaseSeconds, Attempts = attempts, At = time.GetUtcNow(),
            }, ct).ConfigureAwait(false);
            return new BuildRunOutcome("succeeded", null, claim.Digest, attempts);
        }
        var kind = claim.State == DedupeState.InFlight ? "in_flight" : "completed";
        var original = claim.BuildId;
        var poll = _options.WaitPollMin;
        while (claim.State == DedupeState.InFlight)
        {
            // The identical build runs elsewhere: poll its claim. When it succeeds the key turns Completed; when it
            // fails or is cancelled the claim is dropped and the next ClaimAsync makes this build run itself.
            await Task.Delay(poll, time, ct).ConfigureAwait(false);
            poll = Min(poll * 2, _options.WaitPollMax);
            claim = await dedupe.ClaimAsync(state.BuildKey, command.BuildId, _options.LeaseTtl, ct).ConfigureAwait(false);
        }
        if (claim.State == DedupeState.Claimed)
        {
            logger.LogInformation("build {Build}: identical build {Original} did not succeed; building", command.BuildId, original);
            return null;
        }
        metrics.RecordDedupeHit(kind);
        var now = time.GetUtcNow();
        await events.PublishAsync(new BuildDeduplicated
        {
            BuildId = command.BuildId, BatchId = command.BatchId, OriginalBuildId = claim.BuildId, Kind = kind, Digest = claim.Digest, At = now,
        }, ct).ConfigureAwait(false);
        await events.PublishAsync(new BuildSucceeded
        {
            BuildId = command.BuildId, BatchId = command.BatchId, Digest = claim.Digest!,
            Pushed = [.. command.Spec.Destinations.Select(d => $"{ImageReference.Parse(d.Trim()).Name}@{claim.Digest}")], Attempts = 0, At = now,
        }, ct).ConfigureAwait(false);
        return new BuildRunOutcome("deduplicated", null, claim.Digest, 0);
    }

    private async Task<Lease> AcquireAsync(Func<Task<Lease?>> tryAcquire, CancellationToken ct)
    {
        var poll = _options.WaitPollMin;
        while (true)
        {
            if (await tryAcquire().ConfigureAwait(false) is { } lease)
            {
                return lease;
            }
            await Task.Delay(poll, time, ct).ConfigureAwait(false);
            poll = Min(poll * 2, _options.WaitPollMax);
        }
    }

    private async Task RenewLeasesAsync(RunState state, List<Lease> heldLocks, List<Lease> heldSlots, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.LeaseRenewInterval, time, ct).ConfigureAwait(false);
                if (!await dedupe.RenewAsync(state.BuildKey, state.Command.BuildId, _options.LeaseTtl, ct).ConfigureAwait(false))
                {
                    logger.LogWarning("build {Build}: dedupe claim lost", state.Command.BuildId);
                }
                // The attempts release the locks as their fencing check, while this loop may run: it works on a copy,
                // and a lock released meanwhile is not reported as lost.
                Lease[] current;
                lock (heldLocks)
                {
                    current = [.. heldLocks];
                }
                foreach (var lease in current)
                {
                    if (!await locks.RenewAsync(lease, _options.LeaseTtl, ct).ConfigureAwait(false) && Holds(heldLocks, lease))
                    {
                        logger.LogWarning("build {Build}: lock on {Resource} lost", state.Command.BuildId, lease.Resource);
                    }
                }
                foreach (var lease in heldSlots)
                {
                    if (!await slots.RenewAsync(lease, _options.LeaseTtl, ct).ConfigureAwait(false))
                    {
                        logger.LogWarning("build {Build}: registry slot on {Resource} lost", state.Command.BuildId, lease.Resource);
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // The build ended.
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A renewal error (Redis down) must not crash the build, and renewal goes on (Redis may return before the
                // leases expire). Success is only published after the fencing check, which fails if a lock was lost.
                logger.LogWarning("build {Build}: lease renewal failed: {Error}", state.Command.BuildId, e.Message);
            }
        }
    }

    private async Task<BuildRunOutcome> RunAttemptsAsync(RunState state, IBuildEventPublisher events, List<Lease> destinationLocks,
        BuildCancellation cancellation, int firstAttempt, int earlierResets, CancellationToken ct)
    {
        var command = state.Command;
        // Over all attempts: those of a previous delivery of this message (re-read from their pods) included.
        var resets = earlierResets;
        for (var attempt = firstAttempt; ; attempt++)
        {
            state.Attempt = attempt;
            var result = await RunAttemptAsync(state, events, ct).ConfigureAwait(false);
            var classification = result.Classification;
            if (result.Analysis is { } analysis)
            {
                resets += analysis.TotalResets;
                metrics.RecordAnalysis(analysis, state.PushRegistry, state.Command.Spec.CacheRepo);
            }
            if (classification.Succeeded && classification.Digest is { } digest)
            {
                // The fencing check is the lock's release: the push is over, and one round trip does both. A lock
                // released here is not released again when the build ends.
                while (TakeLast(destinationLocks) is { } lease)
                {
                    if (!await locks.ReleaseAsync(lease, ct).ConfigureAwait(false))
                    {
                        throw new LeaseLostException($"build {command.BuildId}: the lock on {lease.Resource} was lost before success was published");
                    }
                }
                await dedupe.CompleteAsync(state.BuildKey, command.BuildId, digest, _options.DedupeCompletedTtl, ct).ConfigureAwait(false);
                metrics.RecordAttempt("succeeded", "none", state.PushRegistry);
                await events.PublishAsync(new BuildSucceeded
                {
                    BuildId = command.BuildId, BatchId = command.BatchId, Digest = digest,
                    Pushed = result.Analysis is { Pushed.Count: > 0 } a
                        ? [.. a.Pushed.Select(p => $"{p.Image}@{p.Digest}")]
                        : [.. command.Spec.Destinations.Select(d => $"{ImageReference.Parse(d.Trim()).Name}@{digest}")],
                    PhaseSeconds = PhaseSeconds(result.Analysis),
                    Attempts = attempt, Resets = resets, At = time.GetUtcNow(),
                }, ct).ConfigureAwait(false);
                // Deleted last: if anything above fails (Redis, the bus) before the completion, the retried message
                // adopts this succeeded pod and reports the same digest instead of building again; after it, the retried
                // message finds the key completed and deletes the pod itself (ClearSucceededPodsAsync). The janitor
                // deletes one nobody came back for after KeepSucceededPodsFor.
                await DeletePodAsync(state.CurrentPod, ct).ConfigureAwait(false);
                state.CurrentPod = null;
                return new BuildRunOutcome("succeeded", null, digest, attempt);
            }

            var reason = classification.Succeeded ? FailureReasons.Unknown : classification.Reason ?? FailureReasons.Unknown;
            var detail = classification.Succeeded ? "the container exited 0 without reporting a digest" : classification.Detail;
            var retry = !classification.Succeeded && classification.Transient && attempt < _options.MaxAttempts;
            metrics.RecordAttempt("failed", reason, state.PushRegistry);
            var delay = retry ? RetryBackoff.Delay(attempt, _options.BackoffBase, _options.MaxBackoff, Random.Shared.NextDouble()) : TimeSpan.Zero;
            var now = time.GetUtcNow();
            await events.PublishAsync(new BuildAttemptFailed
            {
                BuildId = command.BuildId, BatchId = command.BatchId, Attempt = attempt, Reason = reason,
                Transient = FailureReasons.IsTransient(reason), RetryAt = retry ? now + delay : null, Detail = detail, Resets = resets, At = now,
            }, ct).ConfigureAwait(false);
            if (result.Stuck)
            {
                // A pod that never started (image pull, config error) would wait forever: delete it now.
                await DeletePodAsync(state.CurrentPod, ct).ConfigureAwait(false);
            }
            // The failed pod is kept for debugging; the PodWatcher's janitor deletes it after KeepFailedPodsFor.
            state.CurrentPod = null;
            if (!retry)
            {
                await dedupe.AbandonAsync(state.BuildKey, command.BuildId, ct).ConfigureAwait(false);
                await events.PublishAsync(new BuildFailed
                {
                    BuildId = command.BuildId, BatchId = command.BatchId, Reason = reason, Detail = detail, Attempts = attempt, At = time.GetUtcNow(),
                }, ct).ConfigureAwait(false);
                return new BuildRunOutcome("failed", reason, null, attempt);
            }
            logger.LogInformation("build {Build}: attempt {Attempt} failed ({Reason}); retrying in {Delay}", command.BuildId, attempt, reason, delay);
            await Task.Delay(delay, time, ct).ConfigureAwait(false);
            await ThrowIfCancelRequestedAsync(command.BuildId, cancellation, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Cancels the build (through the usual cancellation path) when a CancelBuild left a marker for it.</summary>
    private async Task ThrowIfCancelRequestedAsync(string buildId, BuildCancellation cancellation, CancellationToken ct) =>
        CancelIfRequested(await cancelRequests.FindAsync(buildId, ct).ConfigureAwait(false), cancellation, ct);

    private static void CancelIfRequested(CancelRequest? request, BuildCancellation cancellation, CancellationToken ct)
    {
        if (request is not null)
        {
            cancellation.Cancel(request.RequestedBy);
            ct.ThrowIfCancellationRequested();
        }
    }

    /// <summary>
    /// The newest attempt whose pod exists for a redelivered build (one list request by the build-id label), or 1: the
    /// attempts continue there (adopting that pod by name) instead of walking from 1 through finished attempts. Also
    /// the connection resets of the earlier attempts, read again from the logs of their pods (kept for
    /// KeepFailedPodsFor), so that the build's count stays over all attempts.
    /// </summary>
    private async Task<(int Newest, int EarlierResets)> ResumePointAsync(BuildImage command, CancellationToken ct)
    {
        var pods = await AttemptPodsAsync(command.BuildId, ct).ConfigureAwait(false);
        var newest = pods.Count == 0 ? 1 : Math.Max(1, pods.Max(p => p.Attempt));
        var resets = 0;
        foreach (var (pod, _) in pods.Where(p => p.Attempt < newest))
        {
            var options = new KanikoLogAnalyzerOptions { Destinations = command.Spec.Destinations, ContainerStartedAt = ContainerStartedAt(pod) };
            resets += (await StreamLogAsync(pod.Metadata.Name, _kaniko.Namespace, options, follow: false, ct).ConfigureAwait(false))?.TotalResets ?? 0;
        }
        if (newest > 1)
        {
            logger.LogInformation("build {Build}: redelivered; continuing at attempt {Attempt}, the newest pod ({Resets} connection resets in earlier attempts)",
                command.BuildId, newest, resets);
        }
        return (newest, resets);
    }

    /// <summary>The attempt pods of <paramref name="buildId"/> that exist, with their attempt numbers (one list request by the build-id label).</summary>
    private async Task<List<(V1Pod Pod, int Attempt)>> AttemptPodsAsync(string buildId, CancellationToken ct)
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
            if (labels?.TryGetValue(KanikoPodLabels.Attempt, out var text) == true
                && int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var attempt))
            {
                found.Add((pod, attempt));
            }
        }
        return found;
    }

    /// <summary>
    /// For a build found already completed: deletes its pods that did not fail (failed ones stay for debugging until the
    /// janitor's KeepFailedPodsFor), reading the succeeded pod's log first. Returns that log's phase seconds and the
    /// succeeded attempt's number (empty and 0 when the pod is gone already).
    /// </summary>
    private async Task<(Dictionary<string, double> PhaseSeconds, int Attempts)> ClearSucceededPodsAsync(BuildImage command, CancellationToken ct)
    {
        var phaseSeconds = new Dictionary<string, double>(StringComparer.Ordinal);
        var attempts = 0;
        foreach (var (pod, attempt) in await AttemptPodsAsync(command.BuildId, ct).ConfigureAwait(false))
        {
            if (pod.Status?.Phase == "Failed")
            {
                continue;
            }
            if (pod.Status?.Phase == "Succeeded" && attempt > attempts)
            {
                var options = new KanikoLogAnalyzerOptions { Destinations = command.Spec.Destinations, ContainerStartedAt = ContainerStartedAt(pod) };
                phaseSeconds = PhaseSeconds(await StreamLogAsync(pod.Metadata.Name, _kaniko.Namespace, options, follow: false, ct).ConfigureAwait(false));
                attempts = attempt;
            }
            logger.LogInformation("build {Build}: already completed; deleting its pod {Pod} left behind", command.BuildId, pod.Metadata.Name);
            await DeletePodAsync(pod.Metadata.Name, ct).ConfigureAwait(false);
        }
        return (phaseSeconds, attempts);
    }

    /// <summary>The longest delay a .NET timer takes (<c>uint.MaxValue - 1</c> ms, about 49.7 days).</summary>
    internal static readonly TimeSpan MaxTimerDelay = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    /// <summary>
    /// A source cancelled at <paramref name="deadline"/>. A deadline further away than <see cref="MaxTimerDelay"/> gets no
    /// timer (one would throw, and no build is held that long: the API refuses deadlines past <c>Api:MaxDeadline</c>); the
    /// pod's <c>activeDeadlineSeconds</c> still carries it.
    /// </summary>
    internal static CancellationTokenSource DeadlineSource(DateTimeOffset? deadline, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        if (deadline is not { } at)
        {
            return new CancellationTokenSource();
        }
        var remaining = at - time.GetUtcNow();
        if (remaining > MaxTimerDelay)
        {
            return new CancellationTokenSource();
        }
        return new CancellationTokenSource(Max(remaining, TimeSpan.Zero), time);
    }

    private async Task<AttemptResult> RunAttemptAsync(RunState state, IBuildEventPublisher events, CancellationToken ct)
    {
        var command = state.Command;
        var pod = KanikoPodFactory.Create(command.Spec, command.BuildId, state.Attempt, _kaniko, state.BuildKey);
        if (command.Deadline is { } deadline)
        {
            // The build's deadline also bounds the pod: the kubelet stops it even if this worker is gone.
            var remaining = (long)Math.Ceiling(Math.Max(1, (deadline - time.GetUtcNow()).TotalSeconds));
            pod.Spec.ActiveDeadlineSeconds = Math.Min(pod.Spec.ActiveDeadlineSeconds ?? long.MaxValue, remaining);
        }
        var name = pod.Metadata.Name;
        var ns = _kaniko.Namespace;
        var (created, adopted, rejection) = await CreateOrAdoptAsync(pod, command.BuildId, ct).ConfigureAwait(false);
        if (created is null)
        {
            return new AttemptResult(rejection!, null, Stuck: false);
        }
        state.CurrentPod = name;
        var uid = created.Metadata.Uid;
        // Published while the pod starts (one broker round trip less on every build's path); it settles before the
        // attempt's outcome is known to anyone, so no later event of this build can overtake it.
        var startedEvent = events.PublishAsync(new BuildStarted
        {
            BuildId = command.BuildId, BatchId = command.BatchId, Attempt = state.Attempt, Pod = name, At = time.GetUtcNow(),
        }, ct);
        AttemptResult result;
        try
        {
            result = await FollowAttemptAsync(command, name, ns, uid, adopted, ct).ConfigureAwait(false);
        }
        catch
        {
            try
            {
                await startedEvent.ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The attempt's own error is the one to report.
            }
            throw;
        }
        await startedEvent.ConfigureAwait(false);
        return result;
    }

    /// <summary>
    /// Creates the attempt's pod, or adopts it when it exists already (a redelivered message, a crashed worker's build).
    /// A full ResourceQuota is waited out (polling with backoff, until the pod is created, the build is cancelled or its
    /// deadline passes); a pod the API will never accept ends the attempt with a permanent <c>unknown</c> naming the API's
    /// answer (no pod); a refusal caused by the farm's own set-up throws <see cref="FarmMisconfiguredException"/>
    /// (the message goes back to the queue).
    /// </summary>
    private async Task<(V1Pod? Pod, bool Adopted, FailureClassification? Rejection)> CreateOrAdoptAsync(V1Pod pod, string buildId, CancellationToken ct)
    {
        var name = pod.Metadata.Name;
        var ns = _kaniko.Namespace;
        var poll = _options.WaitPollMin;
        var quotaWaits = 0;
        while (true)
        {
            try
            {
                var created = await kubernetes.CoreV1.CreateNamespacedPodAsync(pod, ns, cancellationToken: ct).ConfigureAwait(false);
                if (quotaWaits > 0)
                {
                    logger.LogInformation("build {Build}: pod {Pod} created after {Waits} quota refusals", buildId, name, quotaWaits);
                }
                return (created, false, null);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
            {
                try
                {
                    var existing = await kubernetes.CoreV1.ReadNamespacedPodAsync(name, ns, cancellationToken: ct).ConfigureAwait(false);
                    logger.LogInformation("build {Build}: adopted existing pod {Pod}", buildId, name);
                    return (existing, true, null);
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
                        if (quotaWaits++ == 0)
                        {
                            logger.LogInformation("build {Build}: the namespace's quota is full ({Answer}); waiting for capacity", buildId, message);
                        }
                        // Jittered so that builds refused together do not all come back together.
                        await Task.Delay(poll * (0.5 + (Random.Shared.NextDouble() / 2)), time, ct).ConfigureAwait(false);
                        poll = Min(poll * 2, _options.WaitPollMax);
                        continue;
                    case PodCreateRefusal.FarmMisconfigured:
                        throw new FarmMisconfiguredException($"the Kubernetes API refused to create pod {name} in namespace {ns}: {answer}", e);
                    default:
                        logger.LogWarning("build {Build}: the Kubernetes API refused pod {Pod}: {Answer}", buildId, name, answer);
                        return (null, false, new FailureClassification(false, FailureReasons.Unknown, false,
                            $"the Kubernetes API refused the build's pod {name}: {answer}") { Rule = "pod-rejected" });
                }
            }
        }
    }

    /// <summary>An attempt after its pod exists: wait for the container, stream the log, wait for the end, classify.</summary>
    private async Task<AttemptResult> FollowAttemptAsync(BuildImage command, string name, string ns, string? uid, bool adopted,
        CancellationToken ct)
    {
        var startup = PodStartupClock.Start(time);
        V1Pod running;
        try
        {
            running = await watcher.WaitAsync(name, uid, startup.Until(p => IsStarted(p) || IsStuck(p)), ct).ConfigureAwait(false);
        }
        catch (PodGoneException gone)
        {
            return Classify(gone.LastSeen, null, stuck: false);
        }
        if (!IsStarted(running))
        {
            return Classify(running, null, stuck: true);
        }
        var containerStarted = ContainerStartedAt(running);
        if (!adopted)
        {
            metrics.RecordPodStartup(startup.Elapsed);
        }

        var analyzerOptions = new KanikoLogAnalyzerOptions { Destinations = command.Spec.Destinations, ContainerStartedAt = containerStarted };
        var analysis = await StreamLogAsync(name, ns, analyzerOptions, follow: true, ct).ConfigureAwait(false);
        V1Pod final;
        try
        {
            final = await watcher.WaitAsync(name, uid, IsTerminated, ct).ConfigureAwait(false);
        }
        catch (PodGoneException gone)
        {
            final = gone.LastSeen;
        }
        // A dropped followed stream: read the whole log again now that the container has ended.
        analysis ??= await StreamLogAsync(name, ns, analyzerOptions, follow: false, ct).ConfigureAwait(false);
        return Classify(final, analysis, stuck: false);
    }

    /// <summary>Feeds the container's log, line by line as it arrives, to a fresh analyzer; null when the stream broke.</summary>
    private async Task<KanikoLogAnalysis?> StreamLogAsync(string name, string ns, KanikoLogAnalyzerOptions options, bool follow, CancellationToken ct)
    {
        var analyzer = new KanikoLogAnalyzer(options);
        try
        {
            using var response = await kubernetes.CoreV1.ReadNamespacedPodLogWithHttpMessagesAsync(name, ns,
                container: KanikoPodFactory.ContainerName, follow: follow, timestamps: true, cancellationToken: ct).ConfigureAwait(false);
            using var reader = new StreamReader(response.Body);
            while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
            {
                analyzer.AnalyzeLine(line);
            }
            return analyzer.Complete();
        }
        catch (Exception e) when (e is IOException or HttpRequestException or HttpOperationException && !ct.IsCancellationRequested)
        {
            logger.LogInformation("log stream of {Pod} broke ({Error})", name, e.Message);
            return null;
        }
    }

    private static AttemptResult Classify(V1Pod pod, KanikoLogAnalysis? analysis, bool stuck) =>
        new(FailureClassifier.Classify(PodTermination.FromPod(pod, KanikoPodFactory.ContainerName), analysis), analysis, stuck);

    private async Task DeletePodAsync(string? name, CancellationToken ct)
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

    private async Task ReleaseAsync(Lease lease, Func<Lease, CancellationToken, Task> release)
    {
        try
        {
            await release(lease, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "could not release {Resource}; it expires with its lease", lease.Resource);
        }
    }

    internal static bool IsStarted(V1Pod pod) =>
        pod.Status?.Phase is "Running" or "Succeeded" or "Failed"
        || pod.Status?.ContainerStatuses?.Any(c => c.State?.Running is not null || c.State?.Terminated is not null) == true;

    internal static bool IsTerminated(V1Pod pod) =>
        pod.Status?.Phase is "Succeeded" or "Failed"
        || pod.Status?.ContainerStatuses?.Any(c => c.Name == KanikoPodFactory.ContainerName && c.State?.Terminated is not null) == true;

    private static bool IsStuck(V1Pod pod) =>
        pod.Status?.ContainerStatuses?.Any(c => c.State?.Waiting?.Reason is { } r && StuckWaitingReasons.Contains(r)) == true;

    private static DateTimeOffset? ContainerStartedAt(V1Pod pod)
    {
        var state = pod.Status?.ContainerStatuses?.FirstOrDefault(c => c.Name == KanikoPodFactory.ContainerName)?.State;
        var started = state?.Running?.StartedAt ?? state?.Terminated?.StartedAt;
        return started is { } s ? new DateTimeOffset(DateTime.SpecifyKind(s, DateTimeKind.Utc)) : null;
    }

    private static Dictionary<string, double> PhaseSeconds(KanikoLogAnalysis? analysis)
    {
        var seconds = new Dictionary<string, double>(StringComparer.Ordinal);
        if (analysis is null)
        {
            return seconds;
        }
        Add(KanikoPhase.Pull, analysis.Pull);
        Add(KanikoPhase.Extract, analysis.Extract);
        Add(KanikoPhase.Build, analysis.Build);
        Add(KanikoPhase.Push, analysis.Push);
        return seconds;

        void Add(KanikoPhase phase, PhaseTiming timing)
        {
            if (timing.Seconds is { } s)
            {
                seconds[phase.ToWire()] = s;
            }
        }
    }

    private static Lease? TakeLast(List<Lease> leases)
    {
        lock (leases)
        {
            if (leases.Count == 0)
            {
                return null;
            }
            var last = leases[^1];
            leases.RemoveAt(leases.Count - 1);
            return last;
        }
    }

    private static bool Holds(List<Lease> leases, Lease lease)
    {
        lock (leases)
        {
            return leases.Contains(lease);
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private sealed record AttemptResult(FailureClassification Classification, KanikoLogAnalysis? Analysis, bool Stuck);

    private sealed class RunState(BuildImage command, string buildKey, string pushRegistry)
    {
        public BuildImage Command { get; } = command;
        public string BuildKey { get; } = buildKey;
        public string PushRegistry { get; } = pushRegistry;
        public int Attempt { get; set; }
        public string? CurrentPod { get; set; }
    }
}
