using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace BuildFarm.Status.Stores;

/// <summary>
/// The status store in process: for <c>buildfarm demo</c>, one-host setups and tests. One lock guards everything (the
/// work under it is tiny); records expire <see cref="BuildStatusStoreOptions.RecordTtl"/> after their last change by
/// <see cref="TimeProvider"/>. Live readers each get an unbounded channel, written under the lock, so every reader sees
/// every change in version order.
/// </summary>
public sealed class InMemoryBuildStatusStore : IBuildStatusStore
{
    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly TimeSpan _ttl;
    private readonly Dictionary<string, Entry<BuildRecord>> _builds = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Entry<BatchRecord>> _batches = new(StringComparer.Ordinal);
    private readonly List<Subscriber> _subscribers = [];

    public InMemoryBuildStatusStore(TimeProvider time, TimeSpan recordTtl)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(recordTtl, TimeSpan.Zero);
        _time = time;
        _ttl = recordTtl;
    }

    public InMemoryBuildStatusStore(TimeProvider time)
        : this(time, new BuildStatusStoreOptions().RecordTtl)
    {
    }

    public Task<bool> CreateBatchAsync(BatchRecord batch, IReadOnlyList<BuildRecord> builds, CancellationToken cancellationToken)
    {
        StoreChecks.Batch(batch, builds);
        return Locked(now =>
        {
            if (Live(_batches, batch.BatchId, now) is not null)
            {
                return false;
            }
            var expires = now + _ttl;
            _batches[batch.BatchId] = new Entry<BatchRecord>(batch, expires);
            foreach (var build in builds)
            {
                // A build record already there (e.g. made from an early event) is kept: it knows more.
                if (Live(_builds, build.BuildId, now) is null)
                {
                    _builds[build.BuildId] = new Entry<BuildRecord>(StoreChecks.New(build, now), expires);
                }
            }
            return true;
        }, cancellationToken);
    }

    public Task<bool> CreateBuildAsync(BuildRecord build, CancellationToken cancellationToken)
    {
        StoreChecks.Build(build);
        return Locked(now =>
        {
            if (Live(_builds, build.BuildId, now) is not null)
            {
                return false;
            }
            _builds[build.BuildId] = new Entry<BuildRecord>(StoreChecks.New(build, now), now + _ttl);
            return true;
        }, cancellationToken);
    }

    public Task<BuildRecord?> GetBuildAsync(string buildId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(buildId);
        return Locked(now => Live(_builds, buildId, now), cancellationToken);
    }

    public Task<IReadOnlyList<BuildRecord?>> GetBuildsAsync(IReadOnlyList<string> buildIds, CancellationToken cancellationToken)
    {
        StoreChecks.BuildIds(buildIds);
        return Locked<IReadOnlyList<BuildRecord?>>(now => [.. buildIds.Select(id => Live(_builds, id, now))], cancellationToken);
    }

    public Task<BatchRecord?> GetBatchAsync(string batchId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(batchId);
        return Locked(now => Live(_batches, batchId, now), cancellationToken);
    }

    public Task<IReadOnlyList<BuildRecord>> GetBatchBuildsAsync(string batchId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(batchId);
        return Locked<IReadOnlyList<BuildRecord>>(now => Live(_batches, batchId, now) is { } batch
            ? [.. batch.Members.Select(m => Live(_builds, m.BuildId, now)).OfType<BuildRecord>()]
            : [], cancellationToken);
    }

    public Task<BuildPage> ListBuildsAsync(BuildQuery query, CancellationToken cancellationToken)
    {
        StoreChecks.Query(query);
        return Locked(now =>
        {
            var after = query.Continue is null ? null : ContinueToken.Decode(query.Continue);
            var matching = _builds.Values
                .Where(e => e.ExpiresAt > now)
                .Select(e => e.Value)
                .Where(b => query.State is null || b.State == query.State)
                .Where(b => query.BatchId is null || string.Equals(b.BatchId, query.BatchId, StringComparison.Ordinal))
                .Where(b => query.Tenant is null || string.Equals(b.Tenant, query.Tenant, StringComparison.Ordinal))
                .Select(b => (Key: StoreChecks.SortKey(b), Build: b))
                .Where(x => after is null || string.CompareOrdinal(x.Key, after) < 0)
                .OrderByDescending(x => x.Key, StringComparer.Ordinal)
                .Take(query.Limit + 1)
                .ToList();
            var items = matching.Take(query.Limit).ToList();
            var next = matching.Count > query.Limit ? ContinueToken.Encode(items[^1].Key) : null;
            return new BuildPage([.. items.Select(x => x.Build)], next);
        }, cancellationToken);
    }

    public Task<BuildChange?> UpdateBuildAsync(string buildId, Func<BuildRecord, BuildChange?> update, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(buildId);
        ArgumentNullException.ThrowIfNull(update);
        return Locked<BuildChange?>(now =>
        {
            if (Live(_builds, buildId, now) is not { } current || StoreChecks.Stamp(current, update(current), now) is not { } change)
            {
                return null;
            }
            _builds[buildId] = new Entry<BuildRecord>(change.Record, now + _ttl);
            foreach (var subscriber in _subscribers)
            {
                if (subscriber.Wants(change.Record))
                {
                    subscriber.Channel.Writer.TryWrite(change);
                }
            }
            return change;
        }, cancellationToken);
    }

    /// <summary>Runs <paramref name="body"/> under the lock with the current time, as a completed task (none when already cancelled).</summary>
    private Task<T> Locked<T>(Func<DateTimeOffset, T> body, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return Task.FromResult(body(_time.GetUtcNow()));
        }
    }

    public Task DeleteAsync(string? batchId, IReadOnlyList<string> buildIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(buildIds);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            if (batchId is not null)
            {
                _batches.Remove(batchId);
            }
            foreach (var id in buildIds)
            {
                _builds.Remove(id);
            }
        }
        return Task.CompletedTask;
    }

    /// <summary>Registers the reader at once (not at the first <c>MoveNextAsync</c>), so no change after the call is missed.</summary>
    public IAsyncEnumerable<BuildChange> SubscribeAsync(string? buildId, string? batchId, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(buildId) && string.IsNullOrWhiteSpace(batchId))
        {
            throw new ArgumentException("name a build id or a batch id to follow");
        }
        var subscriber = new Subscriber(buildId, batchId, Channel.CreateUnbounded<BuildChange>(new UnboundedChannelOptions { SingleReader = true }));
        lock (_gate)
        {
            _subscribers.Add(subscriber);
        }
        var registration = cancellationToken.Register(() => Unsubscribe(subscriber));
        return ReadAsync(subscriber, registration, cancellationToken);
    }

    /// <summary>Live readers now (for tests: a reader that stopped must not stay registered).</summary>
    internal int SubscriberCount
    {
        get
        {
            lock (_gate)
            {
                return _subscribers.Count;
            }
        }
    }

    private async IAsyncEnumerable<BuildChange> ReadAsync(Subscriber subscriber, CancellationTokenRegistration registration,
        [EnumeratorCancellation] CancellationToken enumeratorToken = default)
    {
        try
        {
            await foreach (var change in subscriber.Channel.Reader.ReadAllAsync(enumeratorToken))
            {
                yield return change;
            }
        }
        finally
        {
            await registration.DisposeAsync();
            Unsubscribe(subscriber);
        }
    }

    private void Unsubscribe(Subscriber subscriber)
    {
        lock (_gate)
        {
            _subscribers.Remove(subscriber);
        }
        subscriber.Channel.Writer.TryComplete();
    }

    private static T? Live<T>(Dictionary<string, Entry<T>> entries, string id, DateTimeOffset now)
        where T : class
    {
        if (!entries.TryGetValue(id, out var entry))
        {
            return null;
        }
        if (entry.ExpiresAt <= now)
        {
            entries.Remove(id);
            return null;
        }
        return entry.Value;
    }

    private sealed record Entry<T>(T Value, DateTimeOffset ExpiresAt);

    private sealed record Subscriber(string? BuildId, string? BatchId, Channel<BuildChange> Channel)
    {
        public bool Wants(BuildRecord record) =>
            (BuildId is not null && string.Equals(BuildId, record.BuildId, StringComparison.Ordinal))
            || (BatchId is not null && string.Equals(BatchId, record.BatchId, StringComparison.Ordinal));
    }
}
