using BuildFarm.Kaniko.Pods;
using BuildFarm.Contracts;
using BuildFarm.Kaniko.Logs;
using BuildFarm.Kaniko.Specs;

namespace BuildFarm.Worker.Builds;

/// <summary>
/// One line of attempts of a build: the build's own (a single-platform build, <see cref="Platform"/> null: exactly the
/// attempts a build always had) or one platform's of a multi-platform build (docs/multi-platform.md), with its own
/// attempt numbering, its own pod and the destinations that pod pushes to (the platform's staging tags).
/// </summary>
public sealed class AttemptLane(BuildImage command, string buildKey, string pushRegistry, string? platform)
{
    public BuildImage Command { get; } = command;
    public string BuildKey { get; } = buildKey;

    /// <summary>The destination registry host (the push phase's registry, a metrics label).</summary>
    public string PushRegistry { get; } = pushRegistry;

    /// <summary>The lane's platform in a multi-platform build; null in a single-platform build.</summary>
    public string? Platform { get; } = platform;

    /// <summary>What the lane's pods push to: the build's destinations, or the platform's staging tags
    /// (<see cref="BuildPlatforms.StagingDestinations"/>).</summary>
    public IReadOnlyList<string> Destinations { get; } =
        platform is null ? command.Spec.Destinations : BuildPlatforms.StagingDestinations(command.Spec, buildKey, platform);

    /// <summary>The attempt running (or last run), 1-based; 0 before the first.</summary>
    public int Attempt { get; set; }

    /// <summary>The pod of the attempt running, or of the succeeded attempt until it is deleted; null otherwise (a failed
    /// attempt's pod is kept for debugging and is no longer the lane's).</summary>
    public string? CurrentPod { get; set; }

    /// <summary>The memory the lane's pods get in place of the spec's own: learned from the image's history, or raised
    /// after an OOM kill; null: the spec's own (or the farm's default).</summary>
    public PodMemory? Memory { get; set; }

    /// <summary>The lane's memory before an OOM retry raised it (at most one per lane); null while none did.</summary>
    public PodMemory? RaisedFrom { get; set; }
}

/// <summary>How a lane ended: its image's digest and log analysis when it succeeded, else the failing decision.</summary>
public sealed record LaneOutcome(string? Digest, KanikoLogAnalysis? Analysis, AttemptDecision? Failure)
{
    public bool Succeeded => Failure is null && Digest is not null;

    /// <summary>A lane stopped because another platform failed: neither succeeded nor the cause.</summary>
    public static LaneOutcome Stopped { get; } = new(null, null, null);

    public static LaneOutcome Success(string digest, KanikoLogAnalysis? analysis) => new(digest, analysis, null);

    public static LaneOutcome Failed(AttemptDecision decision) => new(null, null, decision);
}

/// <summary>What a multi-platform build's platforms came to: every image (in the spec's order) with its attempt's log
/// analysis, or the platform that failed. <see cref="Attempts"/>: the most attempts a platform ran (the failed one's when failed).</summary>
public sealed record FanOutOutcome(
    IReadOnlyList<PlatformImage> Images, IReadOnlyList<KanikoLogAnalysis?> Analyses, string? FailedPlatform, string? Reason, string? Detail, int Attempts)
{
    public bool Succeeded => FailedPlatform is null;
}

/// <summary>
/// The per-platform fan-out of a build (docs/multi-platform.md): which lanes a build has, running them side by side, and
/// what their outcomes come to. A single-platform build (no platform, or one) has one lane without a platform and runs
/// exactly as before; a build of N ≥ 2 platforms has one lane per platform, in the spec's order (the index's order).
/// The first platform that fails stops the others (their running pods are the caller's to delete) and fails the build,
/// named in the detail; nothing is tagged then.
/// </summary>
public static class PlatformFanOut
{
    /// <summary>The lanes of a build: one per platform of a multi-platform build, else one without a platform. Pure.</summary>
    public static IReadOnlyList<AttemptLane> Lanes(BuildImage command, string buildKey, string pushRegistry)
    {
        ArgumentNullException.ThrowIfNull(command);
        return BuildPlatforms.IsMultiPlatform(command.Spec)
            ? [.. BuildPlatforms.Of(command.Spec).Select(p => new AttemptLane(command, buildKey, pushRegistry, p))]
            : [new AttemptLane(command, buildKey, pushRegistry, null)];
    }

