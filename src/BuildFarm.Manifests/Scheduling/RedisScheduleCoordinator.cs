using System.Globalization;
using BuildFarm.Coordination.Redis;
using StackExchange.Redis;

namespace BuildFarm.Manifests.Scheduling;

/// <summary>
/// <see cref="IScheduleCoordinator"/> in Redis. Keys (all under <c>prefix</c>):
/// <c>scheduler:leader</c> holds the leader's id with a PX expiry (a <see cref="RedisLeases"/> lease, the same scripts as
/// the destination locks: taken with SET NX PX, extended and resigned only by its holder); <c>scheduler:last:{image}</c> the last handled occurrence (unix ms, only moves forward);
/// <c>scheduler:occurrence:{image}:{unix s}</c> the claim, <c>pending|holder</c> with a short expiry, then <c>fired|holder</c>
/// kept for the retention. Each operation is one round trip.
/// </summary>
public sealed class RedisScheduleCoordinator(IConnectionMultiplexer redis, string keyPrefix) : IScheduleCoordinator
{
    private const string AdvanceScript = """
        local cur = redis.call('GET', KEYS[1])
        if (not cur) or tonumber(cur) < tonumber(ARGV[1]) then
          redis.call('SET', KEYS[1], ARGV[1])
          return 1
        end
        return 0
        """;

    // 1 = claimed (new or already ours), 2 = already fired, 3 = held by another instance.
    private const string ClaimScript = """
        local cur = redis.call('GET', KEYS[1])
        if not cur then
          redis.call('SET', KEYS[1], 'pending|' .. ARGV[1], 'PX', ARGV[2])
          return 1
        end
        if string.sub(cur, 1, 6) == 'fired|' then return 2 end
        if cur == 'pending|' .. ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return 1
        end
        return 3
        """;

    private readonly string _prefix = string.IsNullOrEmpty(keyPrefix) ? throw new ArgumentException("a key prefix is required", nameof(keyPrefix)) : keyPrefix;

    private IDatabase Db => redis.GetDatabase();

    public string LeaderKey => $"{_prefix}scheduler:leader";

    public string LastKey(string schedule) => $"{_prefix}scheduler:last:{schedule}";

    public string OccurrenceKey(string schedule, DateTimeOffset occurrence) =>
        $"{_prefix}scheduler:occurrence:{schedule}:{occurrence.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)}";

    public async Task<bool> TryLeadAsync(string holder, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(holder);
        cancellationToken.ThrowIfCancellationRequested();
        return await RedisLeases.TryTakeAsync(Db, LeaderKey, holder, ttl) || await RedisLeases.TryExtendAsync(Db, LeaderKey, holder, ttl);
    }

    public async Task ResignAsync(string holder, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await RedisLeases.ReleaseAsync(Db, LeaderKey, holder);
    }

    public async Task<DateTimeOffset?> GetLastHandledAsync(string schedule, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var value = await Db.StringGetAsync(LastKey(schedule));
        return value.IsNull ? null : DateTimeOffset.FromUnixTimeMilliseconds((long)value);
    }

    public async Task AdvanceLastHandledAsync(string schedule, DateTimeOffset instant, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await Db.ScriptEvaluateAsync(AdvanceScript, [LastKey(schedule)], [instant.ToUnixTimeMilliseconds()]);
    }

    public async Task<OccurrenceClaim> TryClaimAsync(string schedule, DateTimeOffset occurrence, string holder, TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(holder);
        cancellationToken.ThrowIfCancellationRequested();
        var result = (long)await Db.ScriptEvaluateAsync(ClaimScript, [OccurrenceKey(schedule, occurrence)], [holder, Milliseconds(ttl)]);
        return result switch
        {
            1 => OccurrenceClaim.Claimed,
            2 => OccurrenceClaim.AlreadyFired,
            _ => OccurrenceClaim.HeldByOther,
        };
    }

    public async Task MarkFiredAsync(string schedule, DateTimeOffset occurrence, string holder, TimeSpan retention, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await Db.StringSetAsync(OccurrenceKey(schedule, occurrence), "fired|" + holder, retention);
    }

    private static long Milliseconds(TimeSpan span) => RedisLeases.Milliseconds(span);
}
