using BuildFarm.Contracts;

namespace BuildFarm.Wire;

/// <summary>Where a build stands. Wire form: the lower-case name (<see cref="BuildStates"/>).</summary>
public enum BuildState
{
    /// <summary>Part of a batch, waiting for its dependencies to succeed; not published yet.</summary>
    Waiting,

    /// <summary>Published; no worker has started a pod yet.</summary>
    Queued,

    /// <summary>An attempt's pod exists.</summary>
    Running,

    /// <summary>An attempt failed transiently; the next one starts at the retry time.</summary>
    Retrying,

    Succeeded,
    Failed,
    Cancelled,
}

public static class BuildStates
{
    public static string ToWire(this BuildState state) => state switch
    {
        BuildState.Waiting => "waiting",
        BuildState.Queued => "queued",
        BuildState.Running => "running",
        BuildState.Retrying => "retrying",
        BuildState.Succeeded => "succeeded",
        BuildState.Failed => "failed",
        BuildState.Cancelled => "cancelled",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, "unknown build state"),
    };

    public static bool TryParse(string? wire, out BuildState state)
    {
        foreach (var candidate in Enum.GetValues<BuildState>())
        {
            if (string.Equals(candidate.ToWire(), wire, StringComparison.Ordinal))
            {
                state = candidate;
                return true;
            }
        }
        state = default;
        return false;
    }

    public static bool IsFinal(this BuildState state) => state is BuildState.Succeeded or BuildState.Failed or BuildState.Cancelled;
}

/// <summary>One attempt of a build: one pod.</summary>
public sealed record AttemptRecord
{
    public required int Attempt { get; init; }

    /// <summary>The platform this attempt built in a multi-platform build (each platform numbers its own attempts); null otherwise.</summary>
    public string? Platform { get; init; }

    public string? Pod { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? EndedAt { get; init; }

    /// <summary>Null while running or when the attempt succeeded; a <see cref="FailureReasons"/> value otherwise.</summary>
    public string? Reason { get; init; }

    public bool Transient { get; init; }
    public DateTimeOffset? RetryAt { get; init; }
    public string? Detail { get; init; }

    /// <summary>The memory limit of the attempt's pod (a Kubernetes quantity, <c>2Gi</c>): the spec's own, the farm's default,
    /// or a figure learned from the image's earlier OOM kills. Null when the pod has none (or the worker did not say).</summary>
    public string? MemoryLimit { get; init; }

    /// <summary>True when the attempt's memory was doubled after an earlier attempt of the build was OOM-killed; absent otherwise.</summary>
    public bool? MemoryRaised { get; init; }

    /// <summary>
    /// The attempt's log: <c>/v1/builds/{id}/logs?attempt=N</c> (text/plain; <c>follow=true</c> streams it). Always set in
    /// the API's answers (<see cref="BuildRecord.AsWire"/>); not kept in the stored record, which the URL derives from.
    /// </summary>
    public string? Log { get; init; }
}

/// <summary>
/// What the farm knows about one build, kept from its events. Records are replaced whole on each change
/// (<see cref="Version"/> increases by one each time), never edited in place. Not sealed: the status store keeps a derived
/// record with the batch orchestrator's own state beside these fields; <see cref="AsWire"/> is what the API answers.
/// </summary>
public record BuildRecord
{
    public required string BuildId { get; init; }
    public string? BatchId { get; init; }

    /// <summary>The image's name in its batch's manifest.</summary>
    public string? Name { get; init; }

    public required BuildSpec Spec { get; init; }
    public BuildState State { get; init; }

    /// <summary>The final reason when failed or cancelled (<see cref="FailureReasons"/>).</summary>
    public string? Reason { get; init; }

    public string? Detail { get; init; }
    public string? Digest { get; init; }
    public IReadOnlyList<string> Pushed { get; init; } = [];

    /// <summary>A succeeded multi-platform build: each platform's image digest; <see cref="Digest"/> is the index over them.
    /// Empty for a single-platform build.</summary>
    public IReadOnlyList<PlatformImage> Platforms { get; init; } = [];

    public IReadOnlyList<AttemptRecord> Attempts { get; init; } = [];

    /// <summary>Seconds per phase of the successful attempt (<c>pull</c>, <c>extract</c>, <c>build</c>, <c>push</c>).</summary>
    public IReadOnlyDictionary<string, double> PhaseSeconds { get; init; } = new Dictionary<string, double>();

    /// <summary>"connection reset by peer" over all attempts.</summary>
    public int Resets { get; init; }

    /// <summary>Set when the build took another identical build's outcome.</summary>
    public string? DeduplicatedFrom { get; init; }

    /// <summary>Set on a re-run (<c>POST /v1/builds/{id}/rerun</c>): the build id of the build it runs again.</summary>
    public string? RerunOf { get; init; }

    /// <summary>Build ids this build waits for (batch dependencies).</summary>
    public IReadOnlyList<string> DependsOn { get; init; } = [];

    /// <summary>The <c>BuildImage</c> priority (0–9) the build is (or will be) published with.</summary>
    public int Priority { get; init; }

    /// <summary>When the whole build must have ended (the <c>BuildImage</c> deadline).</summary>
    public DateTimeOffset? Deadline { get; init; }

    public string? RequestedBy { get; init; }

    /// <summary>
    /// The tenant (team) that owns the build: the submitting API key's tenant (<c>BuildFarm.Status.Tenants</c>), never taken from a
    /// request body. Set once and kept for the record's life. Null on records written before tenants existed, which only
    /// admin keys see.
    /// </summary>
    public string? Tenant { get; init; }

    public DateTimeOffset SubmittedAt { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? EndedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>1 for a new record, +1 per change; SSE event ids and optimistic updates use it.</summary>
    public long Version { get; init; }

    /// <summary>This record as the API answers it: exactly the fields above (a derived record's own state left out), each
    /// attempt with the link to its log (<see cref="AttemptRecord.Log"/>).</summary>
    public BuildRecord AsWire()
    {
        var wire = GetType() == typeof(BuildRecord) ? this : new BuildRecord(this);
        return Attempts.Count == 0 ? wire : wire with { Attempts = [.. Attempts.Select(a => a with { Log = LogPath(BuildId, a.Attempt) })] };
    }

    /// <summary>The API path of one attempt's log: <c>/v1/builds/{id}/logs?attempt=N</c>.</summary>
    public static string LogPath(string buildId, int attempt) =>
        $"/v1/builds/{Uri.EscapeDataString(buildId)}/logs?attempt={attempt.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
}

/// <summary>A page of builds; <see cref="Continue"/> is null on the last page.</summary>
public sealed record BuildPage(IReadOnlyList<BuildRecord> Items, string? Continue);
