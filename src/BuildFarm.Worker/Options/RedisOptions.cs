using BuildFarm.Hosting;

namespace BuildFarm.Worker.Options;

/// <summary>The <c>Redis</c> configuration section: where dedupe, locks and registry slots live.</summary>
public sealed class RedisOptions
{
    public const string SectionName = "Redis";

    /// <summary>A StackExchange.Redis configuration string (<c>127.0.0.1:6379,password=…</c>). Empty: in-process
    /// coordination, correct for one worker only (demo and tests).</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Prefix of every key the worker writes.</summary>
    public string KeyPrefix { get; set; } = "buildfarm:";

    public bool UseRedis => !string.IsNullOrWhiteSpace(ConnectionString);

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrEmpty(KeyPrefix))
        {
            errors.Add("Redis:KeyPrefix: is required (e.g. 'buildfarm:')");
        }
        if (RedisConnections.ConfigurationProblem("Redis:ConnectionString", ConnectionString) is { } redisProblem)
        {
            errors.Add(redisProblem);
        }
        return errors;
    }
}
