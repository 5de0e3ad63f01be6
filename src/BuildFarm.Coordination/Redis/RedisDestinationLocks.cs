using StackExchange.Redis;

namespace BuildFarm.Coordination.Redis;

/// <summary>
/// Destination locks in Redis: the lock key holds <c>token|holder</c> with a PX expiry, and a per-destination
/// counter issues fencing tokens. Each operation is one round trip (a script or a GET); renew and release are the shared
/// <see cref="RedisLeases"/> scripts.
/// </summary>
public sealed class RedisDestinationLocks(IConnectionMultiplexer redis, RedisKeys keys) : IDestinationLocks
{
    // Re-entrant for the same holder: a redelivered build takes its own lock back with a new token.
    private const string AcquireScript = """
        local cur = redis.call('GET', KEYS[1])
        if cur then
          local sep = string.find(cur, '|', 1, true)
          if string.sub(cur, sep + 1) ~= ARGV[1] then return -1 end
        end
        local token = redis.call('INCR', KEYS[2])
        redis.call('PEXPIRE', KEYS[2], ARGV[3])
        redis.call('SET', KEYS[1], token .. '|' .. ARGV[1], 'PX', ARGV[2])
        return token
        """;

    // Fencing counters outlive any lease by far; they expire only after a month without use.
    private static readonly long FenceRetentionMs = (long)TimeSpan.FromDays(30).TotalMilliseconds;

    private IDatabase Db => redis.GetDatabase();

    public async Task<Lease?> TryAcquireAsync(string destination, string holder, TimeSpan ttl, CancellationToken cancellationToken)
    {
        LeaseArguments.Check(destination, holder, ttl);
        cancellationToken.ThrowIfCancellationRequested();
        var result = await Db.ScriptEvaluateAsync(
            AcquireScript,
            [keys.Lock(destination), keys.LockFence(destination)],
            [holder, (long)ttl.TotalMilliseconds, FenceRetentionMs]);
        var token = (long)result;
        return token < 0 ? null : new Lease(destination, holder, token);
    }

    public async Task<bool> RenewAsync(Lease lease, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        cancellationToken.ThrowIfCancellationRequested();
        return await RedisLeases.TryExtendAsync(Db, keys.Lock(lease.Resource), Value(lease), ttl);
    }

    public async Task<bool> IsCurrentAsync(Lease lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        cancellationToken.ThrowIfCancellationRequested();
        var current = await Db.StringGetAsync(keys.Lock(lease.Resource));
        return current == Value(lease);
    }

    public async Task<bool> ReleaseAsync(Lease lease, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        cancellationToken.ThrowIfCancellationRequested();
        return await RedisLeases.ReleaseAsync(Db, keys.Lock(lease.Resource), Value(lease));
    }

    private static string Value(Lease lease) =>
        lease.FencingToken.ToString(System.Globalization.CultureInfo.InvariantCulture) + "|" + lease.Holder;
}
