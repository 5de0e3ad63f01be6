using BuildFarm.Coordination.Redis;
using StackExchange.Redis;

namespace BuildFarm.Coordination.Scheduling;

/// <summary>
/// The admission store in Redis. Keys, all under <see cref="RedisKeys.Admission"/> (one hash tag, one cluster slot):
/// <c>b:&lt;id&gt;</c> a build (hash: state r/f/s/e = ready/claimed/started/ended, tenant, group, member, payload, claimant
/// — a dispatcher's worker, or the producer whose enqueue admitted it —, claim time, message id; an ended build stays a day
/// as a tombstone so that a late copy is dropped and a repeated enqueue ignored), <c>g:&lt;tenant\ngroup&gt;</c> a group's ready builds (sorted set, lexicographic, see <see cref="AdmissionOrder"/>),
/// <c>groups</c> the groups with ready builds (scored by the sequence of the build that opened them), <c>seq</c>,
/// <c>inflight</c> and <c>claimed</c> (sorted sets of admitted and of admitted-not-started builds by claim time),
/// <c>runT</c>/<c>runG</c>/<c>readyT</c> counts, <c>workers</c> (sorted set by heartbeat expiry) and <c>slots</c>.
/// Times are the Redis server's. One round trip per operation.
/// </summary>
public sealed class RedisAdmissionStore(IConnectionMultiplexer redis, RedisKeys keys) : IAdmissionStore
{
    private static readonly TimeSpan EndedTtl = TimeSpan.FromDays(1);

    private const string Common = """
        local P = ARGV[1]
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local function free()
          local dead = redis.call('ZRANGEBYSCORE', P .. 'workers', '-inf', now)
          for _, w in ipairs(dead) do redis.call('HDEL', P .. 'slots', w) end
          if #dead > 0 then redis.call('ZREMRANGEBYSCORE', P .. 'workers', '-inf', now) end
          local total = 0
          for _, v in ipairs(redis.call('HVALS', P .. 'slots')) do total = total + tonumber(v) end
          local f = total - redis.call('ZCARD', P .. 'inflight')
          if f < 0 then f = 0 end
          return f
        end
        local function decr(h, f)
          if redis.call('HINCRBY', h, f, -1) <= 0 then redis.call('HDEL', h, f) end
        end
        local function unready(v)
          local g = P .. 'g:' .. v[2] .. '\n' .. v[3]
          redis.call('ZREM', g, v[4])
          if redis.call('ZCARD', g) == 0 then redis.call('ZREM', P .. 'groups', v[2] .. '\n' .. v[3]) end
          decr(P .. 'readyT', v[2])
        end
        local function finish(id, ttl)
          local b = P .. 'b:' .. id
          local v = redis.call('HMGET', b, 's', 'tenant', 'group')
          if v[1] ~= 'f' and v[1] ~= 's' then return false end
          redis.call('ZREM', P .. 'inflight', id)
          redis.call('ZREM', P .. 'claimed', id)
          decr(P .. 'runT', v[2])
          decr(P .. 'runG', v[2] .. '\n' .. v[3])
          redis.call('DEL', b)
          redis.call('HSET', b, 's', 'e')
          redis.call('PEXPIRE', b, ttl)
          return true
        end
        local function admit(b, id, tenant, group, claimant)
          redis.call('HSET', b, 's', 'f', 'c', claimant, 't', now)
          redis.call('ZADD', P .. 'inflight', now, id)
          redis.call('ZADD', P .. 'claimed', now, id)
          redis.call('HINCRBY', P .. 'runT', tenant, 1)
          redis.call('HINCRBY', P .. 'runG', tenant .. '\n' .. group, 1)
        end

        """;

