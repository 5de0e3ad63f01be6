namespace BuildFarm.Coordination.Redis;

/// <summary>
/// Key layout. The resource name sits inside a hash tag (<c>{…}</c>) so that every key a script touches
/// for one resource lands in the same Redis Cluster slot.
/// </summary>
public sealed class RedisKeys(string prefix)
{
    public string Prefix { get; } = string.IsNullOrEmpty(prefix) ? throw new ArgumentException("a key prefix is required", nameof(prefix)) : prefix;

    public string Lock(string destination) => $"{Prefix}lock:{{{destination}}}";
    public string LockFence(string destination) => $"{Prefix}lock:{{{destination}}}:fence";
    public string Slots(string registry) => $"{Prefix}slots:{{{registry}}}";
    public string Limit(string registry) => $"{Prefix}limit:{{{registry}}}";
    public string Dedupe(string buildKey) => $"{Prefix}dedupe:{{{buildKey}}}";
    public string Cancel(string buildId) => $"{Prefix}cancel:{{{buildId}}}";
    public string Memory(string repository) => $"{Prefix}memory:{{{repository}}}";

    /// <summary>The prefix of every admission key; one hash tag for all of them: each admission script is one atomic step.</summary>
    public string Admission() => $"{Prefix}admission:{{farm}}:";
}
