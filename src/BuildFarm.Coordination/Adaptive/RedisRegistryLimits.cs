using System.Globalization;
using BuildFarm.Coordination.Redis;
using StackExchange.Redis;

namespace BuildFarm.Coordination.Adaptive;

/// <summary>
/// Adaptive registry limits in Redis: a hash per registry (<c>limit</c>, <c>decreased</c> in Unix ms,
/// <c>congestion</c> the running congested share, <c>v</c> a version), kept a day after its last change (then the registry starts again from the maximum). A window is one
/// pipelined read of every registry, then, for each registry whose state changes, a compare-and-set on the version read
/// (a script; retried on a concurrent change), so windows of several workers all count. The arithmetic is
/// <see cref="AdaptiveLimit.Next"/>'s, in .NET; the script only compares and writes.
/// <para>
/// Not a MULTI/EXEC transaction with a condition: StackExchange.Redis sends a condition's WATCH and check and then waits
/// for their replies synchronously, on a thread-pool thread and holding the connection's write lock. Every other command
/// of the process waited behind it; on two busy cores that wait lasted until the thread pool added a thread (0.5–1 s),
/// which was most of the worker's latency tail (docs/worker.md "Performance").
/// </para>
/// </summary>
public sealed class RedisRegistryLimits(IConnectionMultiplexer redis, RedisKeys keys, TimeProvider time) : IRegistryLimits
{
    private static readonly TimeSpan KeepFor = TimeSpan.FromDays(1);
    /// <summary>Transactions tried per registry and window before its reports are dropped (each retry waits a few
    /// random milliseconds more: workers writing the same registry at once fall apart).</summary>
    private const int Attempts = 30;

    /// <summary>KEYS[1] the registry's hash. ARGV: whether a version was read (1/0), the version as read, then limit,
    /// decreased, congestion, the new version and the hash's time to live in ms. 1 written, 0 changed since read.</summary>
    private const string CompareAndSetScript = """
        local v = redis.call('HGET', KEYS[1], 'v')
        if ARGV[1] == '1' then
          if v ~= ARGV[2] then return 0 end
        elseif v then
          return 0
        end
        redis.call('HSET', KEYS[1], 'limit', ARGV[3], 'decreased', ARGV[4], 'congestion', ARGV[5], 'v', ARGV[6])
        redis.call('PEXPIRE', KEYS[1], ARGV[7])
        return 1
        """;

    private IDatabase Db => redis.GetDatabase();

    public async Task<IReadOnlyDictionary<string, AdaptiveLimitState>> ApplyAsync(IReadOnlyDictionary<string, LimitReports> reports, AdaptiveLimitSettings settings,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reports);
        ArgumentNullException.ThrowIfNull(settings);
        cancellationToken.ThrowIfCancellationRequested();
        var registries = reports.Keys.ToList();
        var reads = registries.Select(r => Db.HashGetAllAsync(keys.Limit(r))).ToList();
        var stored = await Task.WhenAll(reads).ConfigureAwait(false);
        var result = new Dictionary<string, AdaptiveLimitState>(StringComparer.OrdinalIgnoreCase);
        var writes = new List<Task<(string Registry, AdaptiveLimitState State)>>();
        for (var i = 0; i < registries.Count; i++)
        {
            var registry = registries[i];
            var window = reports[registry];
            var (state, version, raw) = Parse(stored[i], settings);
            if (window.Clean == 0 && window.Congested == 0)
            {
                result[registry] = AdaptiveLimit.Next(state, 0, 0, time.GetUtcNow(), settings);
                continue;
            }
            writes.Add(WriteAsync(registry, window, settings, state, version, raw, cancellationToken));
        }
        foreach (var (registry, state) in await Task.WhenAll(writes).ConfigureAwait(false))
        {
            result[registry] = state;
        }
        return result;
    }

    private async Task<(string, AdaptiveLimitState)> WriteAsync(string registry, LimitReports window, AdaptiveLimitSettings settings,
        AdaptiveLimitState state, long version, RedisValue raw, CancellationToken cancellationToken)
    {
        var key = keys.Limit(registry);
        for (var attempt = 1; ; attempt++)
        {
            var next = AdaptiveLimit.Next(state, window.Clean, window.Congested, time.GetUtcNow(), settings);
            // Conditioned on the version exactly as read (a garbled one included: it is overwritten, not stuck).
            var written = (long)await Db.ScriptEvaluateAsync(CompareAndSetScript, [key],
            [
                raw.IsNull ? 0 : 1, raw.IsNull ? RedisValue.EmptyString : raw,
                next.Limit.ToString("R", CultureInfo.InvariantCulture),
                next.LastDecrease is { } d ? d.ToUnixTimeMilliseconds() : 0,
                next.Congestion.ToString("R", CultureInfo.InvariantCulture),
                version + 1,
                (long)KeepFor.TotalMilliseconds,
            ]).ConfigureAwait(false);
            if (written == 1)
            {
                return (registry, next);
            }
            if (attempt == Attempts)
            {
                // Other workers keep winning: this window is dropped (the next one reports again); the limit read stands.
                return (registry, state);
            }
            await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(1, 2 + (2 * attempt))), cancellationToken).ConfigureAwait(false);
            (state, version, raw) = Parse(await Db.HashGetAllAsync(key).ConfigureAwait(false), settings);
        }
    }

    private static (AdaptiveLimitState State, long Version, RedisValue Raw) Parse(HashEntry[] entries, AdaptiveLimitSettings settings)
    {
        if (entries.Length == 0)
        {
            return (AdaptiveLimit.Initial(settings), 0, RedisValue.Null);
        }
        var fields = entries.ToDictionary(e => e.Name.ToString(), e => e.Value, StringComparer.Ordinal);
        var limit = fields.TryGetValue("limit", out var l) && double.TryParse(l.ToString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed)
            ? parsed : settings.Max;
        DateTimeOffset? decreased = fields.TryGetValue("decreased", out var d) && long.TryParse(d.ToString(), CultureInfo.InvariantCulture, out var ms)
            && ms > 0 && ms < 253_402_300_799_000
            ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
        // A missing or garbled share reads as 1, the share of a registry nothing is known about.
        var congestion = fields.TryGetValue("congestion", out var c) && double.TryParse(c.ToString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var share)
            ? share : 1;
        var raw = fields.TryGetValue("v", out var v) ? v : RedisValue.Null;
        var version = long.TryParse(raw.ToString(), CultureInfo.InvariantCulture, out var n) && n >= 0 ? n : 0;
        return (new AdaptiveLimitState(limit, decreased, congestion), version, raw);
    }
}
