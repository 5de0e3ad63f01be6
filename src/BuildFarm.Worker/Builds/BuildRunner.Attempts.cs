using System.Diagnostics;
using BuildFarm.Contracts;
using BuildFarm.Coordination;
using BuildFarm.Kaniko.Classification;
using BuildFarm.Kaniko.Logs;
using BuildFarm.Kaniko.Pods;
using BuildFarm.Messaging.Tracing;
using BuildFarm.Worker.Metrics;
using BuildFarm.Worker.Pods;
using k8s.Models;

namespace BuildFarm.Worker.Builds;

// BuildRunner's lines of attempts (the build's, or one platform's): each attempt a pod, followed through its log to its end
// and classified. The build's steps around them are in BuildRunner.cs.
public sealed partial class BuildRunner
{
    /// <summary>
    /// One line of attempts (the build's, or one platform's), each a new pod, until one succeeds (returned with its pod
    /// still there, <see cref="AttemptLane.CurrentPod"/>) or the build must fail (the failing decision). A redelivered
    /// message continues at the lane's newest existing attempt pod.
    /// </summary>
    private async Task<LaneOutcome> RunLaneAsync(RunState state, AttemptLane lane, LaneRun run, CancellationToken ct)
    {
        var command = state.Command;
        var (firstAttempt, earlierResets) = run.Redelivered ? await pods.ResumePointAsync(command, ct, lane.Platform).ConfigureAwait(false) : (1, 0);
        // Over all attempts of every lane: those of a previous delivery of this message (re-read from their pods) included.
        var resets = state.AddResets(earlierResets);
        for (var attempt = firstAttempt; ; attempt++)
        {
            lane.Attempt = attempt;
            var result = await RunAttemptAsync(lane, run.Events, ct).ConfigureAwait(false);
            if (result.Analysis is { } analysis)
            {
                resets = state.AddResets(analysis.TotalResets);
                metrics.RecordAnalysis(analysis, lane.PushRegistry, command.Spec.CacheRepo, lane.Platform);
            }
            var decision = await AfterOomAsync(state, lane, AttemptDecision.Decide(result.Classification, attempt, _options, Random.Shared.NextDouble()), ct)
                .ConfigureAwait(false);
            registryLimits.Report(lane.PushRegistry, result.Analysis, decision.Verdict == AttemptVerdict.Succeed, decision.Reason);
            imageDurations.Report(command.Spec.Destinations, result.Analysis, decision.Verdict == AttemptVerdict.Succeed);
            if (decision.Verdict == AttemptVerdict.Succeed)
            {
                return LaneOutcome.Success(decision.Digest!, result.Analysis);
            }

            metrics.RecordAttempt("failed", decision.Reason!, lane.PushRegistry, lane.Platform);
            await run.Events.PublishAsync(build.AttemptFailed(command, attempt, decision, resets, lane.Platform), ct).ConfigureAwait(false);
            if (result.Stuck)
            {
                // A pod that never started (image pull, config error) would wait forever: delete it now.
                await pods.DeleteAsync(lane.CurrentPod, ct).ConfigureAwait(false);
            }
            // The failed pod is kept for debugging; the PodWatcher's janitor deletes it after KeepFailedPodsFor.
            lane.CurrentPod = null;
            if (decision.Verdict == AttemptVerdict.Fail)
            {
                return LaneOutcome.Failed(decision);
            }
            logger.LogInformation("build {Build}: attempt {Attempt}{Platform} failed ({Reason}); retrying in {Delay}", command.BuildId, attempt,
                lane.Platform is null ? "" : " of " + lane.Platform, decision.Reason, decision.RetryAfter);
            await Task.Delay(decision.RetryAfter, time, ct).ConfigureAwait(false);
            CancelIfRequested(await cancelRequests.FindAsync(command.BuildId, ct).ConfigureAwait(false), run.Cancellation, ct);
        }
    }

