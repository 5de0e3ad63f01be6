using StackExchange.Redis;

namespace BuildFarm.Coordination.Redis;

/// <summary>
/// Build dedupe in Redis: one key per build key holding <c>I|buildId</c> (in flight, a lease) or
/// <c>C|buildId|digest</c> (completed, kept for the completed TTL). One round trip per operation.
/// </summary>
public sealed class RedisBuildDedupe(IConnectionMultiplexer redis, RedisKeys keys) : IBuildDedupe
{
    // Returns '' when this build holds the claim (new or re-entered), else the current value.
    private const string ClaimScript = """
        local cur = redis.call('GET', KEYS[1])
        if (not cur) or cur == 'I|' .. ARGV[1] then
          redis.call('SET', KEYS[1], 'I|' .. ARGV[1], 'PX', ARGV[2])
          return ''
        end
        return cur
        """;

    private const string RenewScript = """
        if redis.call('GET', KEYS[1]) == 'I|' .. ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return 1
        end
        return 0
        """;

    // Completes over this build's own claim or an expired one, never over another build's claim.
    private const string CompleteScript = """
        local cur = redis.call('GET', KEYS[1])
        if (not cur) or cur == 'I|' .. ARGV[1] then
          redis.call('SET', KEYS[1], 'C|' .. ARGV[1] .. '|' .. ARGV[2], 'PX', ARGV[3])
          return 1
        end
        return 0
        """;

    private const string AbandonScript = """
        if redis.call('GET', KEYS[1]) == 'I|' .. ARGV[1] then
          return redis.call('DEL', KEYS[1])
        end
        return 0
        """;

    private IDatabase Db => redis.GetDatabase();

    public async Task<DedupeClaim> ClaimAsync(string buildKey, string buildId, TimeSpan inFlightTtl, CancellationToken cancellationToken)
    {
        LeaseArguments.Check(buildKey, buildId, inFlightTtl);
        cancellationToken.ThrowIfCancellationRequested();
        var result = (string?)await Db.ScriptEvaluateAsync(
            ClaimScript, [keys.Dedupe(buildKey)], [buildId, (long)inFlightTtl.TotalMilliseconds]);
        return string.IsNullOrEmpty(result) ? new DedupeClaim(DedupeState.Claimed, buildId, null) : DedupeValue.Parse(result);
    }

    public async Task<bool> RenewAsync(string buildKey, string buildId, TimeSpan inFlightTtl, CancellationToken cancellationToken)
    {
        LeaseArguments.Check(buildKey, buildId, inFlightTtl);
        cancellationToken.ThrowIfCancellationRequested();
        var result = await Db.ScriptEvaluateAsync(
            RenewScript, [keys.Dedupe(buildKey)], [buildId, (long)inFlightTtl.TotalMilliseconds]);
        return (long)result == 1;
    }

    public async Task<bool> CompleteAsync(string buildKey, string buildId, string digest, TimeSpan completedTtl, CancellationToken cancellationToken)
    {
        LeaseArguments.Check(buildKey, buildId, completedTtl);
        ArgumentException.ThrowIfNullOrWhiteSpace(digest);
        cancellationToken.ThrowIfCancellationRequested();
        var result = await Db.ScriptEvaluateAsync(
            CompleteScript, [keys.Dedupe(buildKey)], [buildId, digest, (long)completedTtl.TotalMilliseconds]);
        return (long)result == 1;
    }

    public async Task AbandonAsync(string buildKey, string buildId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(buildKey);
        ArgumentException.ThrowIfNullOrWhiteSpace(buildId);
        cancellationToken.ThrowIfCancellationRequested();
        await Db.ScriptEvaluateAsync(AbandonScript, [keys.Dedupe(buildKey)], [buildId]);
    }
}

internal static class DedupeValue
{
    public static DedupeClaim Parse(string value)
    {
        if (value.StartsWith("I|", StringComparison.Ordinal))
        {
            return new DedupeClaim(DedupeState.InFlight, value[2..], null);
        }
        if (value.StartsWith("C|", StringComparison.Ordinal))
        {
            // The digest never contains '|'; the build id might, so split at the last one.
            var rest = value[2..];
            var bar = rest.LastIndexOf('|');
            if (bar > 0)
            {
                return new DedupeClaim(DedupeState.Completed, rest[..bar], rest[(bar + 1)..]);
            }
        }
        throw new FormatException($"unexpected dedupe record '{value}'");
    }
}