    // ARGV[2]: the claimant of the fast path ('' for none). New builds are admitted at once when nothing else is ready and
    // all of them fit in the free slots (no choice to make); else they wait as ready builds.
    private const string EnqueueScript = Common + """
        local new, seen = {}, {}
        for i = 3, #ARGV, 5 do
          local id = ARGV[i]
          if not seen[id] and redis.call('EXISTS', P .. 'b:' .. id) == 0 then
            seen[id] = true
            table.insert(new, i)
          end
        end
        local fast = ARGV[2] ~= '' and #new > 0 and redis.call('ZCARD', P .. 'groups') == 0 and #new <= free()
        local admitted = {}
        for _, i in ipairs(new) do
          local id, tenant, group = ARGV[i], ARGV[i + 1], ARGV[i + 2]
          local b = P .. 'b:' .. id
          local seq = redis.call('INCR', P .. 'seq')
          local member = ARGV[i + 3] .. '|' .. string.format('%016d', seq) .. '|' .. id
          local gk = tenant .. '\n' .. group
          redis.call('HSET', b, 's', 'r', 'tenant', tenant, 'group', group, 'm', member, 'payload', ARGV[i + 4])
          if fast then
            admit(b, id, tenant, group, ARGV[2])
            table.insert(admitted, id)
          else
            redis.call('ZADD', P .. 'g:' .. gk, 0, member)
            redis.call('ZADD', P .. 'groups', 'NX', seq, gk)
            redis.call('HINCRBY', P .. 'readyT', tenant, 1)
          end
        end
        if #new > 0 and not fast and free() > 0 then redis.call('PUBLISH', P .. 'waiting', #new) end
        return {#new, admitted}
        """;

    private const string SnapshotScript = Common + """
        local f = free()
        local per = math.min(tonumber(ARGV[2]), f)
        local offered = {}
        if per > 0 then
          for _, gk in ipairs(redis.call('ZRANGE', P .. 'groups', 0, tonumber(ARGV[3]) - 1)) do
            table.insert(offered, gk)
            table.insert(offered, redis.call('ZRANGE', P .. 'g:' .. gk, 0, per - 1))
          end
        end
        return {f, redis.call('ZCARD', P .. 'inflight'), offered, redis.call('HGETALL', P .. 'runT'), redis.call('HGETALL', P .. 'runG'),
          redis.call('HGETALL', P .. 'readyT')}
        """;

    private const string ClaimScript = Common + """
        local f = free()
        local out = {}
        for i = 3, #ARGV do
          if f <= 0 then break end
          local id = ARGV[i]
          local b = P .. 'b:' .. id
          local v = redis.call('HMGET', b, 's', 'tenant', 'group', 'm', 'payload')
          if v[1] == 'r' then
            unready(v)
            admit(b, id, v[2], v[3], ARGV[2])
            f = f - 1
            table.insert(out, id)
            table.insert(out, v[5])
          end
        end
        return out
        """;

    private const string HeartbeatScript = Common + """
        redis.call('ZADD', P .. 'workers', now + tonumber(ARGV[4]), ARGV[2])
        redis.call('HSET', P .. 'slots', ARGV[2], ARGV[3])
        return 1
        """;

    private const string LeaveScript = Common + """
        redis.call('ZREM', P .. 'workers', ARGV[2])
        redis.call('HDEL', P .. 'slots', ARGV[2])
        return 1
        """;

    private const string StartScript = Common + """
        local b = P .. 'b:' .. ARGV[2]
        local v = redis.call('HMGET', b, 's', 'msg')
        if v[1] == 'f' then
          redis.call('HSET', b, 's', 's', 'msg', ARGV[3])
          redis.call('ZREM', P .. 'claimed', ARGV[2])
          return 1
        end
        if v[1] == 's' then
          if v[2] == ARGV[3] then return 1 end
          return 2
        end
        if v[1] == 'e' then return 3 end
        return 0
        """;

    private const string EndScript = Common + """
        local n = 0
        for i = 3, #ARGV do
          if finish(ARGV[i], ARGV[2]) then n = n + 1 end
        end
        return {n, redis.call('ZCARD', P .. 'groups')}
        """;

    private const string ExpireScript = Common + """
        local out = {}
        for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'inflight', '-inf', now - tonumber(ARGV[2]), 'LIMIT', 0, tonumber(ARGV[3]))) do
          if finish(id, ARGV[4]) then
            table.insert(out, id)
          else
            redis.call('ZREM', P .. 'inflight', id)
          end
        end
        return out
        """;

