namespace BuildFarm.Coordination.Scheduling;

/// <summary>The <c>Scheduling</c> configuration section: admission (docs/scheduling.md "Admission"). Every host that publishes
/// builds (the API, the batch orchestrator) and every worker must agree on <see cref="Admission"/>.</summary>
public sealed class AdmissionOptions
{
    public const string SectionName = "Scheduling";

    /// <summary>On: ready builds wait in Redis and are released to the broker only as slots free up, in the scheduling
    /// policy's order. Off (default): builds are published at once and run in queue order.</summary>
    public bool Admission { get; set; }

    /// <summary>The order admission releases ready builds in: <see cref="SchedulingPolicyKind.Fair"/> (default: weighted
    /// fair share, priority, critical path first; weights in <c>Scheduling:FairShare</c>) or <see cref="SchedulingPolicyKind.Fifo"/>
    /// (first ready, first started).</summary>
    public SchedulingPolicyKind Policy { get; set; } = SchedulingPolicyKind.Fair;

    /// <summary>How often a worker's dispatcher looks for free slots when nothing wakes it (a local build ending does).</summary>
    public TimeSpan DispatchInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How often a worker renews its slots in the admission store.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A worker whose heartbeat is this old is dead: its slots leave the capacity.</summary>
    public TimeSpan HeartbeatTtl { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>A build admitted but not started for this long is published again (its releaser may have died before publishing).</summary>
    public TimeSpan RepublishAfter { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>A build in flight (admitted, not ended) this long is ended by the sweep: its end may never have reached the store.</summary>
    public TimeSpan MaxInFlightAge { get; set; } = TimeSpan.FromHours(6);

    /// <summary>Ready builds offered to the policy per (tenant, group), at most.</summary>
    public int CandidatesPerGroup { get; set; } = 32;

    /// <summary>Groups offered to the policy per decision, at most (those that became ready first).</summary>
    public int MaxGroups { get; set; } = 200;

    /// <summary>How long a release waits for the broker to confirm a publish.</summary>
    public TimeSpan PublishTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The setting of the connection to the Redis the admission store lives in (the one Redis setting of every host).</summary>
    public const string RedisSetting = "Redis:ConnectionString";

    /// <summary>
    /// The problem of an API or worker process started with admission on (<paramref name="admission"/>, the raw
    /// <c>Scheduling:Admission</c>) and no Redis (<paramref name="redisConnectionString"/> empty), or null. Its admission
    /// store would then be in process: the builds an API queues there are seen by no worker and never start, and a worker
    /// offers its slots to no other host. <c>buildfarm demo</c> (one process) does not check this.
    /// </summary>
    public static string? SharedStoreProblem(string? admission, string? redisConnectionString) =>
        bool.TryParse(admission, out var on) && on && string.IsNullOrWhiteSpace(redisConnectionString)
            ? $"{SectionName}:Admission: true needs {RedisSetting} (environment Redis__ConnectionString): without Redis the admission "
                + "store would be in this process only, where no other API or worker sees the builds queued in it and they never start; "
                + $"set {RedisSetting} on every API and worker, or {SectionName}:Admission=false on all of them"
            : null;

    /// <summary><see cref="SharedStoreProblem(string?, string?)"/> of a host's configuration.</summary>
    public static string? SharedStoreProblem(Func<string, string?> setting)
    {
        ArgumentNullException.ThrowIfNull(setting);
        return SharedStoreProblem(setting($"{SectionName}:Admission"), setting(RedisSetting));
    }

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!Enum.IsDefined(Policy))
        {
            errors.Add($"{SectionName}:Policy: must be Fair or Fifo");
        }
        Positive(errors, nameof(DispatchInterval), DispatchInterval, TimeSpan.FromMilliseconds(10));
        Positive(errors, nameof(HeartbeatInterval), HeartbeatInterval, TimeSpan.FromMilliseconds(10));
        Positive(errors, nameof(RepublishAfter), RepublishAfter, TimeSpan.FromSeconds(1));
        Positive(errors, nameof(PublishTimeout), PublishTimeout, TimeSpan.FromMilliseconds(10));
        if (MaxInFlightAge < TimeSpan.FromMinutes(1) || MaxInFlightAge > TimeSpan.FromDays(7))
        {
            errors.Add($"{SectionName}:MaxInFlightAge: {MaxInFlightAge} must be between 1 minute and 7 days");
        }
        if (HeartbeatTtl < HeartbeatInterval * 2)
        {
            errors.Add($"{SectionName}:HeartbeatTtl: {HeartbeatTtl} must be at least twice {SectionName}:HeartbeatInterval ({HeartbeatInterval})");
        }
        if (CandidatesPerGroup is < 1 or > AdmissionLimits.MaxPerGroup)
        {
            errors.Add($"{SectionName}:CandidatesPerGroup: {CandidatesPerGroup} must be between 1 and {AdmissionLimits.MaxPerGroup}");
        }
        if (MaxGroups is < 1 or > AdmissionLimits.MaxGroups)
        {
            errors.Add($"{SectionName}:MaxGroups: {MaxGroups} must be between 1 and {AdmissionLimits.MaxGroups}");
        }
        return errors;
    }

    private static void Positive(List<string> errors, string name, TimeSpan value, TimeSpan min)
    {
        if (value < min || value > TimeSpan.FromHours(1))
        {
            errors.Add($"{SectionName}:{name}: {value} must be between {min} and 1 hour");
        }
    }
}

/// <summary>The scheduling policies admission can apply (<see cref="AdmissionOptions.Policy"/>).</summary>
public enum SchedulingPolicyKind
{
    /// <summary><see cref="WeightedFairSchedulingPolicy"/>.</summary>
    Fair,

    /// <summary><see cref="FifoSchedulingPolicy"/>.</summary>
    Fifo,
}
