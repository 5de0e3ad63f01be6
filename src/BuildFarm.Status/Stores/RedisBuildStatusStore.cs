using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using BuildFarm.Status.Projection;
using StackExchange.Redis;

namespace BuildFarm.Status.Stores;

/// <summary>
/// The status store in Redis, shared by every API replica and orchestrator. Layout (prefix <c>P</c>, see
/// docs/status-and-batches.md): a hash per build (<c>P build:ID</c>: <c>v</c> = version, <c>r</c> = record JSON), a string
/// per batch (<c>P batch:ID</c>), sorted-set indexes of build sort keys (<c>P index:all</c>, <c>P index:state:S</c>,
/// <c>P index:batch:ID</c>, and per tenant <c>P index:tenant:T</c>, <c>P index:tenant:T:state:S</c>; all scores 0,
/// ordered by member), and pub/sub
/// channels <c>P changes:build:ID</c> and <c>P changes:batch:ID</c>. Every write is one Lua script (record, indexes and
/// announcement together) and every record key carries the TTL, refreshed on each change. Assumes a single Redis (or a
/// replicated primary), not Redis Cluster: the scripts touch index keys of other slots.
/// </summary>
public sealed class RedisBuildStatusStore : IBuildStatusStore
{
    private const int MaxUpdateTries = 64;

    // KEYS: build hash, all index, state index, tenant index, tenant state index, [batch index]. ARGV: version, json,
    // sort key, ttl ms. A build without a tenant passes the all and state indexes again as its tenant indexes (adding a
    // member twice changes nothing), so the script has one shape.
    private const string CreateBuildScript = """
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        redis.call('HSET', KEYS[1], 'v', ARGV[1], 'r', ARGV[2])
        redis.call('PEXPIRE', KEYS[1], ARGV[4])
        for i = 2, #KEYS do
          redis.call('ZADD', KEYS[i], 0, ARGV[3])
          redis.call('PEXPIRE', KEYS[i], ARGV[4])
        end
        return 1
        """;

    // KEYS: batch key, all index, batch index, tenant index (the all index again without a tenant), then per build: hash,
    // state index, tenant state index (the state index again without a tenant).
    // ARGV: batch json, ttl ms, then per build: version, json, sort key.
    private const string CreateBatchScript = """
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        local ttl = ARGV[2]
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
        local n = (#KEYS - 4) / 3
        for i = 0, n - 1 do
          local hash, stateIndex, tenantStateIndex = KEYS[5 + 3 * i], KEYS[6 + 3 * i], KEYS[7 + 3 * i]
          local version, json, sortKey = ARGV[3 + 3 * i], ARGV[4 + 3 * i], ARGV[5 + 3 * i]
          if redis.call('EXISTS', hash) == 0 then
            redis.call('HSET', hash, 'v', version, 'r', json)
            redis.call('PEXPIRE', hash, ttl)
            redis.call('ZADD', stateIndex, 0, sortKey)
            redis.call('PEXPIRE', stateIndex, ttl)
            redis.call('ZADD', tenantStateIndex, 0, sortKey)
            redis.call('PEXPIRE', tenantStateIndex, ttl)
            redis.call('ZADD', KEYS[4], 0, sortKey)
          end
          redis.call('ZADD', KEYS[2], 0, sortKey)
          redis.call('ZADD', KEYS[3], 0, sortKey)
        end
        redis.call('PEXPIRE', KEYS[2], ttl)
        redis.call('PEXPIRE', KEYS[3], ttl)
        redis.call('PEXPIRE', KEYS[4], ttl)
        return 1
        """;

