using System.Runtime.CompilerServices;
using BuildFarm.Status.Projection;
using StackExchange.Redis;

namespace BuildFarm.Status.Stores;

/// <summary>Following changes: one subscription per reader, fed by the build's or batch's pub/sub channel after a snapshot.</summary>
public sealed partial class RedisBuildStatusStore
{
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
}
