using BuildFarm.Contracts;
using BuildFarm.Kaniko;
using BuildFarm.Kaniko.Logs;
using BuildFarm.Kaniko.Specs;

namespace BuildFarm.Worker.Builds;

/// <summary>
/// Builds the events a build publishes (docs/events.md), stamped with the worker's clock: the one place that knows
/// their fields, so that the runner only says which event. Pure but for the clock.
/// </summary>
public sealed class BuildEvents(TimeProvider time)
{
    /// <summary>Refused before any pod (an invalid spec, a context or Dockerfile the worker refuses): no attempt ran.</summary>
    public BuildFailed Refused(BuildImage command, string reason, string detail) => Failed(command, reason, detail, attempts: 0);

    public BuildFailed Failed(BuildImage command, string reason, string? detail, int attempts) => new()
    {
        BuildId = command.BuildId, BatchId = command.BatchId, Reason = reason, Detail = detail, Attempts = attempts, At = time.GetUtcNow(),
    };

    public BuildFailed DeadlineExceeded(BuildImage command, int attempts) =>
        Failed(command, FailureReasons.DeadlineExceeded, $"the build's deadline {command.Deadline:O} passed", attempts);

    public BuildCancelled Cancelled(BuildImage command, string? requestedBy, int attempts) => new()
    {
        BuildId = command.BuildId, BatchId = command.BatchId, RequestedBy = requestedBy, Attempts = attempts, At = time.GetUtcNow(),
    };

    /// <summary>An attempt's pod exists; <paramref name="platform"/> is its platform in a multi-platform build, else null;
    /// <paramref name="memoryLimit"/> the pod's memory limit, <paramref name="memoryRaised"/> true when it was doubled after an OOM kill.</summary>
    public BuildStarted Started(BuildImage command, int attempt, string pod, string? platform = null, string? memoryLimit = null, bool memoryRaised = false) => new()
    {
        BuildId = command.BuildId, BatchId = command.BatchId, Attempt = attempt, Pod = pod, Platform = platform, MemoryLimit = memoryLimit,
        MemoryRaised = memoryRaised ? true : null, At = time.GetUtcNow(),
    };

    /// <summary>A failed attempt; <c>RetryAt</c> when <paramref name="decision"/> retries.</summary>
    public BuildAttemptFailed AttemptFailed(BuildImage command, int attempt, AttemptDecision decision, int resets, string? platform = null)
    {
        var now = time.GetUtcNow();
        var reason = decision.Reason ?? FailureReasons.Unknown;
        return new BuildAttemptFailed
        {
            BuildId = command.BuildId, BatchId = command.BatchId, Attempt = attempt, Platform = platform, Reason = reason,
            Transient = FailureReasons.IsTransient(reason) || decision.Verdict == AttemptVerdict.Retry,
            RetryAt = decision.Verdict == AttemptVerdict.Retry ? now + decision.RetryAfter : null, Detail = decision.Detail, Resets = resets, At = now,
        };
    }

    /// <summary>This build's attempt pushed <paramref name="digest"/>; the analysis (when the log was read) names what was pushed.</summary>
    public BuildSucceeded Succeeded(BuildImage command, string digest, KanikoLogAnalysis? analysis, int attempts, int resets) => new()
    {
        BuildId = command.BuildId, BatchId = command.BatchId, Digest = digest, Pushed = Pushed(command, digest, analysis),
        PhaseSeconds = PhaseSeconds(analysis), Attempts = attempts, Resets = resets, At = time.GetUtcNow(),
    };

    /// <summary>
    /// A multi-platform build succeeded: <paramref name="indexDigest"/> is the index pushed to every destination (the
    /// build's digest), <paramref name="platforms"/> the per-platform images it names. <paramref name="attempts"/> is the
    /// most any platform took; the phase seconds are those of the slowest platform per phase (the build waited for it).
    /// </summary>
    public BuildSucceeded SucceededMultiPlatform(BuildImage command, string indexDigest, IReadOnlyList<PlatformImage> platforms,
        IEnumerable<KanikoLogAnalysis?> analyses, int attempts, int resets)
    {
        var seconds = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (phase, value) in analyses.SelectMany(a => PhaseSeconds(a)))
        {
            seconds[phase] = Math.Max(value, seconds.GetValueOrDefault(phase));
        }
        return new BuildSucceeded
        {
            BuildId = command.BuildId, BatchId = command.BatchId, Digest = indexDigest, Pushed = Pushed(command, indexDigest, null),
            PhaseSeconds = seconds, Attempts = attempts, Resets = resets, Platforms = platforms, At = time.GetUtcNow(),
        };
    }

    /// <summary>This very build had already succeeded (its worker died before the ack): reported again.</summary>
    public BuildSucceeded SucceededBefore(BuildImage command, string digest, IReadOnlyDictionary<string, double> phaseSeconds, int attempts) => new()
    {
        BuildId = command.BuildId, BatchId = command.BatchId, Digest = digest, Pushed = Pushed(command, digest, null),
        PhaseSeconds = phaseSeconds, Attempts = attempts, At = time.GetUtcNow(),
    };

    /// <summary>An identical build pushed the image: the deduplication and this build's success, stamped alike.</summary>
    public (BuildDeduplicated Deduplicated, BuildSucceeded Succeeded) Deduplicated(BuildImage command, string originalBuildId, string kind, string? digest)
    {
        var now = time.GetUtcNow();
        return (new BuildDeduplicated
        {
            BuildId = command.BuildId, BatchId = command.BatchId, OriginalBuildId = originalBuildId, Kind = kind, Digest = digest, At = now,
        }, new BuildSucceeded
        {
            BuildId = command.BuildId, BatchId = command.BatchId, Digest = digest!, Pushed = Pushed(command, digest, null), Attempts = 0, At = now,
        });
    }

    /// <summary>The pushed references: from the log when it named them, else each destination's repository at the digest.</summary>
    internal static IReadOnlyList<string> Pushed(BuildImage command, string? digest, KanikoLogAnalysis? analysis) =>
        analysis is { Pushed.Count: > 0 }
            ? [.. analysis.Pushed.Select(p => $"{p.Image}@{p.Digest}")]
            : [.. command.Spec.Destinations.Select(d => $"{ImageReference.Parse(d.Trim()).Name}@{digest}")];

    /// <summary>The seconds of each Kaniko phase the log timed (empty without a log).</summary>
    internal static Dictionary<string, double> PhaseSeconds(KanikoLogAnalysis? analysis)
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
}