    // Optimistic update: writes only when the stored version is the one the change was computed from.
    // KEYS: build hash, old state index, new state index, all index, tenant index, old tenant state index, new tenant
    // state index (without a tenant: the all, old state and new state indexes again), [old batch index, new batch index].
    // ARGV: expected version, new version, json, sort key, ttl ms, change json, build channel, [batch channel].
    // Returns 1 written, 0 version moved on (re-read and retry), -1 gone.
    private const string UpdateScript = """
        local v = redis.call('HGET', KEYS[1], 'v')
        if not v then return -1 end
        if v ~= ARGV[1] then return 0 end
        redis.call('HSET', KEYS[1], 'v', ARGV[2], 'r', ARGV[3])
        redis.call('PEXPIRE', KEYS[1], ARGV[5])
        if KEYS[2] ~= KEYS[3] then redis.call('ZREM', KEYS[2], ARGV[4]) end
        redis.call('ZADD', KEYS[3], 0, ARGV[4])
        redis.call('PEXPIRE', KEYS[3], ARGV[5])
        redis.call('ZADD', KEYS[4], 0, ARGV[4])
        redis.call('PEXPIRE', KEYS[4], ARGV[5])
        redis.call('ZADD', KEYS[5], 0, ARGV[4])
        redis.call('PEXPIRE', KEYS[5], ARGV[5])
        if KEYS[6] ~= KEYS[7] then redis.call('ZREM', KEYS[6], ARGV[4]) end
        redis.call('ZADD', KEYS[7], 0, ARGV[4])
        redis.call('PEXPIRE', KEYS[7], ARGV[5])
        if #KEYS >= 9 then
          if KEYS[8] ~= KEYS[9] then redis.call('ZREM', KEYS[8], ARGV[4]) end
          redis.call('ZADD', KEYS[9], 0, ARGV[4])
          redis.call('PEXPIRE', KEYS[9], ARGV[5])
        end
        redis.call('PUBLISH', ARGV[7], ARGV[6])
        if ARGV[8] then redis.call('PUBLISH', ARGV[8], ARGV[6]) end
        return 1
        """;

    private readonly IConnectionMultiplexer _redis;
    private readonly StatusKeys _keys;
    private readonly TimeProvider _time;
    private readonly long _ttlMs;

    public RedisBuildStatusStore(IConnectionMultiplexer redis, string keyPrefix, TimeSpan recordTtl, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(redis);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(recordTtl, TimeSpan.Zero);
        _redis = redis;
        _keys = new StatusKeys(keyPrefix);
        _time = time;
        _ttlMs = (long)recordTtl.TotalMilliseconds;
    }

    private IDatabase Db => _redis.GetDatabase();

    public async Task<bool> CreateBatchAsync(BatchRecord batch, IReadOnlyList<BuildRecord> builds, CancellationToken cancellationToken)
    {
        StoreChecks.Batch(batch, builds);
        cancellationToken.ThrowIfCancellationRequested();
        var now = _time.GetUtcNow();
        var keys = new List<RedisKey> { _keys.Batch(batch.BatchId), _keys.IndexAll, _keys.IndexBatch(batch.BatchId), _keys.IndexTenant(batch.Tenant) };
        var args = new List<RedisValue> { Serialize(batch), _ttlMs };
        foreach (var build in builds.Select(b => StoreChecks.New(b, now)))
        {
            keys.Add(_keys.Build(build.BuildId));
            keys.Add(_keys.IndexState(build.State));
            keys.Add(_keys.IndexTenantState(build.Tenant, build.State));
            args.Add(build.Version);
            args.Add(Serialize(build));
            args.Add(StoreChecks.SortKey(build));
        }
        var result = await Db.ScriptEvaluateAsync(CreateBatchScript, [.. keys], [.. args]).ConfigureAwait(false);
        return (long)result == 1;
    }

    public async Task<bool> CreateBuildAsync(BuildRecord build, CancellationToken cancellationToken)
    {
        StoreChecks.Build(build);
        cancellationToken.ThrowIfCancellationRequested();
        var record = StoreChecks.New(build, _time.GetUtcNow());
        var keys = new List<RedisKey>
        {
            _keys.Build(record.BuildId), _keys.IndexAll, _keys.IndexState(record.State), _keys.IndexTenant(record.Tenant),
            _keys.IndexTenantState(record.Tenant, record.State),
        };
        if (record.BatchId is not null)
        {
            keys.Add(_keys.IndexBatch(record.BatchId));
        }
        var result = await Db.ScriptEvaluateAsync(CreateBuildScript, [.. keys],
            [record.Version, Serialize(record), StoreChecks.SortKey(record), _ttlMs]).ConfigureAwait(false);
        return (long)result == 1;
    }

    public async Task<BuildRecord?> GetBuildAsync(string buildId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(buildId);
        cancellationToken.ThrowIfCancellationRequested();
        return Deserialize<StoredBuildRecord>(await Db.HashGetAsync(_keys.Build(buildId), "r").ConfigureAwait(false));
    }

    public async Task<IReadOnlyList<BuildRecord?>> GetBuildsAsync(IReadOnlyList<string> buildIds, CancellationToken cancellationToken)
    {
        StoreChecks.BuildIds(buildIds);
        cancellationToken.ThrowIfCancellationRequested();
        return await ReadBuildsAsync(buildIds).ConfigureAwait(false);
    }

    public async Task<BatchRecord?> GetBatchAsync(string batchId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(batchId);
        cancellationToken.ThrowIfCancellationRequested();
        return Deserialize<BatchRecord>(await Db.StringGetAsync(_keys.Batch(batchId)).ConfigureAwait(false));
    }

