namespace BuildFarm.Coordination.Scheduling;

/// <summary>The admission store in process, with the same semantics as <see cref="RedisAdmissionStore"/> (demo and unit tests).</summary>
public sealed class InMemoryAdmissionStore(TimeProvider time) : IAdmissionStore
{
    private static readonly TimeSpan EndedTtl = TimeSpan.FromDays(1);

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _builds = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (long Opened, SortedSet<ReadyBuild> Ready)> _groups = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (int Slots, DateTimeOffset Expires)> _workers = new(StringComparer.Ordinal);
    private readonly List<Action> _wakes = [];
    private long _sequence;

    public async Task<int> EnqueueAsync(IReadOnlyList<AdmissionEntry> entries, CancellationToken cancellationToken) =>
        (await EnqueueAsync(entries, null, cancellationToken).ConfigureAwait(false)).Added;

    public Task<IAsyncDisposable> OnWaitingAsync(Action wake, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(wake);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            _wakes.Add(wake);
        }
        return Task.FromResult<IAsyncDisposable>(new Unsubscribe(() =>
        {
            lock (_gate)
            {
                _wakes.Remove(wake);
            }
        }));
    }

    private sealed class Unsubscribe(Action unsubscribe) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            unsubscribe();
            return ValueTask.CompletedTask;
        }
    }

    public Task<AdmissionEnqueued> EnqueueAsync(IReadOnlyList<AdmissionEntry> entries, string? admitAs, CancellationToken cancellationToken)
    {
        AdmissionLimits.Check(entries, admitAs);
        cancellationToken.ThrowIfCancellationRequested();
        var result = Enqueue(entries, admitAs, out var wakes);
        foreach (var wake in wakes)
        {
            wake();
        }
        return Task.FromResult(result);
    }

    private AdmissionEnqueued Enqueue(IReadOnlyList<AdmissionEntry> entries, string? admitAs, out IReadOnlyList<Action> wakes)
    {
        wakes = [];
        lock (_gate)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var added = entries.Where(e => Find(e.Build.BuildId) is null && seen.Add(e.Build.BuildId)).ToList();
            // The fast path: nothing else ready and all fit in the free slots, so no choice is to be made.
            var fast = admitAs is not null && added.Count > 0 && _groups.Count == 0 && added.Count <= Free();
            var admitted = new List<string>();
            foreach (var (build, payload) in added)
            {
                var ready = build with { PathSeconds = Math.Round(Math.Min(build.PathSeconds, AdmissionLimits.MaxPathSeconds) * 1000) / 1000, Sequence = ++_sequence };
                var entry = new Entry(ready, payload);
                _builds[build.BuildId] = entry;
                if (fast)
                {
                    Admit(entry);
                    admitted.Add(build.BuildId);
                    continue;
                }
                var key = SchedulingOrder.GroupKey(build.Tenant, build.Group);
                if (!_groups.TryGetValue(key, out var group))
                {
                    group = (ready.Sequence, new SortedSet<ReadyBuild>(SchedulingOrder.WithinGroup));
                    _groups[key] = group;
                }
                group.Ready.Add(ready);
            }
            if (added.Count > 0 && !fast && Free() > 0)
            {
                wakes = [.. _wakes];
            }
            return new AdmissionEnqueued(added.Count, admitted);
        }
    }

    public Task<AdmissionSnapshot> SnapshotAsync(int perGroup, int maxGroups, CancellationToken cancellationToken)
    {
        AdmissionLimits.CheckSnapshot(perGroup, maxGroups);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var free = Free();
            var per = Math.Min(perGroup, free);
            var offered = per == 0 ? [] : _groups.Values.OrderBy(g => g.Opened).Take(maxGroups).SelectMany(g => g.Ready.Take(per)).ToList();
            var inFlight = _builds.Values.Where(e => e.State is State.Claimed or State.Started).Select(e => e.Build).ToList();
            var readyByTenant = Count(_builds.Values.Where(e => e.State == State.Ready).Select(e => e.Build.Tenant));
            var scheduling = new SchedulingSnapshot(offered, Count(inFlight.Select(b => b.Tenant)),
                Count(inFlight.Select(b => SchedulingOrder.GroupKey(b.Tenant, b.Group))));
            return Task.FromResult(new AdmissionSnapshot(scheduling, free, readyByTenant.Values.Sum(), inFlight.Count, readyByTenant));
        }
    }

    public Task<IReadOnlyList<AdmittedBuild>> ClaimAsync(IReadOnlyList<string> buildIds, string claimant, CancellationToken cancellationToken)
    {
        AdmissionLimits.CheckClaim(buildIds, claimant);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var free = Free();
            var admitted = new List<AdmittedBuild>();
            foreach (var id in buildIds)
            {
                if (free <= 0)
                {
                    break;
                }
                if (Find(id) is { State: State.Ready } entry)
                {
                    Unready(entry);
                    Admit(entry);
                    admitted.Add(new AdmittedBuild(id, entry.Payload));
                    free--;
                }
            }
            return Task.FromResult<IReadOnlyList<AdmittedBuild>>(admitted);
        }
    }

    public Task HeartbeatAsync(string workerId, int slots, TimeSpan ttl, CancellationToken cancellationToken)
    {
        AdmissionLimits.CheckWorker(workerId, slots, ttl);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            _workers[workerId] = (slots, time.GetUtcNow() + ttl);
        }
        return Task.CompletedTask;
    }

    public Task LeaveAsync(string workerId, CancellationToken cancellationToken)
    {
        AdmissionLimits.CheckId(workerId, "worker id");
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            _workers.Remove(workerId);
        }
        return Task.CompletedTask;
    }

    public Task<AdmissionStart> StartAsync(string buildId, string messageId, CancellationToken cancellationToken)
    {
        AdmissionLimits.CheckId(buildId, "build id");
        AdmissionLimits.CheckId(messageId, "message id");
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var entry = Find(buildId);
            switch (entry?.State)
            {
                case State.Claimed:
                    entry.State = State.Started;
                    entry.MessageId = messageId;
                    return Task.FromResult(AdmissionStart.Started);
                case State.Started:
                    return Task.FromResult(entry.MessageId == messageId ? AdmissionStart.Started : AdmissionStart.Duplicate);
                case State.Ended:
                    return Task.FromResult(AdmissionStart.Ended);
                default:
                    return Task.FromResult(AdmissionStart.NotAdmitted);
            }
        }
    }

    public Task<AdmissionEnded> EndAsync(IReadOnlyList<string> buildIds, CancellationToken cancellationToken)
    {
        AdmissionLimits.CheckIds(buildIds);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var ended = 0;
            foreach (var id in buildIds)
            {
                if (Find(id) is { State: State.Claimed or State.Started } entry)
                {
                    End(entry);
                    ended++;
                }
            }
            return Task.FromResult(new AdmissionEnded(ended, _groups.Count > 0));
        }
    }

    public Task<string?> RemoveReadyAsync(string buildId, CancellationToken cancellationToken)
    {
        AdmissionLimits.CheckId(buildId, "build id");
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            if (Find(buildId) is not { State: State.Ready } entry)
            {
                return Task.FromResult<string?>(null);
            }
            Unready(entry);
            _builds.Remove(buildId);
            return Task.FromResult<string?>(entry.Payload);
        }
    }

    public Task<IReadOnlyList<AdmittedBuild>> SweepAsync(TimeSpan notStartedFor, int max, CancellationToken cancellationToken)
    {
        AdmissionLimits.CheckSweep(notStartedFor, max);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var now = time.GetUtcNow();
            var stale = _builds.Values.Where(e => e.State == State.Claimed && e.ClaimedAt <= now - notStartedFor)
                .OrderBy(e => e.ClaimedAt).Take(max).ToList();
            foreach (var entry in stale)
            {
                entry.ClaimedAt = now;
            }
            return Task.FromResult<IReadOnlyList<AdmittedBuild>>([.. stale.Select(e => new AdmittedBuild(e.Build.BuildId, e.Payload))]);
        }
    }

    public Task<IReadOnlyList<string>> ExpireAsync(TimeSpan inFlightFor, int max, CancellationToken cancellationToken)
    {
        AdmissionLimits.CheckSweep(inFlightFor, max);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var now = time.GetUtcNow();
            var old = _builds.Values.Where(e => e.State is State.Claimed or State.Started && e.AdmittedAt <= now - inFlightFor)
                .OrderBy(e => e.AdmittedAt).Take(max).ToList();
            foreach (var entry in old)
            {
                End(entry);
            }
            return Task.FromResult<IReadOnlyList<string>>([.. old.Select(e => e.Build.BuildId)]);
        }
    }

    private void End(Entry entry)
    {
        entry.State = State.Ended;
        entry.EndedAt = time.GetUtcNow();
    }

    private Entry? Find(string buildId)
    {
        if (!_builds.TryGetValue(buildId, out var entry))
        {
            return null;
        }
        if (entry.State == State.Ended && entry.EndedAt + EndedTtl <= time.GetUtcNow())
        {
            _builds.Remove(buildId);
            return null;
        }
        return entry;
    }

    private void Unready(Entry entry)
    {
        var key = SchedulingOrder.GroupKey(entry.Build.Tenant, entry.Build.Group);
        var group = _groups[key];
        group.Ready.Remove(entry.Build);
        if (group.Ready.Count == 0)
        {
            _groups.Remove(key);
        }
    }

    private void Admit(Entry entry)
    {
        entry.State = State.Claimed;
        entry.ClaimedAt = entry.AdmittedAt = time.GetUtcNow();
    }

    private int Free()
    {
        var now = time.GetUtcNow();
        foreach (var dead in _workers.Where(w => w.Value.Expires <= now).Select(w => w.Key).ToList())
        {
            _workers.Remove(dead);
        }
        var inFlight = _builds.Values.Count(e => e.State is State.Claimed or State.Started);
        return Math.Max(0, _workers.Values.Sum(w => w.Slots) - inFlight);
    }

    private static Dictionary<string, int> Count(IEnumerable<string> keys) =>
        keys.GroupBy(k => k, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);

    private enum State { Ready, Claimed, Started, Ended }

    private sealed class Entry(ReadyBuild build, string payload)
    {
        public ReadyBuild Build { get; } = build;
        public string Payload { get; } = payload;
        public State State { get; set; }
        public DateTimeOffset ClaimedAt { get; set; }
        public DateTimeOffset AdmittedAt { get; set; }
        public DateTimeOffset EndedAt { get; set; }
        public string? MessageId { get; set; }
    }
}