    /// <summary>
    /// Runs every lane at once through <paramref name="run"/>. When one ends failed, the others are stopped (their token is
    /// cancelled; a lane that ends by that cancellation counts as <see cref="LaneOutcome.Stopped"/>). Any other exception
    /// stops the others too and is thrown once all have ended; so is the cancellation of <paramref name="ct"/> (the build's).
    /// </summary>
    public static async Task<FanOutOutcome> RunAsync(IReadOnlyList<AttemptLane> lanes, Func<AttemptLane, CancellationToken, Task<LaneOutcome>> run,
        CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(lanes);
        ArgumentNullException.ThrowIfNull(run);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var failedFirst = -1;
        var tasks = new Task<LaneOutcome>[lanes.Count];
        for (var i = 0; i < lanes.Count; i++)
        {
            tasks[i] = RunLaneAsync(i);
        }
        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch (Exception) when (tasks.All(t => t.IsCompleted))
        {
            // Rethrown below: the build's own cancellation first, else the first lane's exception.
        }
        ct.ThrowIfCancellationRequested();
        if ((tasks.FirstOrDefault(t => t.IsFaulted) ?? tasks.FirstOrDefault(t => t.IsCanceled)) is { } broken)
        {
            await broken.ConfigureAwait(false);
        }
        return Combine(lanes, [.. tasks.Select(t => t.Result)], failedFirst);

        async Task<LaneOutcome> RunLaneAsync(int index)
        {
            // Each lane starts on the thread pool: one lane's synchronous start never holds up the others.
            await Task.Yield();
            try
            {
                var outcome = await run(lanes[index], stop.Token).ConfigureAwait(false);
                if (!outcome.Succeeded)
                {
                    Interlocked.CompareExchange(ref failedFirst, index, -1);
                    await stop.CancelAsync().ConfigureAwait(false);
                }
                return outcome;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                // Stopped by this fan-out: another lane failed or threw.
                return LaneOutcome.Stopped;
            }
            catch
            {
                await stop.CancelAsync().ConfigureAwait(false);
                throw;
            }
        }
    }

    /// <summary>
    /// What the lanes' outcomes come to. Pure. All succeeded: every platform's image in lane order. Otherwise the failure
    /// of <paramref name="failedFirst"/> (the lane that failed first; the first failed lane in order when it is unknown),
    /// its detail prefixed with the platform: <c>platform linux/arm64: …</c>.
    /// </summary>
    public static FanOutOutcome Combine(IReadOnlyList<AttemptLane> lanes, IReadOnlyList<LaneOutcome> outcomes, int failedFirst = -1)
    {
        ArgumentNullException.ThrowIfNull(lanes);
        ArgumentNullException.ThrowIfNull(outcomes);
        if (lanes.Count != outcomes.Count)
        {
            throw new ArgumentException($"outcomes: {outcomes.Count} for {lanes.Count} lanes", nameof(outcomes));
        }
        var attempts = lanes.Count == 0 ? 0 : lanes.Max(l => l.Attempt);
        if (outcomes.All(o => o.Succeeded))
        {
            return new FanOutOutcome([.. lanes.Select((l, i) => new PlatformImage { Platform = l.Platform ?? "", Digest = outcomes[i].Digest! })],
                [.. outcomes.Select(o => o.Analysis)], null, null, null, attempts);
        }
        var failed = failedFirst >= 0 && failedFirst < outcomes.Count && outcomes[failedFirst].Failure is not null
            ? failedFirst
            : Enumerable.Range(0, outcomes.Count).FirstOrDefault(i => outcomes[i].Failure is not null, -1);
        if (failed < 0)
        {
            throw new ArgumentException("outcomes: a lane neither succeeded nor failed, and none failed", nameof(outcomes));
        }
        var lane = lanes[failed];
        var decision = outcomes[failed].Failure!;
        var platform = lane.Platform ?? "(build)";
        var detail = $"platform {platform}: " + (decision.Detail ?? decision.Reason ?? FailureReasons.Unknown);
        return new FanOutOutcome([], [], platform, decision.Reason ?? FailureReasons.Unknown, detail, lane.Attempt);
    }
}