    public async Task<IReadOnlyList<BuildRecord>> GetBatchBuildsAsync(string batchId, CancellationToken cancellationToken)
    {
        var batch = await GetBatchAsync(batchId, cancellationToken).ConfigureAwait(false);
        if (batch is null)
        {
            return [];
        }
        return [.. (await ReadBuildsAsync(batch.Members.Select(m => m.BuildId).ToList()).ConfigureAwait(false)).OfType<BuildRecord>()];
    }

    public async Task<BuildPage> ListBuildsAsync(BuildQuery query, CancellationToken cancellationToken)
    {
        StoreChecks.Query(query);
        cancellationToken.ThrowIfCancellationRequested();
        var after = query.Continue is null ? null : ContinueToken.Decode(query.Continue);
        // The narrowest index; the other filters are checked on each record read.
        var index = query.BatchId is not null ? _keys.IndexBatch(query.BatchId)
            : query.State is { } s ? _keys.IndexTenantState(query.Tenant, s)
            : _keys.IndexTenant(query.Tenant);
        var found = new List<(string Key, BuildRecord Build)>();
        // Newest first: ZREVRANGEBYLEX from just below the continue key (exclusive) down to the start.
        RedisValue max = after ?? default(RedisValue);
        var chunk = Math.Max(query.Limit + 1, 32);
        while (found.Count <= query.Limit)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var members = await Db.SortedSetRangeByValueAsync(index, default, max, max.IsNull ? Exclude.None : Exclude.Stop, Order.Descending, 0, chunk).ConfigureAwait(false);
            if (members.Length == 0)
            {
                break;
            }
            var sortKeys = members.Select(m => (string)m!).ToList();
            var records = await ReadBuildsAsync([.. sortKeys.Select(BuildIdOf)]).ConfigureAwait(false);
            var gone = new List<RedisValue>();
            for (var i = 0; i < sortKeys.Count && found.Count <= query.Limit; i++)
            {
                var record = records[i];
                if (record is null)
                {
                    gone.Add(sortKeys[i]); // expired: drop the index entry lazily
                }
                else if ((query.State is null || record.State == query.State)
                    && (query.BatchId is null || string.Equals(record.BatchId, query.BatchId, StringComparison.Ordinal))
                    && (query.Tenant is null || string.Equals(record.Tenant, query.Tenant, StringComparison.Ordinal)))
                {
                    found.Add((sortKeys[i], record));
                }
            }
            if (gone.Count > 0)
            {
                await Db.SortedSetRemoveAsync(index, [.. gone]).ConfigureAwait(false);
            }
            if (members.Length < chunk)
            {
                break;
            }
            max = sortKeys[^1];
        }
        var items = found.Take(query.Limit).ToList();
        var next = found.Count > query.Limit ? ContinueToken.Encode(items[^1].Key) : null;
        return new BuildPage([.. items.Select(x => x.Build)], next);
    }

    public async Task<BuildChange?> UpdateBuildAsync(string buildId, Func<BuildRecord, BuildChange?> update, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(buildId);
        ArgumentNullException.ThrowIfNull(update);
        var key = _keys.Build(buildId);
        for (var attempt = 0; attempt < MaxUpdateTries; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var values = await Db.HashGetAsync(key, ["v", "r"]).ConfigureAwait(false);
            BuildRecord? current = Deserialize<StoredBuildRecord>(values[1]);
            if (current is null)
            {
                return null;
            }
            var storedVersion = (string)values[0]!;
            // The record's own version is authoritative for the stamp; the hash field is what the script compares.
            current = current with { Version = long.Parse(storedVersion, CultureInfo.InvariantCulture) };
            var change = StoreChecks.Stamp(current, update(current), _time.GetUtcNow());
            if (change is null)
            {
                return null;
            }
            var record = change.Record;
            var keys = new List<RedisKey>
            {
                key, _keys.IndexState(current.State), _keys.IndexState(record.State), _keys.IndexAll, _keys.IndexTenant(record.Tenant),
                _keys.IndexTenantState(record.Tenant, current.State), _keys.IndexTenantState(record.Tenant, record.State),
            };
            var channels = new List<RedisValue> { _keys.BuildChannel(buildId) };
            if (current.BatchId is not null || record.BatchId is not null)
            {
                keys.Add(_keys.IndexBatch(current.BatchId ?? record.BatchId!));
                keys.Add(_keys.IndexBatch(record.BatchId ?? current.BatchId!));
                channels.Add(_keys.BatchChannel(record.BatchId ?? current.BatchId!));
            }
            RedisValue[] args = [storedVersion, record.Version, Serialize(record), StoreChecks.SortKey(record), _ttlMs, Serialize(change), .. channels];
            var result = (long)await Db.ScriptEvaluateAsync(UpdateScript, [.. keys], args).ConfigureAwait(false);
            if (result == 1)
            {
                return change;
            }
            if (result == -1)
            {
                return null;
            }
            // Another writer got there first: back off a little (spreads out hot builds) and recompute.
            await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(1, 5 + attempt)), cancellationToken).ConfigureAwait(false);
        }
        throw new InvalidOperationException($"build '{buildId}': gave up after {MaxUpdateTries} concurrent updates");
    }

    public async Task DeleteAsync(string? batchId, IReadOnlyList<string> buildIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(buildIds);
        cancellationToken.ThrowIfCancellationRequested();
        var records = await ReadBuildsAsync(buildIds).ConfigureAwait(false);
        var batch = Db.CreateBatch();
        var tasks = new List<Task>();
        foreach (var record in records.OfType<BuildRecord>())
        {
            var sortKey = StoreChecks.SortKey(record);
            tasks.Add(batch.SortedSetRemoveAsync(_keys.IndexAll, sortKey));
            tasks.Add(batch.SortedSetRemoveAsync(_keys.IndexState(record.State), sortKey));
            if (record.Tenant is not null)
            {
                tasks.Add(batch.SortedSetRemoveAsync(_keys.IndexTenant(record.Tenant), sortKey));
                tasks.Add(batch.SortedSetRemoveAsync(_keys.IndexTenantState(record.Tenant, record.State), sortKey));
            }
            if (record.BatchId is not null)
            {
                tasks.Add(batch.SortedSetRemoveAsync(_keys.IndexBatch(record.BatchId), sortKey));
            }
        }
        tasks.Add(batch.KeyDeleteAsync([.. buildIds.Select(id => (RedisKey)_keys.Build(id))]));
        if (batchId is not null)
        {
            tasks.Add(batch.KeyDeleteAsync([_keys.Batch(batchId), _keys.IndexBatch(batchId)]));
        }
        batch.Execute();
        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    /// <summary>
    /// Subscribes at once: the SUBSCRIBE is sent before this returns, and once Redis confirms it the current record(s)
    /// are queued first (each under the change name of its state), so a change published while the subscription was
    /// being set up is not lost; readers skip versions they have seen, as the contract says. Stopping the enumeration
    /// or cancelling <paramref name="cancellationToken"/> unsubscribes.
    /// </summary>
    public IAsyncEnumerable<BuildChange> SubscribeAsync(string? buildId, string? batchId, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(buildId) && string.IsNullOrWhiteSpace(batchId))
        {
            throw new ArgumentException("name a build id or a batch id to follow");
        }
        var subscription = new Subscription(this, string.IsNullOrWhiteSpace(buildId) ? null : buildId,
            string.IsNullOrWhiteSpace(batchId) ? null : batchId, cancellationToken);
        return subscription.ReadAsync(cancellationToken);
    }

    /// <summary>One live reader: its channel subscriptions feed one queue, after a snapshot of the current records.</summary>
    private sealed class Subscription
    {
        private readonly System.Threading.Channels.Channel<BuildChange> _changes =
            System.Threading.Channels.Channel.CreateUnbounded<BuildChange>(new() { SingleReader = true });
        private readonly HashSet<(string, long)> _seen = [];
        private readonly Task<List<ChannelMessageQueue>> _started;
        private readonly CancellationTokenRegistration _registration;
        private int _stopped;

        public Subscription(RedisBuildStatusStore store, string? buildId, string? batchId, CancellationToken cancellationToken)
        {
            var subscriber = store._redis.GetSubscriber();
            var pending = new List<Task<ChannelMessageQueue>>();
            if (buildId is not null)
            {
                pending.Add(subscriber.SubscribeAsync(RedisChannel.Literal(store._keys.BuildChannel(buildId))));
            }
            if (batchId is not null)
            {
                pending.Add(subscriber.SubscribeAsync(RedisChannel.Literal(store._keys.BatchChannel(batchId))));
            }
            _started = StartAsync(store, buildId, batchId, pending, cancellationToken);
            _registration = cancellationToken.Register(() => _ = StopAsync());
        }

        public async IAsyncEnumerable<BuildChange> ReadAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            try
            {
                await _started.WaitAsync(cancellationToken).ConfigureAwait(false);
                await foreach (var change in _changes.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                {
                    yield return change;
                }
            }
            finally
            {
                await _registration.DisposeAsync().ConfigureAwait(false);
                await StopAsync().ConfigureAwait(false);
            }
        }

        private async Task<List<ChannelMessageQueue>> StartAsync(RedisBuildStatusStore store, string? buildId, string? batchId,
            List<Task<ChannelMessageQueue>> pending, CancellationToken cancellationToken)
        {
            var queues = new List<ChannelMessageQueue>();
            foreach (var subscription in pending)
            {
                queues.Add(await subscription.ConfigureAwait(false));
            }
            var current = new List<BuildRecord>();
            if (buildId is not null && await store.GetBuildAsync(buildId, cancellationToken).ConfigureAwait(false) is { } build)
            {
                current.Add(build);
            }
            if (batchId is not null)
            {
                current.AddRange(await store.GetBatchBuildsAsync(batchId, cancellationToken).ConfigureAwait(false));
            }
            foreach (var record in current.DistinctBy(r => r.BuildId, StringComparer.Ordinal))
            {
                Offer(new BuildChange(record, BuildRecordReducer.EventFor(record.State)));
            }
            foreach (var queue in queues)
            {
                queue.OnMessage(message =>
                {
                    if (Deserialize<BuildChange>(message.Message) is { } change)
                    {
                        Offer(change);
                    }
                });
            }
            return queues;
        }

        /// <summary>Passes each (build, version) once: a batch member followed by build and batch comes on both channels.</summary>
        private void Offer(BuildChange change)
        {
            lock (_seen)
            {
                if (!_seen.Add((change.Record.BuildId, change.Record.Version)))
                {
                    return;
                }
            }
            _changes.Writer.TryWrite(change);
        }

        private async Task StopAsync()
        {
            if (Interlocked.Exchange(ref _stopped, 1) == 1)
            {
                return;
            }
            _changes.Writer.TryComplete();
            try
            {
                foreach (var queue in await _started.ConfigureAwait(false))
                {
                    await queue.UnsubscribeAsync().ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is RedisException or OperationCanceledException or TimeoutException)
            {
                // Never subscribed (or Redis gone): nothing to undo.
            }
        }
    }

    private async Task<List<BuildRecord?>> ReadBuildsAsync(IReadOnlyList<string> buildIds)
    {
        if (buildIds.Count == 0)
        {
            return [];
        }
        var batch = Db.CreateBatch();
        var reads = buildIds.Select(id => batch.HashGetAsync(_keys.Build(id), "r")).ToList();
        batch.Execute();
        var values = await Task.WhenAll(reads).ConfigureAwait(false);
        return [.. values.Select(Deserialize<StoredBuildRecord>)];
    }

    private static string BuildIdOf(string sortKey) => sortKey[(sortKey.IndexOf('|', StringComparison.Ordinal) + 1)..];

    private static string Serialize<T>(T value) => JsonSerializer.Serialize(value, StatusJson.Options);

    /// <summary>A record with the orchestrator's state (<see cref="StoredBuildRecord"/>), whatever type it was handed as.</summary>
    private static string Serialize(BuildRecord record) => JsonSerializer.Serialize(record.Stored(), StatusJson.Options);

    private static T? Deserialize<T>(RedisValue value)
        where T : class => value.IsNullOrEmpty ? null : JsonSerializer.Deserialize<T>((string)value!, StatusJson.Options);
}