    private const string RemoveReadyScript = Common + """
        local b = P .. 'b:' .. ARGV[2]
        local v = redis.call('HMGET', b, 's', 'tenant', 'group', 'm', 'payload')
        if v[1] ~= 'r' then return false end
        unready(v)
        redis.call('DEL', b)
        return v[5]
        """;

    private const string SweepScript = Common + """
        local out = {}
        for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'claimed', '-inf', now - tonumber(ARGV[2]), 'LIMIT', 0, tonumber(ARGV[3]))) do
          local payload = redis.call('HGET', P .. 'b:' .. id, 'payload')
          if payload then
            redis.call('ZADD', P .. 'claimed', now, id)
            table.insert(out, id)
            table.insert(out, payload)
          else
            redis.call('ZREM', P .. 'claimed', id)
          end
        end
        return out
        """;

    private IDatabase Db => redis.GetDatabase();

    private string Base => keys.Admission();

    public async Task<IAsyncDisposable> OnWaitingAsync(Action wake, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(wake);
        cancellationToken.ThrowIfCancellationRequested();
        var channel = RedisChannel.Literal(Base + "waiting");
        var subscriber = redis.GetSubscriber();
        Action<RedisChannel, RedisValue> handler = (_, _) => wake();
        await subscriber.SubscribeAsync(channel, handler).ConfigureAwait(false);
        return new Unsubscribe(() => subscriber.UnsubscribeAsync(channel, handler));
    }

