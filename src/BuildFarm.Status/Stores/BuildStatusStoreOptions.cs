using BuildFarm.Hosting;

namespace BuildFarm.Status.Stores;

/// <summary>The <c>Status</c> configuration section: where build and batch records live and how long they stay.</summary>
public sealed class BuildStatusStoreOptions
{
    public const string SectionName = "Status";

    /// <summary>The farm's one Redis setting, read by every host; when set it gives <see cref="RedisConnectionString"/>
    /// (whose configuration key <c>Status:RedisConnectionString</c> is the deprecated old name).</summary>
    public const string SharedRedisSetting = "Redis:ConnectionString";

    /// <summary>A StackExchange.Redis configuration string, from <c>Redis:ConnectionString</c>. Empty: records kept in
    /// process (one host only: demo and tests).</summary>
    public string? RedisConnectionString { get; set; }

    /// <summary>Prefix of every key the status store writes.</summary>
    public string KeyPrefix { get; set; } = "buildfarm:status:";

    /// <summary>How long a record (and its index entries and idempotency keys' batches) stays after its last change.</summary>
    public TimeSpan RecordTtl { get; set; } = TimeSpan.FromDays(7);

    public bool UseRedis => !string.IsNullOrWhiteSpace(RedisConnectionString);

    /// <summary>Every problem with the options, each naming its setting; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrEmpty(KeyPrefix))
        {
            errors.Add($"{SectionName}:KeyPrefix: is required (e.g. 'buildfarm:status:')");
        }
        if (RecordTtl <= TimeSpan.Zero)
        {
            errors.Add($"{SectionName}:RecordTtl: must be positive (e.g. '7.00:00:00'), was '{RecordTtl}'");
        }
        if (RedisConnections.ConfigurationProblem(SharedRedisSetting, RedisConnectionString) is { } redisProblem)
        {
            errors.Add(redisProblem);
        }
        return errors;
    }
}
