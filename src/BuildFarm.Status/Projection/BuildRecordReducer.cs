using BuildFarm.Contracts;

namespace BuildFarm.Status.Projection;

/// <summary>
/// Folds the farm's events into build records: (record, event) → the change, or null when the event adds nothing
/// (already applied, or too late to matter). Pure. Safe under redelivery (applying an event twice changes nothing the
/// second time) and out-of-order delivery: final states (succeeded, failed, cancelled) stick; a late event about an
/// older attempt fills in that attempt's details without moving the build's state back.
/// </summary>
public static class BuildRecordReducer
{
    // Change names, as live readers (SSE) see them.
    public const string WaitingEvent = "waiting";
    public const string QueuedEvent = "queued";
    public const string ReleasedEvent = "released";
    public const string StartedEvent = "started";
    public const string AttemptFailedEvent = "attempt_failed";
    public const string SucceededEvent = "succeeded";
    public const string FailedEvent = "failed";
    public const string CancelledEvent = "cancelled";
    public const string DeduplicatedEvent = "deduplicated";

    /// <summary>The event types this reducer folds.</summary>
    public static IReadOnlyList<Type> EventTypes { get; } =
    [
        typeof(BuildQueued), typeof(BuildStarted), typeof(BuildAttemptFailed), typeof(BuildSucceeded), typeof(BuildFailed),
        typeof(BuildCancelled), typeof(BuildDeduplicated),
    ];

