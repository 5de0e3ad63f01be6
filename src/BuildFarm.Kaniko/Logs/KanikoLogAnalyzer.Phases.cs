using BuildFarm.Contracts;

namespace BuildFarm.Kaniko.Logs;

public sealed partial class KanikoLogAnalyzer
{
    // ---- phases and their time ----------------------------------------------------------------------

    /// <summary>A line that belongs to an instruction being executed (Cmd:, Running:, snapshots…).</summary>
    private void BuildWork(bool revokes = true)
    {
        if (revokes)
        {
            BuildGoesOn();
        }

        switch (_slot)
        {
            case SlotBuild or SlotPush:
                return;
            case SlotExtract:
                SetSlot(SlotBuild); // resuming the instruction whose layers were extracted
                return;
            case SlotNone or SlotPull or SlotPullTentative when _inInstruction:
                SetSlot(SlotBuild); // resuming after a pull inside the instruction (COPY --from=<image>)
                return;
            default:
                Begin(SlotBuild, revokes); // build work whose instruction echo the log does not show
                _inInstruction = true;
                return;
        }
    }

    /// <summary>Stage set-up lines (base names, cache lookups, triggers, "Building stage"): no phase.</summary>
    private void StageSetup()
    {
        BuildGoesOn();
        _inInstruction = false;
        SetSlot(SlotNone);
    }

    private void Begin(int slot, bool revokes = true)
    {
        if (revokes && slot != SlotPush)
        {
            BuildGoesOn();
        }

        _counts[slot]++;
        SetSlot(slot);
    }

    private void SetSlot(int slot)
    {
        _slot = slot;
        if (slot is SlotPull or SlotExtract or SlotBuild or SlotPush)
        {
            _lastPhaseSlot = slot;
        }
    }

    private void ResolveTentative(bool confirmed)
    {
        _tentativePull = false;
        var target = confirmed ? SlotPull : _slotBeforeTentative;
        _kubernetes.Resolve(target);
        _kaniko.Resolve(target);
        if (confirmed)
        {
            Begin(SlotPull);
        }
        else
        {
            SetSlot(_slotBeforeTentative);
        }
    }

    private void HandleRetry(ReadOnlySpan<char> m)
    {
        // The phase is the one of the last INFO line before the retry (kaniko-facts §5.1).
        var phase = _slot switch
        {
            SlotPull or SlotExtract or SlotPush => _slot,
            _ when _cachePushOpen => SlotPush, // a cache-layer push being retried
            SlotNone when _lastPhaseSlot is SlotPull or SlotExtract or SlotPush => _lastPhaseSlot,
            _ => -1,
        };

        if (phase >= 0)
        {
            _retries[phase]++;
        }

        if (m.Contains(ResetByPeer, StringComparison.OrdinalIgnoreCase))
        {
            _resets[phase >= 0 ? phase : ResetSlotNow()]++;
        }
        else if (phase >= 0 && KanikoErrorReasons.Classify(m.ToString(), PhaseOf(phase)) == FailureReasons.RegistryUnavailable)
        {
            // The registry refused the try (429 Too Many Requests, a 5xx): as much a sign of its load as a reset.
            _refusals[phase]++;
        }
    }

    /// <summary>Where a reset outside pull/extract/push goes: build, or preflight before any phase.</summary>
    private int ResetSlotNow() => _lastPhaseSlot == SlotNone ? SlotCount : SlotBuild;

    private static KanikoPhase PhaseOf(int slot) => slot switch
    {
        SlotPull or SlotPullTentative => KanikoPhase.Pull,
        SlotExtract => KanikoPhase.Extract,
        SlotBuild => KanikoPhase.Build,
        SlotPush => KanikoPhase.Push,
        _ => KanikoPhase.Preflight,
    };

    private static int SlotOf(KanikoPhase phase) => phase switch
    {
        KanikoPhase.Pull => SlotPull,
        KanikoPhase.Extract => SlotExtract,
        KanikoPhase.Build => SlotBuild,
        KanikoPhase.Push => SlotPush,
        _ => SlotCount,
    };

    /// <summary>
    /// Time per slot on one clock: each timestamp closes the segment since the previous one, which goes to the
    /// slot that was current after the previous stamped line.
    /// </summary>
    private sealed class Timeline
    {
        public readonly long[] Ticks = new long[SlotCount];
        /// <summary>Where each slot first got time (-1: never).</summary>
        public readonly long[] Starts = [-1, -1, -1, -1, -1, -1];
        public bool HasLast;
        public long First;
        public long Last;
        public int PrevSlot;

        public void Close(long ticks)
        {
            if (!HasLast)
            {
                HasLast = true;
                First = ticks;
                Last = ticks;
                return;
            }

            // Out-of-order stamps (stdout and stderr are merged) add nothing and do not move the clock back.
            if (ticks > Last)
            {
                if (Starts[PrevSlot] < 0)
                {
                    Starts[PrevSlot] = Last;
                }
                Ticks[PrevSlot] += ticks - Last;
                Last = ticks;
            }
        }

        public static long Earliest(long a, long b) => a < 0 ? b : b < 0 ? a : Math.Min(a, b);

        public void Resolve(int target)
        {
            Ticks[target] += Ticks[SlotPullTentative];
            Ticks[SlotPullTentative] = 0;
            Starts[target] = Earliest(Starts[target], Starts[SlotPullTentative]);
            Starts[SlotPullTentative] = -1;
            if (PrevSlot == SlotPullTentative)
            {
                PrevSlot = target;
            }
        }
    }
}
