using System.Globalization;
using StackExchange.Redis;

namespace BuildFarm.Coordination.Redis;

/// <summary>
/// Learned memory figures in Redis: one hash per repository (<c>limit</c>, <c>request</c> in bytes) with an expiry. A read
/// is one <c>HMGET</c>; a write is <c>HSET</c>, <c>HDEL</c> of an absent request and <c>PEXPIRE</c> in one transaction
/// (one round trip).
/// </summary>
public sealed class RedisMemoryHistory(IConnectionMultiplexer redis, RedisKeys keys) : IMemoryHistory
{
    private static readonly RedisValue[] Fields = ["limit", "request"];

    private IDatabase Db => redis.GetDatabase();

    public async Task<LearnedMemory?> FindAsync(string repository, CancellationToken cancellationToken)
    {
        LearnedMemory.CheckRepository(repository);
        cancellationToken.ThrowIfCancellationRequested();
        var values = await Db.HashGetAsync(keys.Memory(repository), Fields);
        return LearnedMemory.Read(AsLong(values[0]), AsLong(values[1]));
    }

    public async Task RecordAsync(string repository, LearnedMemory memory, TimeSpan ttl, CancellationToken cancellationToken)
    {
        LearnedMemory.Check(repository, memory, ttl);
        cancellationToken.ThrowIfCancellationRequested();
        var key = keys.Memory(repository);
        var transaction = Db.CreateTransaction();
        var set = memory.RequestBytes is { } request
            ? transaction.HashSetAsync(key, [new HashEntry("limit", memory.LimitBytes), new HashEntry("request", request)])
            : Task.WhenAll(transaction.HashSetAsync(key, "limit", memory.LimitBytes), transaction.HashDeleteAsync(key, "request"));
        var expire = transaction.KeyExpireAsync(key, ttl);
        await transaction.ExecuteAsync();
        await Task.WhenAll(set, expire);
    }

    private static long? AsLong(RedisValue value) => value.IsNull ? null : long.TryParse((string?)value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1;
}
