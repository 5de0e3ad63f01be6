using System.Globalization;
using StackExchange.Redis;

namespace BuildFarm.Coordination.Logs;

/// <summary>
/// Attempt logs in Redis: a list per attempt, one element per line (<c>{prefix}{buildId}:{attempt}</c>; small elements
/// are packed in listpacks), and a hash beside it with the <see cref="BuildLogState"/>
/// (<c>{prefix}{buildId}:{attempt}:state</c>). The build id is a hash tag: one build's keys share a Redis Cluster slot.
/// An append is one MULTI/EXEC round trip (RPUSH, HSET, two EXPIREs); a read is one (LRANGE, HGETALL).
/// </summary>
public sealed class RedisBuildLogStore(IConnectionMultiplexer redis, string keyPrefix, TimeSpan ttl) : IBuildLogStore
{
    private readonly string _prefix = string.IsNullOrEmpty(keyPrefix) ? throw new ArgumentException("a key prefix is required", nameof(keyPrefix)) : keyPrefix;

    private IDatabase Db => redis.GetDatabase();

    public string LinesKey(string buildId, int attempt) => $"{_prefix}{{{buildId}}}:{attempt.ToString(CultureInfo.InvariantCulture)}";

    private string StateKey(string buildId, int attempt) => LinesKey(buildId, attempt) + ":state";

    public async Task AppendAsync(string buildId, int attempt, IReadOnlyList<string> lines, BuildLogState state, CancellationToken cancellationToken)
    {
        BuildLogArguments.Check(buildId, attempt);
        ArgumentNullException.ThrowIfNull(lines);
        ArgumentNullException.ThrowIfNull(state);
        cancellationToken.ThrowIfCancellationRequested();
        var linesKey = LinesKey(buildId, attempt);
        var stateKey = StateKey(buildId, attempt);
        var transaction = Db.CreateTransaction();
        var tasks = new List<Task>(4);
        if (lines.Count > 0)
        {
            tasks.Add(transaction.ListRightPushAsync(linesKey, [.. lines.Select(l => (RedisValue)l)]));
            tasks.Add(transaction.KeyExpireAsync(linesKey, ttl));
        }
        tasks.Add(transaction.HashSetAsync(stateKey,
        [
            new("l", state.Lines), new("b", state.Bytes), new("t", state.LastTimestamp is { } t ? t : RedisValue.EmptyString),
            new("n", state.AtLastTimestamp), new("cl", state.CutLines), new("cb", state.CutBytes), new("e", state.Ended ? 1 : 0),
        ]));
        tasks.Add(transaction.KeyExpireAsync(stateKey, ttl));
        var committed = transaction.ExecuteAsync();
        await committed.ConfigureAwait(false);
        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    public async Task<BuildLogState?> GetStateAsync(string buildId, int attempt, CancellationToken cancellationToken)
    {
        BuildLogArguments.Check(buildId, attempt);
        cancellationToken.ThrowIfCancellationRequested();
        return ParseState(await Db.HashGetAllAsync(StateKey(buildId, attempt)).ConfigureAwait(false));
    }

    public async Task<BuildLogPage> ReadAsync(string buildId, int attempt, long offset, int maxLines, CancellationToken cancellationToken)
    {
        BuildLogArguments.CheckRead(buildId, attempt, offset, maxLines);
        cancellationToken.ThrowIfCancellationRequested();
        var batch = Db.CreateBatch();
        var state = batch.HashGetAllAsync(StateKey(buildId, attempt));
        var lines = batch.ListRangeAsync(LinesKey(buildId, attempt), offset, offset + maxLines - 1);
        batch.Execute();
        await Task.WhenAll(state, lines).ConfigureAwait(false);
        return new BuildLogPage([.. lines.Result.Select(l => l.ToString())], offset, ParseState(state.Result));
    }

    public async Task DeleteAsync(string buildId, int attempt, CancellationToken cancellationToken)
    {
        BuildLogArguments.Check(buildId, attempt);
        cancellationToken.ThrowIfCancellationRequested();
        await Db.KeyDeleteAsync([LinesKey(buildId, attempt), StateKey(buildId, attempt)]).ConfigureAwait(false);
    }

    private static BuildLogState? ParseState(HashEntry[] entries)
    {
        if (entries.Length == 0)
        {
            return null;
        }
        var map = entries.ToDictionary(e => e.Name.ToString(), e => e.Value, StringComparer.Ordinal);
        long Long(string name) => map.TryGetValue(name, out var v) && v.TryParse(out long n) ? n : 0;
        long? last = map.TryGetValue("t", out var t) && t.TryParse(out long ticks) ? ticks : null;
        return new BuildLogState(Long("l"), Long("b"), last, (int)Long("n"), Long("cl"), Long("cb"), Long("e") == 1);
    }
}