/// <summary>The status store's Redis keys and channels under one prefix.</summary>
internal sealed class StatusKeys(string prefix)
{
    public string Prefix { get; } = string.IsNullOrEmpty(prefix) ? throw new ArgumentException("a key prefix is required", nameof(prefix)) : prefix;

    public string Build(string buildId) => $"{Prefix}build:{buildId}";
    public string Batch(string batchId) => $"{Prefix}batch:{batchId}";
    public string IndexAll => $"{Prefix}index:all";
    public string IndexState(BuildState state) => $"{Prefix}index:state:{state.ToWire()}";
    public string IndexBatch(string batchId) => $"{Prefix}index:batch:{batchId}";

    /// <summary>A tenant's builds; without a tenant, every build (<see cref="IndexAll"/>).</summary>
    public string IndexTenant(string? tenant) => tenant is null ? IndexAll : $"{Prefix}index:tenant:{tenant}";

    /// <summary>A tenant's builds in one state; without a tenant, every build in that state (<see cref="IndexState"/>).</summary>
    public string IndexTenantState(string? tenant, BuildState state) =>
        tenant is null ? IndexState(state) : $"{Prefix}index:tenant:{tenant}:state:{state.ToWire()}";
    public string BuildChannel(string buildId) => $"{Prefix}changes:build:{buildId}";
    public string BatchChannel(string batchId) => $"{Prefix}changes:batch:{batchId}";
}
