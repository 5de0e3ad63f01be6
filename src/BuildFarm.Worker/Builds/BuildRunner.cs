using System.Diagnostics;
using BuildFarm.Contracts;
using BuildFarm.Coordination;
using BuildFarm.Coordination.Scheduling;
using BuildFarm.Kaniko.Pods;
using BuildFarm.Kaniko.Specs;
using BuildFarm.Messaging.Tracing;
using BuildFarm.Worker.Metrics;
using BuildFarm.Worker.Options;
using BuildFarm.Worker.Pods;
using BuildFarm.Worker.Resilience;
using BuildFarm.Worker.Scheduling;
using k8s;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Registry;

namespace BuildFarm.Worker.Builds;

/// <summary>
/// Runs one build, all attempts (docs/architecture.md "Flow"): validate → dedupe → destination locks → registry slots →
/// attempts (one pod each, shared watch, streamed log analysis, classification, backoff) → events and metrics.
/// It only orchestrates named steps: <see cref="LeaseScope"/> (locks, slots, renewal, fencing), <see cref="AttemptPods"/>
/// (create or adopt, quota wait, delete, list), <see cref="AttemptLogStreamer"/> (the log through the analyzer),
/// <see cref="AttemptDecision"/> (succeed, retry after a backoff, fail), <see cref="BuildEvents"/> (what is published), and for
/// a multi-platform build <see cref="PlatformFanOut"/> (one line of attempts per platform) and <see cref="IndexPublisher"/>
/// (the index pushed to the destinations once every platform succeeded).
/// Testable without MassTransit: all I/O is behind <see cref="IKubernetes"/>, the coordination interfaces,
/// <see cref="PodWatcher"/> and <see cref="IBuildEventPublisher"/>.
/// </summary>
public sealed partial class BuildRunner(
    PodWatcher watcher,
    AttemptPods pods,
    AttemptLogStreamer logs,
    AttemptLogs attemptLogs,
    LeaseScopes leases,
    IBuildDedupe dedupe,
    ICancelRequests cancelRequests,
    IMemoryHistory memoryHistory,
    BuildEvents build,
    IndexPublisher indexes,
    ResiliencePipelineProvider<string> pipelines,
    BuildFarmMetrics metrics,
    RegistryLimitFeedback registryLimits,
    ImageDurationFeedback imageDurations,
    AdmissionDispatcher admission,
    IOptions<WorkerOptions> workerOptions,
    IOptions<KanikoPodOptions> kanikoOptions,
    TimeProvider time,
    ILogger<BuildRunner> logger)
{
    private readonly WorkerOptions _options = workerOptions.Value;
    private readonly KanikoPodOptions _kaniko = kanikoOptions.Value;
    private readonly ResiliencePipeline _poll = pipelines.GetPipeline(WorkerPipelines.Poll);

    /// <summary>
    /// Runs <paramref name="command"/> to its end and publishes its events. Returns normally when the build ended
    /// (succeeded, failed, cancelled, deduplicated). Throws <see cref="OperationCanceledException"/> when
    /// <paramref name="stopping"/> fires (worker shutdown: pods and leases are left for the redelivered message) and
    /// <see cref="LeaseLostException"/> when the fencing check fails. <paramref name="redelivered"/>: the message was seen
    /// before (a crashed or stopped worker, a retry): the attempts continue from the newest existing attempt pod.
    /// <paramref name="messageId"/>: the message that carries the command, for admission's duplicate check (throws
    /// <see cref="DuplicateDeliveryException"/> for a second copy of an admitted build).
    /// </summary>
    public async Task<BuildRunOutcome> RunAsync(BuildImage command, IBuildEventPublisher events, BuildCancellation cancellation, CancellationToken stopping,
        bool redelivered = false, string? messageId = null)
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
        // The build's span: a child of MassTransit's consume span, so of the API request that published the command.
        // A build of a batch links the batch's submit span.
        ActivityLink[]? links = ActivityContext.TryParse(command.BatchTraceParent, null, out var batchSpan) ? [new ActivityLink(batchSpan)] : null;
        using var span = TraceNames.Source.StartActivity(TraceNames.BuildSpan, ActivityKind.Internal, default(ActivityContext), links: links);
        span?.SetTag(TraceNames.BuildId, command.BuildId);
        span?.SetTag(TraceNames.BatchId, command.BatchId);
        try
        {
            var outcome = await RunCoreAsync(command, events, cancellation, redelivered, messageId, stopping).ConfigureAwait(false);
            metrics.RecordBuild(outcome.Outcome, time.GetUtcNow() - started);
            span?.SetTag(TraceNames.Outcome, outcome.Outcome);
            span?.SetTag(TraceNames.Reason, outcome.Reason);
            if (outcome.Outcome == "failed")
            {
                span?.SetStatus(ActivityStatusCode.Error, outcome.Reason);
            }
            return outcome;
        }
        finally
        {
            metrics.BuildEnded();
        }
    }

    private async Task<BuildRunOutcome> RunCoreAsync(BuildImage command, IBuildEventPublisher events, BuildCancellation cancellation, bool redelivered,
        string? messageId, CancellationToken stopping)
    {
        // Resource maxima are the API's to enforce (Api:MaxResources); here only each quantity's form and size are checked.
        var validation = BuildSpecValidator.Validate(command.Spec, new BuildSpecValidationOptions { AllowedDestinations = _options.AllowedDestinations, MaxResources = null });
        if (!validation.IsValid)
        {
            await events.PublishAsync(build.Refused(command, FailureReasons.DockerfileInvalid, "invalid build spec: " + string.Join("; ", validation.Errors)), stopping)
                .ConfigureAwait(false);
            return new BuildRunOutcome("failed", FailureReasons.DockerfileInvalid, null, 0);
        }
        if (await WorkerPreflight.CheckAsync(command.Spec, _options.AllowedContextRoots, _options.MaxDockerfileBytes, stopping).ConfigureAwait(false) is { } rejection)
        {
            // A dir:// context outside Worker:AllowedContextRoots, or a Dockerfile the worker can read that would break
            // Kaniko or is invalid: no pod, no retry.
            await events.PublishAsync(build.Refused(command, rejection.Reason, rejection.Detail), stopping).ConfigureAwait(false);
            return new BuildRunOutcome("failed", rejection.Reason, null, 0);
        }

        var buildKey = BuildKey.Compute(command.Spec, _kaniko.ExecutorImage);
        var destinations = command.Spec.Destinations.Select(d => d.Trim()).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var registries = destinations.Select(d => ImageReference.Parse(d).RegistryHost).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();

        using var deadline = DeadlineSource(command.Deadline, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stopping, cancellation.Token, deadline.Token);
        var ct = linked.Token;
        var state = new RunState(command, buildKey, destinations, PlatformFanOut.Lanes(command, buildKey, registries[0]));
        await using var leaseScope = leases.Open(command.BuildId, buildKey);
        var claimed = false;
        try
        {
            // A CancelBuild that arrived while the build was still queued left a marker. Looked up together with the
            // dedupe claim, (with admission) the start mark and the memory learned for the image (after OOM kills): the
            // client pipelines them into one round trip.
            var marker = cancelRequests.FindAsync(command.BuildId, ct);
            var firstClaim = dedupe.ClaimAsync(buildKey, command.BuildId, _options.LeaseTtl, ct);
            var start = admission.StartAsync(command.BuildId, messageId, ct);
            var learned = FindLearnedMemoryAsync(state, ct);
            await Task.WhenAll(marker, firstClaim, start, learned).ConfigureAwait(false);
            claimed = firstClaim.Result.State == DedupeState.Claimed;
            await DropIfDuplicateAsync(start.Result, command, buildKey, claimed).ConfigureAwait(false);
            CancelIfRequested(marker.Result, cancellation, ct);
            if (await ClaimOrWaitAsync(state, events, firstClaim.Result, ct).ConfigureAwait(false) is { } elsewhere)
            {
                return elsewhere;
            }
            claimed = true;
            StartFromLearnedMemory(state, learned.Result);
            // One lease for the whole build, however many platforms it has.
            await leaseScope.AcquireAsync(destinations, registries, ct).ConfigureAwait(false);
            var run = new LaneRun(events, cancellation, redelivered);
            return state.Lanes is [var lane]
                ? await RunSinglePlatformAsync(state, lane, run, leaseScope, ct).ConfigureAwait(false)
                : await RunMultiPlatformAsync(state, run, leaseScope, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested && (cancellation.IsCancellationRequested || deadline.IsCancellationRequested))
        {
            // Cancelled on request or past the deadline: end the build here.
            var cancelled = cancellation.IsCancellationRequested;
            foreach (var lane in state.Lanes.Where(l => l.CurrentPod is not null))
            {
                await pods.DeleteAsync(lane.CurrentPod, CancellationToken.None).ConfigureAwait(false);
                lane.CurrentPod = null;
                metrics.RecordAttempt(cancelled ? "cancelled" : "failed", cancelled ? FailureReasons.Cancelled : FailureReasons.DeadlineExceeded, lane.PushRegistry,
                    lane.Platform);
            }
            if (claimed)
            {
                await dedupe.AbandonAsync(buildKey, command.BuildId, CancellationToken.None).ConfigureAwait(false);
            }
            if (cancelled)
            {
                await events.PublishAsync(build.Cancelled(command, cancellation.RequestedBy, state.Attempts), CancellationToken.None).ConfigureAwait(false);
                return new BuildRunOutcome("cancelled", FailureReasons.Cancelled, null, state.Attempts);
            }
            await events.PublishAsync(build.DeadlineExceeded(command, state.Attempts), CancellationToken.None).ConfigureAwait(false);
            return new BuildRunOutcome("failed", FailureReasons.DeadlineExceeded, null, state.Attempts);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Shutdown: the message goes back to the queue; the redelivered build adopts the pod by name and takes
            // its own (re-entrant) leases back. Releasing them here would let another build push the destination.
            leaseScope.KeepForRedelivery();
            throw;
        }
    }

    /// <summary>A second copy of an admitted build (docs/scheduling.md "Admission") runs nothing. A copy of a build that has
    /// ended gives back the dedupe claim it may just have taken (the build's own claim is gone with its end).</summary>
    private async Task DropIfDuplicateAsync(AdmissionStart start, BuildImage command, string buildKey, bool claimed)
    {
        if (start is not (AdmissionStart.Duplicate or AdmissionStart.Ended))
        {
            return;
        }
        if (start == AdmissionStart.Ended && claimed)
        {
            await dedupe.AbandonAsync(buildKey, command.BuildId, CancellationToken.None).ConfigureAwait(false);
        }
        throw new DuplicateDeliveryException(command.BuildId, start);
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
            var (phaseSeconds, attempts) = await pods.ClearSucceededAsync(command, ct).ConfigureAwait(false);
            await events.PublishAsync(build.SucceededBefore(command, claim.Digest!, phaseSeconds, attempts), ct).ConfigureAwait(false);
            return new BuildRunOutcome("succeeded", null, claim.Digest, attempts);
        }
        var kind = claim.State == DedupeState.InFlight ? "in_flight" : "completed";
        var original = claim.BuildId;
        if (claim.State == DedupeState.InFlight)
        {
            // The identical build runs elsewhere: poll its claim. When it succeeds the key turns Completed; when it
            // fails or is cancelled the claim is dropped and the next ClaimAsync makes this build run itself.
            var known = claim;
            claim = await _poll.UntilAsync(async token =>
            {
                // The first poll is the claim in hand: the wait comes before the next look.
                var next = known ?? await dedupe.ClaimAsync(state.BuildKey, command.BuildId, _options.LeaseTtl, token).ConfigureAwait(false);
                known = null;
                return new Polled<DedupeClaim>(next, next.State != DedupeState.InFlight);
            }, ct).ConfigureAwait(false);
        }
        if (claim.State == DedupeState.Claimed)
        {
            logger.LogInformation("build {Build}: identical build {Original} did not succeed; building", command.BuildId, original);
            return null;
        }
        metrics.RecordDedupeHit(kind);
        var (deduplicated, succeeded) = build.Deduplicated(command, claim.BuildId, kind, claim.Digest);
        await events.PublishAsync(deduplicated, ct).ConfigureAwait(false);
        await events.PublishAsync(succeeded, ct).ConfigureAwait(false);
        return new BuildRunOutcome("deduplicated", null, claim.Digest, 0);
    }

    /// <summary>A single-platform build: its one line of attempts, then fence, complete and publish (or fail).</summary>
    private async Task<BuildRunOutcome> RunSinglePlatformAsync(RunState state, AttemptLane lane, LaneRun run, LeaseScope leaseScope, CancellationToken ct)
    {
        var command = state.Command;
        var outcome = await RunLaneAsync(state, lane, run, ct).ConfigureAwait(false);
        if (!outcome.Succeeded)
        {
            return await FailAsync(state, run.Events, outcome.Failure!.Reason!, outcome.Failure.Detail, lane.Attempt, ct).ConfigureAwait(false);
        }
        var digest = outcome.Digest!;
        await leaseScope.FenceAsync(ct).ConfigureAwait(false);
        await dedupe.CompleteAsync(state.BuildKey, command.BuildId, digest, _options.DedupeCompletedTtl, ct).ConfigureAwait(false);
        metrics.RecordAttempt("succeeded", "none", lane.PushRegistry);
        await run.Events.PublishAsync(build.Succeeded(command, digest, outcome.Analysis, lane.Attempt, state.Resets), ct).ConfigureAwait(false);
        // Deleted last: if anything above fails (Redis, the bus) before the completion, the retried message
        // adopts this succeeded pod and reports the same digest instead of building again; after it, the retried
        // message finds the key completed and deletes the pod itself (AttemptPods.ClearSucceededAsync). The janitor
        // deletes one nobody came back for after KeepSucceededPodsFor.
        await DeleteLanePodsAsync(state, ct).ConfigureAwait(false);
        return new BuildRunOutcome("succeeded", null, digest, lane.Attempt);
    }

    /// <summary>
    /// A multi-platform build (docs/multi-platform.md): every platform's line of attempts side by side; when all succeeded,
    /// the index over their images is pushed to every destination (the locks still held), then fence, complete with the
    /// index digest and publish. A failed platform (or a failed index push) fails the build and tags nothing.
    /// </summary>
    private async Task<BuildRunOutcome> RunMultiPlatformAsync(RunState state, LaneRun run, LeaseScope leaseScope, CancellationToken ct)
    {
        var command = state.Command;
        var fanOut = await PlatformFanOut.RunAsync(state.Lanes, (lane, token) => RunLaneAsync(state, lane, run, token), ct).ConfigureAwait(false);
        if (!fanOut.Succeeded)
        {
            // The failed platform's pod is kept for debugging (no longer its lane's); the others' are deleted.
            await DeleteLanePodsAsync(state, ct).ConfigureAwait(false);
            return await FailAsync(state, run.Events, fanOut.Reason!, fanOut.Detail, fanOut.Attempts, ct).ConfigureAwait(false);
        }
        string indexDigest;
        try
        {
            indexDigest = (await indexes.PushAsync(state.Destinations, fanOut.Images, ct).ConfigureAwait(false)).Digest;
        }
        catch (Exception e) when (!ct.IsCancellationRequested && (IndexPublisher.IsPushFailure(e) || e is OperationCanceledException))
        {
            var (reason, detail) = IndexPublisher.Classify(e);
            logger.LogWarning("build {Build}: every platform succeeded, the index push failed ({Reason}): {Detail}", command.BuildId, reason, detail);
            await DeleteLanePodsAsync(state, ct).ConfigureAwait(false);
            return await FailAsync(state, run.Events, reason, detail, fanOut.Attempts, ct).ConfigureAwait(false);
        }
        await leaseScope.FenceAsync(ct).ConfigureAwait(false);
        await dedupe.CompleteAsync(state.BuildKey, command.BuildId, indexDigest, _options.DedupeCompletedTtl, ct).ConfigureAwait(false);
        foreach (var lane in state.Lanes)
        {
            metrics.RecordAttempt("succeeded", "none", lane.PushRegistry, lane.Platform);
        }
        await run.Events.PublishAsync(build.SucceededMultiPlatform(command, indexDigest, fanOut.Images, fanOut.Analyses, fanOut.Attempts, state.Resets), ct)
            .ConfigureAwait(false);
        await DeleteLanePodsAsync(state, ct).ConfigureAwait(false);
        return new BuildRunOutcome("succeeded", null, indexDigest, fanOut.Attempts);
    }

    /// <summary>The build failed: its dedupe claim is dropped (an identical build runs again) and the failure published.</summary>
    private async Task<BuildRunOutcome> FailAsync(RunState state, IBuildEventPublisher events, string reason, string? detail, int attempts, CancellationToken ct)
    {
        await dedupe.AbandonAsync(state.BuildKey, state.Command.BuildId, ct).ConfigureAwait(false);
        await events.PublishAsync(build.Failed(state.Command, reason, detail, attempts), ct).ConfigureAwait(false);
        return new BuildRunOutcome("failed", reason, null, attempts);
    }

    /// <summary>Deletes the pods the lanes still hold (succeeded, or stopped because another platform failed).</summary>
    private async Task DeleteLanePodsAsync(RunState state, CancellationToken ct)
    {
        foreach (var lane in state.Lanes)
        {
            await pods.DeleteAsync(lane.CurrentPod, ct).ConfigureAwait(false);
            lane.CurrentPod = null;
        }
    }
}