    private sealed class Unsubscribe(Func<Task> unsubscribe) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await unsubscribe().ConfigureAwait(false);
    }

    public async Task<int> EnqueueAsync(IReadOnlyList<AdmissionEntry> entries, CancellationToken cancellationToken) =>
        (await EnqueueAsync(entries, null, cancellationToken).ConfigureAwait(false)).Added;

    public async Task<AdmissionEnqueued> EnqueueAsync(IReadOnlyList<AdmissionEntry> entries, string? admitAs, CancellationToken cancellationToken)
    {
        AdmissionLimits.Check(entries, admitAs);
        cancellationToken.ThrowIfCancellationRequested();
        if (entries.Count == 0)
        {
            return AdmissionEnqueued.None;
        }
        var args = new List<RedisValue>(2 + entries.Count * 5) { Base, admitAs ?? "" };
        foreach (var (build, payload) in entries)
        {
            args.AddRange([build.BuildId, build.Tenant, build.Group, AdmissionOrder.Prefix(build.Priority, build.PathSeconds), payload]);
        }
        var r = (RedisResult[])(await RunAsync(EnqueueScript, [.. args]).ConfigureAwait(false))!;
        return new AdmissionEnqueued((int)r[0], [.. ((RedisResult[])r[1]!).Select(id => (string)id!)]);
    }

    public async Task<AdmissionSnapshot> SnapshotAsync(int perGroup, int maxGroups, CancellationToken cancellationToken)
    {
        AdmissionLimits.CheckSnapshot(perGroup, maxGroups);
        cancellationToken.ThrowIfCancellationRequested();
        var r = (RedisResult[])(await RunAsync(SnapshotScript, [Base, perGroup, maxGroups]).ConfigureAwait(false))!;
        var ready = new List<ReadyBuild>();
        var offered = (RedisResult[])r[2]!;
        for (var i = 0; i + 1 < offered.Length; i += 2)
        {
            var groupKey = (string)offered[i]!;
            var newline = groupKey.IndexOf('\n', StringComparison.Ordinal);
            var (tenant, group) = (groupKey[..newline], groupKey[(newline + 1)..]);
            ready.AddRange(((RedisResult[])offered[i + 1]!).Select(m => AdmissionOrder.Parse((string)m!, tenant, group)));
        }
        var readyByTenant = Counts(r[5]);
        return new AdmissionSnapshot(new SchedulingSnapshot(ready, Counts(r[3]), Counts(r[4])), (int)r[0], readyByTenant.Values.Sum(), (int)r[1],
            readyByTenant);
    }

    public async Task<IReadOnlyList<AdmittedBuild>> ClaimAsync(IReadOnlyList<string> buildIds, string claimant, CancellationToken cancellationToken)
    {
        AdmissionLimits.CheckClaim(buildIds, claimant);
        cancellationToken.ThrowIfCancellationRequested();
        if (buildIds.Count == 0)
        {
            return [];
        }
        RedisValue[] args = [Base, claimant, .. buildIds.Select(id => (RedisValue)id)];
        return Admitted(await RunAsync(ClaimScript, args).ConfigureAwait(false));
    }

    public async Task HeartbeatAsync(string workerId, int slots, TimeSpan ttl, CancellationToken cancellationToken)
    {
        AdmissionLimits.CheckWorker(workerId, slots, ttl);
        cancellationToken.ThrowIfCancellationRequested();
        await RunAsync(HeartbeatScript, [Base, workerId, slots, (long)ttl.TotalMilliseconds]).ConfigureAwait(false);
    }

    public async Task LeaveAsync(string workerId, CancellationToken cancellationToken)
    {
        AdmissionLimits.CheckId(workerId, "worker id");
        cancellationToken.ThrowIfCancellationRequested();
        await RunAsync(LeaveScript, [Base, workerId]).ConfigureAwait(false);
    }

    public async Task<AdmissionStart> StartAsync(string buildId, string messageId, CancellationToken cancellationToken)
    {
        AdmissionLimits.CheckId(buildId, "build id");
        AdmissionLimits.CheckId(messageId, "message id");
        cancellationToken.ThrowIfCancellationRequested();
        return (AdmissionStart)(int)await RunAsync(StartScript, [Base, buildId, messageId]).ConfigureAwait(false);
    }

    public async Task<AdmissionEnded> EndAsync(IReadOnlyList<string> buildIds, CancellationToken cancellationToken)
    {
        AdmissionLimits.CheckIds(buildIds);
        cancellationToken.ThrowIfCancellationRequested();
        RedisValue[] args = [Base, (long)EndedTtl.TotalMilliseconds, .. buildIds.Select(id => (RedisValue)id)];
        var r = (RedisResult[])(await RunAsync(EndScript, args).ConfigureAwait(false))!;
        return new AdmissionEnded((int)r[0], (long)r[1] > 0);
    }

    public async Task<string?> RemoveReadyAsync(string buildId, CancellationToken cancellationToken)
    {
        AdmissionLimits.CheckId(buildId, "build id");
        cancellationToken.ThrowIfCancellationRequested();
        return (string?)await RunAsync(RemoveReadyScript, [Base, buildId]).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<AdmittedBuild>> SweepAsync(TimeSpan notStartedFor, int max, CancellationToken cancellationToken)
    {
        AdmissionLimits.CheckSweep(notStartedFor, max);
        cancellationToken.ThrowIfCancellationRequested();
        return Admitted(await RunAsync(SweepScript, [Base, (long)notStartedFor.TotalMilliseconds, max]).ConfigureAwait(false));
    }

    public async Task<IReadOnlyList<string>> ExpireAsync(TimeSpan inFlightFor, int max, CancellationToken cancellationToken)
    {
        AdmissionLimits.CheckSweep(inFlightFor, max);
        cancellationToken.ThrowIfCancellationRequested();
        var r = (RedisResult[])(await RunAsync(ExpireScript, [Base, (long)inFlightFor.TotalMilliseconds, max, (long)EndedTtl.TotalMilliseconds]).ConfigureAwait(false))!;
        return [.. r.Select(id => (string)id!)];
    }

    private Task<RedisResult> RunAsync(string script, RedisValue[] args) => Db.ScriptEvaluateAsync(script, [], args);

    private static List<AdmittedBuild> Admitted(RedisResult result)
    {
        var flat = (RedisResult[])result!;
        var admitted = new List<AdmittedBuild>(flat.Length / 2);
        for (var i = 0; i + 1 < flat.Length; i += 2)
        {
            admitted.Add(new AdmittedBuild((string)flat[i]!, (string)flat[i + 1]!));
        }
        return admitted;
    }

    private static Dictionary<string, int> Counts(RedisResult result)
    {
        var flat = (RedisResult[])result!;
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < flat.Length; i += 2)
        {
            counts[(string)flat[i]!] = (int)flat[i + 1];
        }
        return counts;
    }
}
