using StackExchange.Redis;

namespace BuildFarm.Coordination.Redis;

/// <summary>
/// Cancel markers in Redis: one key per build id holding <c>R|requestedBy</c> with a PX expiry (<c>SET NX</c>, so the
/// first request wins). One round trip per operation.
/// </summary>
public sealed class RedisCancelRequests(IConnectionMultiplexer redis, RedisKeys keys) : ICancelRequests
{
    private IDatabase Db => redis.GetDatabase();

    public async Task RequestAsync(string buildId, string? requestedBy, TimeSpan ttl, CancellationToken cancellationToken)
    {
        LeaseArguments.Check(buildId, requestedBy ?? "-", ttl);
        cancellationToken.ThrowIfCancellationRequested();
        await Db.StringSetAsync(keys.Cancel(buildId), "R|" + requestedBy, ttl, When.NotExists);
    }

    public async Task<CancelRequest?> FindAsync(string buildId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(buildId);
        cancellationToken.ThrowIfCancellationRequested();
        var value = (string?)await Db.StringGetAsync(keys.Cancel(buildId));
        if (value is null)
        {
            return null;
        }
        return value.StartsWith("R|", StringComparison.Ordinal)
            ? new CancelRequest(value.Length > 2 ? value[2..] : null)
            : throw new FormatException($"unexpected cancel marker '{value}'");
    }
}
