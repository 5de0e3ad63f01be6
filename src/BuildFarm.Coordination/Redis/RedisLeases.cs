using StackExchange.Redis;

namespace BuildFarm.Coordination.Redis;

/// <summary>
/// The lease primitives every Redis lease of the farm is made of: a key holding its holder's value with a PX expiry, taken
/// only when free, extended and deleted only by the holder that still has it (compare-and-extend, compare-and-delete, one
/// script each). Destination locks (<see cref="RedisDestinationLocks"/>, value <c>token|holder</c>) and the manifest
/// scheduler's leader lease (value: the instance id) both use them.
/// </summary>
public static class RedisLeases
{
    private const string ExtendScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return 1
        end
        return 0
        """;

    private const string ReleaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          return redis.call('DEL', KEYS[1])
        end
        return 0
        """;

    /// <summary>Sets <paramref name="key"/> to <paramref name="value"/> for <paramref name="ttl"/> when it is free (SET NX PX).</summary>
    public static Task<bool> TryTakeAsync(IDatabase db, RedisKey key, string value, TimeSpan ttl)
    {
        ArgumentNullException.ThrowIfNull(db);
        return db.StringSetAsync(key, value, TimeSpan.FromMilliseconds(Milliseconds(ttl)), When.NotExists);
    }

    /// <summary>Extends the lease to <paramref name="ttl"/> from now when <paramref name="key"/> still holds <paramref name="value"/>.</summary>
    public static async Task<bool> TryExtendAsync(IDatabase db, RedisKey key, string value, TimeSpan ttl)
    {
        ArgumentNullException.ThrowIfNull(db);
        return (long)await db.ScriptEvaluateAsync(ExtendScript, [key], [value, Milliseconds(ttl)]).ConfigureAwait(false) == 1;
    }

    /// <summary>Deletes <paramref name="key"/> when it still holds <paramref name="value"/> (a lease taken over by another holder stays).</summary>
    public static async Task<bool> ReleaseAsync(IDatabase db, RedisKey key, string value)
    {
        ArgumentNullException.ThrowIfNull(db);
        return (long)await db.ScriptEvaluateAsync(ReleaseScript, [key], [value]).ConfigureAwait(false) == 1;
    }

    /// <summary>A lease time in whole milliseconds, at least 1 (PX 0 is an error in Redis).</summary>
    public static long Milliseconds(TimeSpan ttl) => Math.Max(1, (long)ttl.TotalMilliseconds);
}
