namespace BuildFarm.Manifests.Scheduling;

/// <summary>The <c>Scheduler</c> configuration section: scheduled rebuilds from a manifest (docs/manifests.md).</summary>
public sealed class ManifestSchedulerOptions
{
    public const string SectionName = "Scheduler";

    /// <summary>The farm's one Redis setting; when set in the host's configuration it gives <see cref="RedisConnectionString"/>
    /// (whose configuration key <c>Scheduler:RedisConnectionString</c> is the deprecated old name).</summary>
    public const string SharedRedisSetting = "Redis:ConnectionString";

    /// <summary>Run the scheduler in this host (<c>AddBuildFarmScheduler</c> on a host builder reads it).</summary>
    public bool Enabled { get; set; }

    /// <summary>The manifest file whose <c>schedule</c> entries fire.</summary>
    public string? ManifestPath { get; set; }

    /// <summary>The manifest text itself, instead of <see cref="ManifestPath"/> (tests, embedding).</summary>
    public string? ManifestYaml { get; set; }

    public MissedSchedulePolicy Missed { get; set; } = MissedSchedulePolicy.Skip;

    /// <summary>The revision scheduled batches use for <c>{sha}</c>; when empty each occurrence uses
    /// <c>s&lt;yyMMddHHmm&gt;</c> of its own UTC time (e.g. <c>s2611290300</c>), so its tags never repeat.</summary>
    public string? Sha { get; set; }

    /// <summary>StackExchange.Redis configuration string (in a host: <c>Redis:ConnectionString</c>); empty = in-process
    /// coordination (one instance only).</summary>
    public string? RedisConnectionString { get; set; }

    /// <summary>Prefix of every Redis key the scheduler writes; give each manifest its own when several share a Redis.</summary>
    public string KeyPrefix { get; set; } = "buildfarm:";

    /// <summary>This instance's id in the leader lease and claims; default: host name and a random suffix.</summary>
    public string? InstanceId { get; set; }

    /// <summary>How often the leader looks at its schedules (it also wakes at the next occurrence).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The leader lease; renewed every poll, so it must exceed two poll intervals.</summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>An occurrence seen later than this is "missed" and follows <see cref="Missed"/>.</summary>
    public TimeSpan LateTolerance { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How long a claim protects an occurrence being published; if the claimant dies, another instance retries after it.</summary>
    public TimeSpan ClaimTtl { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How long a fired occurrence is remembered.</summary>
    public TimeSpan ClaimRetention { get; set; } = TimeSpan.FromDays(7);

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(ManifestPath) == string.IsNullOrWhiteSpace(ManifestYaml))
        {
            errors.Add("Scheduler:ManifestPath: give the manifest's path (or ManifestYaml), exactly one of the two");
        }
        if (!Enum.IsDefined(Missed))
        {
            errors.Add($"Scheduler:Missed: '{Missed}' must be Skip or RunOnce");
        }
        if (string.IsNullOrEmpty(KeyPrefix))
        {
            errors.Add("Scheduler:KeyPrefix: is required (e.g. 'buildfarm:')");
        }
        if (PollInterval <= TimeSpan.Zero)
        {
            errors.Add("Scheduler:PollInterval: must be positive");
        }
        if (LeaseTtl <= PollInterval * 2)
        {
            errors.Add($"Scheduler:LeaseTtl: {LeaseTtl} must exceed two poll intervals ({PollInterval * 2}) or the lease lapses between renewals");
        }
        if (LateTolerance < TimeSpan.Zero || ClaimTtl <= TimeSpan.Zero || ClaimRetention <= ClaimTtl)
        {
            errors.Add("Scheduler: LateTolerance must be >= 0, ClaimTtl > 0 and ClaimRetention > ClaimTtl");
        }
        if (Sha is { Length: > 0 } && !Planning.ManifestTemplates.TryNormalizeSha(Sha, out _, out var shaError))
        {
            errors.Add($"Scheduler:Sha: {shaError}");
        }
        return errors;
    }
}
