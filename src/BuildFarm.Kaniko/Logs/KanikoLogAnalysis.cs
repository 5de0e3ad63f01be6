namespace BuildFarm.Kaniko.Logs;

/// <summary>How the Kaniko lines of a log are laid out.</summary>
public enum KanikoLogFormat
{
    Unknown,
    /// <summary><c>INFO[…] msg</c> lines, ESC bytes present, stripped or left as remnants.</summary>
    Color,
    /// <summary><c>time="…" level=info msg="…"</c> lines.</summary>
    Text,
    /// <summary>One JSON object per line.</summary>
    Json,
}

/// <summary>The best clock found in a log, in order of preference.</summary>
public enum KanikoLogClock
{
    None,
    /// <summary>Whole seconds since the executor started (<c>INFO[0012]</c>).</summary>
    Elapsed,
    /// <summary>Kaniko's own RFC3339 timestamps (1 s resolution).</summary>
    Rfc3339,
    /// <summary>The Kubernetes <c>timestamps=true</c> RFC3339Nano prefix (ns resolution).</summary>
    Kubernetes,
}

public enum KanikoOutcome
{
    /// <summary>Neither success nor a fatal line: killed or truncated.</summary>
    Incomplete,
    Succeeded,
    Failed,
}

/// <summary>Time spent in one phase and how many times it began. Seconds are null without a usable clock.</summary>
public sealed record PhaseTiming(double? Seconds, int Count)
{
    public static PhaseTiming None { get; } = new(null, 0);
}

/// <summary>An image pushed to one of the build's destinations (not a cache layer).</summary>
public sealed record PushedImage(string Image, string Digest);

/// <summary>
/// The result of analysing one Kaniko log: the contract of docs/kaniko-log-analysis.md.
/// Serialised with exactly the keys of that contract by <c>KanikoLogAnalysisJson</c>.
/// </summary>
public sealed record KanikoLogAnalysis
{
    public KanikoLogFormat Format { get; init; }
    public KanikoLogClock Clock { get; init; }
    public KanikoOutcome Outcome { get; init; }

    /// <summary>A reason from <see cref="BuildFarm.Contracts.FailureReasons"/>, or null when the log shows no failure.</summary>
    public string? Reason { get; init; }

    /// <summary>Whether <see cref="Reason"/> is retried in a new pod (false without a reason).</summary>
    public bool Transient { get; init; }

    /// <summary>The phase the fatal error happened in, or null.</summary>
    public KanikoPhase? FailedPhase { get; init; }

    public PhaseTiming Pull { get; init; } = PhaseTiming.None;
    public PhaseTiming Extract { get; init; } = PhaseTiming.None;
    public PhaseTiming Build { get; init; } = PhaseTiming.None;
    public PhaseTiming Push { get; init; } = PhaseTiming.None;

    /// <summary>"connection reset by peer" occurrences by phase (retried and fatal).</summary>
    public IReadOnlyDictionary<KanikoPhase, int> Resets { get; init; } = new Dictionary<KanikoPhase, int>();

    /// <summary><c>Retrying operation after …</c> lines by phase (pull, extract, push).</summary>
    public IReadOnlyDictionary<KanikoPhase, int> Retries { get; init; } = new Dictionary<KanikoPhase, int>();

    /// <summary>Retried tries the registry refused (429 Too Many Requests, 5xx: the error text is
    /// <c>registry_unavailable</c>) by phase (pull, extract, push); resets are in <see cref="Resets"/>. Not part of the JSON
    /// contract.</summary>
    public IReadOnlyDictionary<KanikoPhase, int> Refusals { get; init; } = new Dictionary<KanikoPhase, int>();

    public int CacheHits { get; init; }
    public int CacheMisses { get; init; }

    /// <summary>Final images pushed to the build's destinations, in log order.</summary>
    public IReadOnlyList<PushedImage> Pushed { get; init; } = [];

    /// <summary>The destinations given to the analyzer whose final push the log does not show, as given (empty without destinations).</summary>
    public IReadOnlyList<string> NotPushed { get; init; } = [];

    /// <summary>Why the outcome is <see cref="KanikoOutcome.Incomplete"/> (which destination was never pushed, what was pushed instead); null otherwise.</summary>
    public string? Note { get; init; }

    /// <summary>
    /// The registry host the first base image was retrieved from (<c>Retrieving image … from registry X</c>, also
    /// "registry mirror X" and "mapped registry X"), lower-cased; null when the log does not say. Not part of the JSON contract.
    /// </summary>
    public string? BaseRegistry { get; init; }

    /// <summary>The final error line (with any continuation lines joined), or null.</summary>
    public string? Error { get; init; }

    /// <summary>The exit status of a failing RUN step (<c>waiting for process to exit: exit status N</c>), or null.</summary>
    public int? StepExitCode { get; init; }

    /// <summary>
    /// The first and last time seen on the reported clock (UTC), or null without a clock, or with the elapsed
    /// clock when the container start time was not given. Not part of the JSON contract.
    /// </summary>
    public DateTimeOffset? FirstTimestamp { get; init; }

    public DateTimeOffset? LastTimestamp { get; init; }

    /// <summary>
    /// When each phase with time first began, on the same clock as <see cref="FirstTimestamp"/> (absent without that clock
    /// or when the phase took no time). A phase's time may be split (a pull inside a later stage); with its seconds this
    /// places it as one span from its first start. Not part of the JSON contract.
    /// </summary>
    public IReadOnlyDictionary<KanikoPhase, DateTimeOffset> PhaseStarts { get; init; } = new Dictionary<KanikoPhase, DateTimeOffset>();

    public int ResetsIn(KanikoPhase phase) => Resets.TryGetValue(phase, out var n) ? n : 0;
    public int RetriesIn(KanikoPhase phase) => Retries.TryGetValue(phase, out var n) ? n : 0;
    public int RefusalsIn(KanikoPhase phase) => Refusals.TryGetValue(phase, out var n) ? n : 0;
    public int TotalResets => Resets.Values.Sum();
}
