using BuildFarm.Contracts;

namespace BuildFarm.Kaniko.Logs;

public sealed partial class KanikoLogAnalyzer
{
    // ---- result -------------------------------------------------------------------------------------

    /// <summary>
    /// The analysis of the lines seen so far. It does not change the analyzer's state, so a log being followed
    /// can be looked at while it is still being read; a phase still open counts up to the last timestamp seen.
    /// </summary>
    public KanikoLogAnalysis Complete()
    {
        var clock = _sawKubernetesClock ? KanikoLogClock.Kubernetes
            : _sawRfc3339Clock ? KanikoLogClock.Rfc3339
            : _sawElapsedClock ? KanikoLogClock.Elapsed
            : KanikoLogClock.None;
        var timeline = clock switch
        {
            KanikoLogClock.Kubernetes => _kubernetes,
            KanikoLogClock.None => null,
            _ => _kaniko,
        };

        // A manifest lookup still open at the end is taken as a real retrieval.
        var pendingPull = _tentativePull ? 1 : 0;
        double? Seconds(int slot)
        {
            if (timeline is null)
            {
                return null;
            }

            var ticks = timeline.Ticks[slot] + (slot == SlotPull ? timeline.Ticks[SlotPullTentative] : 0);
            return (double)ticks / TimeSpan.TicksPerSecond;
        }

        string? error = null;
        string? reason = null;
        KanikoPhase? failedPhase = null;
        int? exitCode = null;
        var resets = (int[])_resets.Clone();
        KanikoOutcome outcome;
        if (_hasFatal)
        {
            outcome = KanikoOutcome.Failed;
            error = new string(_error, 0, _errorLength);
            failedPhase = KanikoErrorReasons.PhaseFromWrapper(error) ?? PhaseOf(
                _fatalSlot is SlotPull or SlotPullTentative or SlotExtract or SlotBuild or SlotPush ? _fatalSlot : _fatalLastPhaseSlot);
            reason = KanikoErrorReasons.Classify(error, failedPhase);
            exitCode = KanikoErrorReasons.StepExitCode(error);
            if (_fatalHasReset)
            {
                resets[failedPhase == KanikoPhase.Preflight ? SlotCount : SlotOf(failedPhase.Value)]++;
            }
        }
        else
        {
            outcome = SucceededSoFar ? KanikoOutcome.Succeeded : KanikoOutcome.Incomplete;
        }

        var notPushed = new List<string>();
        if (!_allDestinationsPushed)
        {
            for (var i = 0; i < _destinations.Length; i++)
            {
                if (!_destinationPushed[i])
                {
                    notPushed.Add(_options.Destinations[i].Trim());
                }
            }
        }

        DateTimeOffset? first = null, last = null;
        var phaseStarts = new Dictionary<KanikoPhase, DateTimeOffset>();
        if (timeline is { HasLast: true } && (clock != KanikoLogClock.Elapsed || _options.ContainerStartedAt is not null))
        {
            first = new DateTimeOffset(timeline.First, TimeSpan.Zero);
            last = new DateTimeOffset(timeline.Last, TimeSpan.Zero);
            foreach (var (phase, slot) in (ReadOnlySpan<(KanikoPhase, int)>)[(KanikoPhase.Pull, SlotPull), (KanikoPhase.Extract, SlotExtract), (KanikoPhase.Build, SlotBuild), (KanikoPhase.Push, SlotPush)])
            {
                var start = slot == SlotPull ? Timeline.Earliest(timeline.Starts[SlotPull], timeline.Starts[SlotPullTentative]) : timeline.Starts[slot];
                if (start >= 0 && Seconds(slot) > 0)
                {
                    phaseStarts[phase] = new DateTimeOffset(start, TimeSpan.Zero);
                }
            }
        }

        return new KanikoLogAnalysis
        {
            Format = _format,
            Clock = clock,
            Outcome = outcome,
            Reason = reason,
            Transient = reason is not null && FailureReasons.IsTransient(reason),
            FailedPhase = failedPhase,
            Pull = new PhaseTiming(Seconds(SlotPull), _counts[SlotPull] + pendingPull),
            Extract = new PhaseTiming(Seconds(SlotExtract), _counts[SlotExtract]),
            Build = new PhaseTiming(Seconds(SlotBuild), _counts[SlotBuild]),
            Push = new PhaseTiming(Seconds(SlotPush), _counts[SlotPush]),
            Resets = new Dictionary<KanikoPhase, int>
            {
                [KanikoPhase.Preflight] = resets[SlotCount],
                [KanikoPhase.Pull] = resets[SlotPull],
                [KanikoPhase.Extract] = resets[SlotExtract],
                [KanikoPhase.Build] = resets[SlotBuild],
                [KanikoPhase.Push] = resets[SlotPush],
            },
            Retries = new Dictionary<KanikoPhase, int>
            {
                [KanikoPhase.Pull] = _retries[SlotPull],
                [KanikoPhase.Extract] = _retries[SlotExtract],
                [KanikoPhase.Push] = _retries[SlotPush],
            },
            Refusals = new Dictionary<KanikoPhase, int>
            {
                [KanikoPhase.Pull] = _refusals[SlotPull],
                [KanikoPhase.Extract] = _refusals[SlotExtract],
                [KanikoPhase.Push] = _refusals[SlotPush],
            },
            CacheHits = _cacheHits,
            CacheMisses = _cacheMisses,
            Pushed = [.. _pushed],
            NotPushed = notPushed,
            Note = outcome == KanikoOutcome.Incomplete ? IncompleteNote(notPushed, _otherPushes) : null,
            BaseRegistry = _baseRegistry,
            Error = error,
            StepExitCode = exitCode,
            FirstTimestamp = first,
            LastTimestamp = last,
            PhaseStarts = phaseStarts,
        };
    }

    /// <summary>Why a log without a fatal error is not a success: which destinations were never pushed, and what was pushed instead.</summary>
    internal static string IncompleteNote(IReadOnlyList<string> notPushed, IReadOnlyList<string> otherPushes)
    {
        if (notPushed.Count == 0)
        {
            return "neither a push to a destination nor a fatal error was seen: the log ends before Kaniko finished (killed or cut short)";
        }

        var note = $"no push to {string.Join(", ", notPushed)} was seen";
        return otherPushes.Count > 0
            ? note + $"; the log pushes {string.Join(", ", otherPushes)}, which {(otherPushes.Count == 1 ? "is" : "are")} not a given destination"
            : note + ": the log ends before Kaniko pushed (killed or cut short)";
    }
}
