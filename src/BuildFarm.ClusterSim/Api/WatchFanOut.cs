namespace BuildFarm.ClusterSim.Api;

/// <summary>
/// The store's fan-out step: one dedicated thread takes committed changes in commit order and offers each to every
/// watch that was registered when it was committed (<see cref="StoreWatch.Offer"/>: written to the connection at once
/// when it is free, queued for the watcher's loop otherwise). Up to <see cref="MaxBatch"/> changes that arrive
/// together go to one watcher with one flush. The thread is an ordinary OS thread, not a thread-pool item, so it does
/// not wait behind the server's queued work, and it does not hold the store's lock while it writes. It starts with the
/// first change that has a watcher and ends after a few idle seconds. (Writing from the committing threads instead,
/// whoever commits drains, measured no better under load: one run, p99 201 ms at load average 12. Two fan-out threads,
/// each serving half of the watches, drifted apart by up to 200 ms: one run, p99 193 ms.)
/// </summary>
internal sealed class WatchFanOut
{
    private static readonly TimeSpan s_idle = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Changes written to one watcher before moving to the next. Normally a batch is the one change just committed; when
    /// changes arrive faster than they go out (a create burst) the backlog goes out in batches of up to this many, one
    /// flush (one socket send) per watcher each, so that the fan-out catches up. Not more, since the last watcher gets a
    /// change only after every other watcher got the whole batch.
    /// </summary>
    private const int MaxBatch = 32;

    private readonly object _gate = new();
    private readonly Queue<(StoredEvent Event, StoreWatch[] Watches)> _pending = new();
    private bool _running;

    /// <summary>Queues <paramref name="ev"/> for <paramref name="watches"/> (called under the store's lock, so in commit order).</summary>
    public void Post(StoredEvent ev, StoreWatch[] watches)
    {
        lock (_gate)
        {
            _pending.Enqueue((ev, watches));
            if (_running)
            {
                Monitor.Pulse(_gate);
                return;
            }
            _running = true;
        }
        new Thread(Run) { IsBackground = true, Name = "sim-watch-fanout" }.Start();
    }

    private void Run()
    {
        var batch = new List<(StoredEvent Event, StoreWatch[] Watches)>();
        var forWatch = new List<StoredEvent>();
        while (true)
        {
            lock (_gate)
            {
                while (_pending.Count == 0)
                {
                    if (!Monitor.Wait(_gate, s_idle) && _pending.Count == 0)
                    {
                        _running = false;
                        return;
                    }
                }
                while (batch.Count < MaxBatch && _pending.TryDequeue(out var item))
                {
                    batch.Add(item);
                }
            }
            // Consecutive changes with the same watch set (it changes only when a watch starts or ends) go out together.
            var start = 0;
            while (start < batch.Count)
            {
                var watches = batch[start].Watches;
                var end = start + 1;
                while (end < batch.Count && ReferenceEquals(batch[end].Watches, watches))
                {
                    end++;
                }
                foreach (var watch in watches)
                {
                    forWatch.Clear();
                    for (var i = start; i < end; i++)
                    {
                        if (batch[i].Event.Resource == watch.Resource)
                        {
                            forWatch.Add(batch[i].Event);
                        }
                    }
                    if (forWatch.Count > 0)
                    {
                        watch.Offer(forWatch);
                    }
                }
                start = end;
            }
            batch.Clear();
        }
    }
}
