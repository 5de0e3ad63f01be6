using StackExchange.Redis;

namespace BuildFarm.Status.Stores;

/// <summary><see cref="IIdempotencyStore"/> in Redis: one string per key (<c>P idem:SCOPE:KEY</c>) with the TTL.</summary>
public sealed class RedisIdempotencyStore(IConnectionMultiplexer redis, string keyPrefix) : IIdempotencyStore
{
    private readonly string _prefix = keyPrefix ?? throw new ArgumentNullException(nameof(keyPrefix));

    public async Task<string> GetOrSetIdempotencyAsync(string scope, string key, string value, TimeSpan ttl, CancellationToken cancellationToken)
    {
        IdempotencyArguments.Check(scope, key, value, ttl);
        cancellationToken.ThrowIfCancellationRequested();
        // SET NX GET (Redis 7): the earlier value when the key was there, else nil and ours is stored.
        var earlier = await redis.GetDatabase().StringSetAndGetAsync($"{_prefix}idem:{scope}:{key}", value, (TimeSpan?)ttl, When.NotExists, CommandFlags.None)
            .ConfigureAwait(false);
        return earlier.IsNull ? value : (string)earlier!;
    }
}

/// <summary><see cref="IIdempotencyStore"/> in process: entries expire by the given clock.</summary>
public sealed class InMemoryIdempotencyStore(TimeProvider time) : IIdempotencyStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (string Value, DateTimeOffset ExpiresAt)> _entries = new(StringComparer.Ordinal);

    public Task<string> GetOrSetIdempotencyAsync(string scope, string key, string value, TimeSpan ttl, CancellationToken cancellationToken)
    {
        IdempotencyArguments.Check(scope, key, value, ttl);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var now = time.GetUtcNow();
            var id = scope + "\n" + key;
            if (_entries.TryGetValue(id, out var existing) && existing.ExpiresAt > now)
            {
                return Task.FromResult(existing.Value);
            }
            _entries[id] = (value, now + ttl);
            return Task.FromResult(value);
        }
    }
}

internal static class IdempotencyArguments
{
    public static void Check(string scope, string key, string value, TimeSpan ttl)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(scope);
        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        ArgumentNullException.ThrowIfNull(value);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ttl, TimeSpan.Zero);
    }
}