    /// <summary>Cancels the build (through the usual cancellation path) when a CancelBuild left a marker for it.</summary>
    private static void CancelIfRequested(CancelRequest? request, BuildCancellation cancellation, CancellationToken ct)
    {
        if (request is not null)
        {
            cancellation.Cancel(request.RequestedBy);
            ct.ThrowIfCancellationRequested();
        }
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

    /// <summary>One attempt: its pod created or adopted, <see cref="BuildStarted"/> published while it starts, then followed to its end.</summary>
    private async Task<AttemptResult> RunAttemptAsync(AttemptLane lane, IBuildEventPublisher events, CancellationToken ct)
    {
        var command = lane.Command;
        var pod = pods.Prepare(command, lane.Attempt, lane.BuildKey, lane.Platform, lane.Memory);
        var name = pod.Metadata.Name;
        using var span = TraceNames.Source.StartActivity(TraceNames.AttemptSpan);
        span?.SetTag(TraceNames.BuildId, command.BuildId);
        span?.SetTag(TraceNames.Attempt, lane.Attempt);
        span?.SetTag(TraceNames.Pod, name);
        span?.SetTag(TraceNames.Registry, lane.PushRegistry);
        var result = await RunAttemptCoreAsync(lane, events, pod, ct).ConfigureAwait(false);
        span?.SetTag(TraceNames.Outcome, result.Classification.Succeeded ? "succeeded" : "failed");
        span?.SetTag(TraceNames.Reason, result.Classification.Reason);
        if (!result.Classification.Succeeded)
        {
            span?.SetStatus(ActivityStatusCode.Error, result.Classification.Reason);
        }
        return result;
    }

    private async Task<AttemptResult> RunAttemptCoreAsync(AttemptLane lane, IBuildEventPublisher events, V1Pod pod, CancellationToken ct)
    {
        var command = lane.Command;
        var name = pod.Metadata.Name;
        V1Pod? created;
        bool adopted;
        FailureClassification? rejection;
        using (var createSpan = TraceNames.Source.StartActivity(TraceNames.PodCreateSpan))
        {
            createSpan?.SetTag(TraceNames.Pod, name);
            (created, adopted, rejection) = await pods.CreateOrAdoptAsync(pod, command.BuildId, ct).ConfigureAwait(false);
            createSpan?.SetTag(TraceNames.Adopted, adopted);
            if (created is null)
            {
                createSpan?.SetStatus(ActivityStatusCode.Error, rejection?.Reason);
            }
        }
        if (created is null)
        {
            return new AttemptResult(rejection!, null, Stuck: false);
        }
        lane.CurrentPod = name;
        // Published while the pod starts (one broker round trip less on every build's path); it settles before the
        // attempt's outcome is known to anyone, so no later event of this build can overtake it.
        var startedEvent = events.PublishAsync(build.Started(command, lane.Attempt, name, lane.Platform, MemoryLimitOf(created), lane.RaisedFrom is not null), ct);
        AttemptResult result;
        try
        {
            result = await FollowAttemptAsync(lane, name, created.Metadata.Uid, adopted, ct).ConfigureAwait(false);
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

    /// <summary>An attempt after its pod exists: wait for the container, stream the log, wait for the end, classify.</summary>
    private async Task<AttemptResult> FollowAttemptAsync(AttemptLane lane, string name, string? uid, bool adopted, CancellationToken ct)
    {
        var startup = PodStartupClock.Start(time);
        V1Pod running;
        try
        {
            running = await watcher.WaitAsync(name, uid, startup.Until(p => PodStates.IsStarted(p) || PodStates.IsStuck(p)), ct).ConfigureAwait(false);
        }
        catch (PodGoneException gone)
        {
            return Classify(gone.LastSeen, null, stuck: false);
        }
        if (!PodStates.IsStarted(running))
        {
            return Classify(running, null, stuck: true);
        }
        var containerStarted = PodStates.ContainerStartedAt(running);
        if (!adopted)
        {
            var podStarted = time.GetUtcNow();
            metrics.RecordPodStartup(startup.Elapsed);
            BuildSpans.PodStartup(podStarted - startup.Elapsed, podStarted);
        }

        // The attempt's log in the log store: every line the analyzer sees, resumed where an earlier worker left an adopted
        // pod. Not yet for the lanes of a multi-platform build (their attempt numbers overlap: docs/logs.md "Not done yet").
        var destinations = lane.Destinations;
        await using var log = lane.Platform is null
            ? await attemptLogs.OpenAsync(lane.Command.BuildId, lane.Attempt, adopted, ct).ConfigureAwait(false)
            : null;
        var analysis = await logs.FollowAsync(name, destinations, containerStarted, ct, log?.Writer).ConfigureAwait(false);
        V1Pod final;
        try
        {
            final = await watcher.WaitAsync(name, uid, p => PodStates.IsTerminated(p), ct).ConfigureAwait(false);
        }
        catch (PodGoneException gone)
        {
            final = gone.LastSeen;
        }
        // A dropped followed stream: read the whole log again now that the container has ended.
        analysis ??= await logs.ReadAsync(name, destinations, containerStarted, ct, log?.Writer).ConfigureAwait(false);
        if (log is not null)
        {
            await log.CompleteAsync(ct).ConfigureAwait(false);
        }
        if (analysis is not null)
        {
            BuildSpans.KanikoPhases(analysis);
        }
        return Classify(final, analysis, stuck: false);
    }

    private static AttemptResult Classify(V1Pod pod, KanikoLogAnalysis? analysis, bool stuck) =>
        new(FailureClassifier.Classify(PodTermination.FromPod(pod, KanikoPodFactory.ContainerName), analysis), analysis, stuck);

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private sealed record AttemptResult(FailureClassification Classification, KanikoLogAnalysis? Analysis, bool Stuck);

    /// <summary>What every lane of one delivery shares: where its events go, its cancellation, whether it was redelivered.</summary>
    private sealed record LaneRun(IBuildEventPublisher Events, BuildCancellation Cancellation, bool Redelivered);

    private sealed class RunState(BuildImage command, string buildKey, IReadOnlyList<string> destinations, IReadOnlyList<AttemptLane> lanes)
    {
        private int _resets;

        public BuildImage Command { get; } = command;
        public string BuildKey { get; } = buildKey;

        /// <summary>The destinations, trimmed, distinct and sorted.</summary>
        public IReadOnlyList<string> Destinations { get; } = destinations;

        /// <summary>One lane (no platform) for a single-platform build, one per platform otherwise.</summary>
        public IReadOnlyList<AttemptLane> Lanes { get; } = lanes;

        /// <summary>The most attempts any lane ran.</summary>
        public int Attempts => Lanes.Max(l => l.Attempt);

        /// <summary>Connection resets over every lane's attempts so far.</summary>
        public int Resets => Volatile.Read(ref _resets);

        public int AddResets(int count) => Interlocked.Add(ref _resets, count);
    }
}