    /// <summary>The change name that describes a record in <paramref name="state"/> (for a record repeated without its event).</summary>
    public static string EventFor(BuildState state) => state switch
    {
        BuildState.Waiting => WaitingEvent,
        BuildState.Queued => QueuedEvent,
        BuildState.Running => StartedEvent,
        BuildState.Retrying => AttemptFailedEvent,
        BuildState.Succeeded => SucceededEvent,
        BuildState.Failed => FailedEvent,
        BuildState.Cancelled => CancelledEvent,
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, "unknown build state"),
    };

    public static BuildChange? Apply(BuildRecord record, object message)
    {
        ArgumentNullException.ThrowIfNull(record);
        return message switch
        {
            BuildQueued => Queued(record),
            BuildStarted e => Started(record, e),
            BuildAttemptFailed e => AttemptFailed(record, e),
            BuildSucceeded e => Succeeded(record, e),
            BuildFailed e => Failed(record, e),
            BuildCancelled e => Cancelled(record, e),
            BuildDeduplicated e => Deduplicated(record, e),
            null => throw new ArgumentNullException(nameof(message)),
            _ => throw new ArgumentException($"{message.GetType().Name} is not a build event", nameof(message)),
        };
    }

    /// <summary>The build id an event is about.</summary>
    public static string BuildIdOf(object message) => message switch
    {
        BuildQueued e => e.BuildId,
        BuildStarted e => e.BuildId,
        BuildAttemptFailed e => e.BuildId,
        BuildSucceeded e => e.BuildId,
        BuildFailed e => e.BuildId,
        BuildCancelled e => e.BuildId,
        BuildDeduplicated e => e.BuildId,
        _ => throw new ArgumentException($"{message?.GetType().Name ?? "null"} is not a build event", nameof(message)),
    };

    /// <summary>
    /// The record to start from for an event about a build nobody recorded: made only from a worker's report of progress
    /// or an outcome (started, attempt failed, succeeded, failed, cancelled, deduplicated with an outcome). The spec is
    /// unknown: its context is empty and its destinations are the pushed repositories when the event names them. Null
    /// for <see cref="BuildQueued"/> (a producer creates the record before it publishes; a BuildQueued without one means
    /// the submit was rolled back or the record expired) and for a deduplication without an outcome.
    /// </summary>
    public static BuildRecord? Minimal(object message)
    {
        var (batch, at, pushed) = message switch
        {
            BuildStarted e => (e.BatchId, e.At, (IReadOnlyList<string>)[]),
            BuildAttemptFailed e => (e.BatchId, e.At, []),
            BuildSucceeded e => (e.BatchId, e.At, e.Pushed),
            BuildFailed e => (e.BatchId, e.At, []),
            BuildCancelled e => (e.BatchId, e.At, []),
            BuildDeduplicated { Digest: not null } or BuildDeduplicated { Reason: not null } => (((BuildDeduplicated)message).BatchId, ((BuildDeduplicated)message).At, []),
            _ => ((string?)null, default(DateTimeOffset), (IReadOnlyList<string>?)null),
        };
        if (pushed is null)
        {
            return null;
        }
        return new BuildRecord
        {
            BuildId = BuildIdOf(message),
            BatchId = batch,
            Spec = new BuildSpec { Context = "", Destinations = [.. pushed.Select(RepositoryOf)] },
            State = BuildState.Queued,
            SubmittedAt = at,
        };
    }

    private static string RepositoryOf(string pushed)
    {
        var at = pushed.IndexOf('@', StringComparison.Ordinal);
        return at < 0 ? pushed : pushed[..at];
    }

    private static BuildChange? Queued(BuildRecord record)
    {
        // Only a build with nothing to wait for leaves Waiting on BuildQueued; batch dependents are released by the orchestrator.
        if (record.State != BuildState.Waiting || record.DependsOn.Count > 0)
        {
            return null;
        }
        return new BuildChange(record with { State = BuildState.Queued }, QueuedEvent);
    }

    private static BuildChange? Started(BuildRecord record, BuildStarted e)
    {
        var existing = Find(record, e.Platform, e.Attempt);
        var attemptChanged = existing is null || existing.Pod != e.Pod || existing.StartedAt is null
            || e.MemoryLimit is not null && existing.MemoryLimit != e.MemoryLimit || e.MemoryRaised is not null && existing.MemoryRaised != e.MemoryRaised;
        var attempts = attemptChanged
            ? Upsert(record.Attempts, e.Platform, e.Attempt, a => a with
            {
                Pod = e.Pod, StartedAt = a.StartedAt ?? e.At, MemoryLimit = e.MemoryLimit ?? a.MemoryLimit, MemoryRaised = e.MemoryRaised ?? a.MemoryRaised,
            })
            : record.Attempts;
        var latest = IsLatest(record, e.Platform, e.Attempt) && (existing?.EndedAt is null);
        var state = !record.State.IsFinal() && latest ? BuildState.Running : record.State;
        var startedAt = record.StartedAt is { } s && s <= e.At ? s : e.At;
        if (!attemptChanged && state == record.State && startedAt == record.StartedAt)
        {
            return null;
        }
        return new BuildChange(record with { Attempts = attempts, State = state, StartedAt = startedAt }, StartedEvent);
    }

    private static BuildChange? AttemptFailed(BuildRecord record, BuildAttemptFailed e)
    {
        var existing = Find(record, e.Platform, e.Attempt);
        if (existing is { EndedAt: not null } && existing.Reason == e.Reason && record.Resets >= e.Resets)
        {
            return null;
        }
        var attempts = Upsert(record.Attempts, e.Platform, e.Attempt, a => a with
        {
            Reason = e.Reason, Transient = e.Transient, RetryAt = e.RetryAt, Detail = e.Detail, EndedAt = e.At,
        });
        var state = !record.State.IsFinal() && e.Transient && IsLatest(record, e.Platform, e.Attempt) ? BuildState.Retrying : record.State;
        // Resets so far over all attempts: a later BuildSucceeded counts them again (the maximum is kept), and a build
        // that fails keeps them.
        return new BuildChange(record with { Attempts = attempts, State = state, Resets = Math.Max(record.Resets, e.Resets) }, AttemptFailedEvent);
    }

    private static BuildChange? Succeeded(BuildRecord record, BuildSucceeded e)
    {
        if (record.State is BuildState.Failed or BuildState.Cancelled)
        {
            return null;
        }
        if (record.State == BuildState.Succeeded)
        {
            // Already succeeded (e.g. from BuildDeduplicated): fill in only what is missing, for the same digest.
            if (!string.Equals(record.Digest, e.Digest, StringComparison.Ordinal)
                || (record.Pushed.Count > 0 || e.Pushed.Count == 0) && (record.PhaseSeconds.Count > 0 || e.PhaseSeconds.Count == 0)
                && (record.Platforms.Count > 0 || e.Platforms.Count == 0))
            {
                return null;
            }
            return new BuildChange(record with
            {
                Pushed = record.Pushed.Count > 0 ? record.Pushed : e.Pushed,
                Platforms = record.Platforms.Count > 0 ? record.Platforms : e.Platforms,
                PhaseSeconds = record.PhaseSeconds.Count > 0 ? record.PhaseSeconds : e.PhaseSeconds,
            }, SucceededEvent);
        }
        return new BuildChange(record with
        {
            State = BuildState.Succeeded,
            Digest = e.Digest,
            Pushed = e.Pushed,
            Platforms = e.Platforms,
            PhaseSeconds = e.PhaseSeconds,
            Resets = Math.Max(record.Resets, e.Resets),
            Reason = null,
            Attempts = Close(record.Attempts, null, e.At),
            EndedAt = e.At,
        }, SucceededEvent);
    }

    private static BuildChange? Failed(BuildRecord record, BuildFailed e) =>
        End(record, BuildState.Failed, e.Reason, e.Detail, e.At, FailedEvent);

    private static BuildChange? Cancelled(BuildRecord record, BuildCancelled e) =>
        End(record, BuildState.Cancelled, FailureReasons.Cancelled, e.RequestedBy is null ? null : $"cancelled by {e.RequestedBy}", e.At, CancelledEvent);

    /// <summary>The build ended unsuccessfully (nothing when it has ended already): its open attempt closed with the reason.</summary>
    private static BuildChange? End(BuildRecord record, BuildState state, string reason, string? detail, DateTimeOffset at, string eventName)
    {
        if (record.State.IsFinal())
        {
            return null;
        }
        return new BuildChange(record with
        {
            State = state,
            Reason = reason,
            Detail = detail,
            Attempts = Close(record.Attempts, reason, at),
            EndedAt = at,
        }, eventName);
    }

    private static BuildChange? Deduplicated(BuildRecord record, BuildDeduplicated e)
    {
        if (e.Digest is not null)
        {
            if (record.State is BuildState.Failed or BuildState.Cancelled)
            {
                return null;
            }
            if (record.State == BuildState.Succeeded)
            {
                return record.DeduplicatedFrom is null && string.Equals(record.Digest, e.Digest, StringComparison.Ordinal)
                    ? new BuildChange(record with { DeduplicatedFrom = e.OriginalBuildId }, DeduplicatedEvent)
                    : null;
            }
            return new BuildChange(record with
            {
                State = BuildState.Succeeded,
                Digest = e.Digest,
                DeduplicatedFrom = e.OriginalBuildId,
                Reason = null,
                EndedAt = e.At,
            }, DeduplicatedEvent);
        }
        if (e.Reason is not null)
        {
            if (record.State.IsFinal())
            {
                return null;
            }
            return new BuildChange(record with
            {
                State = BuildState.Failed,
                Reason = e.Reason,
                Detail = $"took the outcome of identical build {e.OriginalBuildId}",
                DeduplicatedFrom = e.OriginalBuildId,
                EndedAt = e.At,
            }, DeduplicatedEvent);
        }
        return record.DeduplicatedFrom is null && !record.State.IsFinal()
            ? new BuildChange(record with { DeduplicatedFrom = e.OriginalBuildId }, DeduplicatedEvent)
            : null;
    }

    // An attempt is known by its number and, in a multi-platform build, its platform (each platform numbers its own).
    private static bool Is(AttemptRecord a, string? platform, int attempt) => a.Attempt == attempt && string.Equals(a.Platform, platform, StringComparison.Ordinal);

    private static AttemptRecord? Find(BuildRecord record, string? platform, int attempt) => record.Attempts.FirstOrDefault(a => Is(a, platform, attempt));

    /// <summary>True when no later attempt (of the same platform) is known: only the latest attempt moves the build's state.</summary>
    private static bool IsLatest(BuildRecord record, string? platform, int attempt) =>
        record.Attempts.All(a => a.Attempt <= attempt || !string.Equals(a.Platform, platform, StringComparison.Ordinal));

    private static IReadOnlyList<AttemptRecord> Upsert(IReadOnlyList<AttemptRecord> attempts, string? platform, int attempt, Func<AttemptRecord, AttemptRecord> change)
    {
        var current = attempts.FirstOrDefault(a => Is(a, platform, attempt)) ?? new AttemptRecord { Attempt = attempt, Platform = platform };
        return [.. attempts.Where(a => !Is(a, platform, attempt)).Append(change(current)).OrderBy(a => a.Attempt).ThenBy(a => a.Platform, StringComparer.Ordinal)];
    }

    /// <summary>Ends attempts still open when the build ends (their own failure event may come later and fill in the reason).</summary>
    private static IReadOnlyList<AttemptRecord> Close(IReadOnlyList<AttemptRecord> attempts, string? reason, DateTimeOffset at) =>
        attempts.Any(a => a.EndedAt is null)
            ? [.. attempts.Select(a => a.EndedAt is null ? a with { EndedAt = at, Reason = a.Reason ?? reason } : a)]
            : attempts;
}
