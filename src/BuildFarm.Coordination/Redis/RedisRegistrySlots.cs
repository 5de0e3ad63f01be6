using StackExchange.Redis;

namespace BuildFarm.Coordination.Redis;

/// <summary>
/// Registry slots in Redis: one sorted set per registry whose members are holders scored by their
/// expiry (Redis server time, ms). Expired members are dropped before every decision, so the slots of a
/// dead worker come back when its leases run out. One round trip per operation.
/// </summary>
public sealed class RedisRegistrySlots(IConnectionMultiplexer redis, RedisKeys keys) : IRegistrySlots
{
    private const string NowMs = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        """;

    private const string AcquireScript = NowMs + """
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        local ttl = tonumber(ARGV[3])
        if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
          return 0
        end
        redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
        if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
        return 1
        """;

    private const string RenewScript = NowMs + """
        local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
        if not score or tonumber(score) <= now then
          redis.call('ZREM', KEYS[1], ARGV[1])
          return 0
        end
        local ttl = tonumber(ARGV[2])
        redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
        if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
        return 1
        """;

    private const string CountScript = NowMs + """
        return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
        """;

    private IDatabase Db => redis.GetDatabase();

    public async Task<Lease?> TryAcquireAsync(string registry, string holder, int limit, TimeSpan ttl, CancellationToken cancellationToken)
    {
        LeaseArguments.Check(registry, holder, ttl);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        cancellationToken.ThrowIfCancellationRequested();
        var result = await Db.ScriptEvaluateAsync(
            AcquireScript, [keys.Slots(registry)], [holder, limit, (long)ttl.TotalMilliseconds]);
        return (long)result == 1 ? new Lease(registry, holder, 0) : null;
    }

    public async Task<bool> RenewAsync(Lease lease, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        cancellationToken.ThrowIfCancellationRequested();
        var result = await Db.ScriptEvaluateAsync(
            RenewScript, [keys.Slots(lease.Resource)], [lease.Holder, (long)ttl.TotalMilliseconds]);
        return (long)result == 1;
    }

    public async Task ReleaseAsync(Lease lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        cancellationToken.ThrowIfCancellationRequested();
        await Db.SortedSetRemoveAsync(keys.Slots(lease.Resource), lease.Holder);
    }

    public async Task<int> CountAsync(string registry, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(registry);
        cancellationToken.ThrowIfCancellationRequested();
        var result = await Db.ScriptEvaluateAsync(CountScript, [keys.Slots(registry)]);
        return (int)(long)result;
    }
}
