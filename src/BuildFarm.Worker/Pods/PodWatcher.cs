using BuildFarm.Kaniko.Pods;
using BuildFarm.Worker.Metrics;
using BuildFarm.Worker.Options;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Options;

namespace BuildFarm.Worker.Pods;

/// <summary>A pod a build waited for was deleted before the awaited state was seen.</summary>
public sealed class PodGoneException(V1Pod lastSeen)
    : Exception($"pod {lastSeen.Metadata?.Name} was deleted")
{
    /// <summary>The pod as last seen (its final status when the deletion event carried one).</summary>
    public V1Pod LastSeen { get; } = lastSeen;
}

/// <summary>
/// ONE watch per worker on the farm's pods (label selector <see cref="KanikoPodLabels.ManagedSelector"/> in the Kaniko
/// namespace), dispatching each update to the builds waiting for that pod by name. It lists, then watches from the
/// list's resourceVersion; after a 410 Expired or a dropped connection it lists again and watches from the new version
/// (pods that vanished meanwhile count as deleted). The latest object of every pod is cached, so a build that starts
/// waiting after its pod already finished still gets the final state. No per-pod polling.
/// Also the janitor: failed pods finished longer than <see cref="WorkerOptions.KeepFailedPodsFor"/> ago are deleted, and
/// succeeded pods finished longer than <see cref="WorkerOptions.KeepSucceededPodsFor"/> ago (a build deletes its own at
/// once; one left behind means its worker died before the delete), each counted in <c>buildfarm_janitor_pods_deleted_total</c>.
/// </summary>
public sealed class PodWatcher : BackgroundService
{
    private static readonly TimeSpan TombstoneLifetime = TimeSpan.FromMinutes(5);

    private readonly IKubernetes _client;
    private readonly TimeProvider _time;
    private readonly ILogger<PodWatcher> _logger;
    private readonly string _namespace;
    private readonly TimeSpan _keepFailedPodsFor;
    private readonly TimeSpan _keepSucceededPodsFor;
    private readonly BuildFarmMetrics _metrics;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, V1Pod> _pods = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (V1Pod Pod, DateTimeOffset At)> _tombstones = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<Waiter>> _waiters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _released = new(StringComparer.Ordinal);
    private int _resyncs;
    private int _watchesOpened;

    public PodWatcher(IKubernetes client, IOptions<KanikoPodOptions> kaniko, IOptions<WorkerOptions> worker, TimeProvider time,
        BuildFarmMetrics metrics, ILogger<PodWatcher> logger)
    {
        ArgumentNullException.ThrowIfNull(kaniko);
        ArgumentNullException.ThrowIfNull(worker);
        _client = client;
        _time = time;
        _logger = logger;
        _namespace = kaniko.Value.Namespace;
        _keepFailedPodsFor = worker.Value.KeepFailedPodsFor;
        _keepSucceededPodsFor = worker.Value.KeepSucceededPodsFor;
        _metrics = metrics;
    }

    /// <summary>How many times the watcher listed again after an expired or dropped watch.</summary>
    public int Resyncs => Volatile.Read(ref _resyncs);

    /// <summary>How many watch requests were opened (one per list, plus one per clean watch timeout).</summary>
    public int WatchesOpened => Volatile.Read(ref _watchesOpened);

    /// <summary>What the watcher holds: cached pods, tombstones of deleted pods, released pods whose deletion is still to come.</summary>
    internal (int Pods, int Tombstones, int Released) CacheSizes()
    {
        lock (_gate)
        {
            return (_pods.Count, _tombstones.Count, _released.Count);
        }
    }

    /// <summary>
    /// Waits until pod <paramref name="name"/> with <paramref name="uid"/> satisfies <paramref name="condition"/>, and returns it.
    /// Throws <see cref="PodGoneException"/> when the pod is deleted first (unless its final state satisfies the condition).
    /// </summary>
    public async Task<V1Pod> WaitAsync(string name, string? uid, Func<V1Pod, bool> condition, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(condition);
        var waiter = new Waiter(uid, condition);
        lock (_gate)
        {
            if (_pods.TryGetValue(name, out var cached) && Matches(waiter, cached))
            {
                if (condition(cached))
                {
                    return cached;
                }
            }
            else if (_tombstones.TryGetValue(name, out var gone) && uid is not null && gone.Pod.Metadata?.Uid == uid)
            {
                return condition(gone.Pod) ? gone.Pod : throw new PodGoneException(gone.Pod);
            }
            if (!_waiters.TryGetValue(name, out var list))
            {
                _waiters[name] = list = [];
            }
            list.Add(waiter);
        }
        try
        {
            return await waiter.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate)
            {
                if (_waiters.TryGetValue(name, out var list))
                {
                    list.Remove(waiter);
                    if (list.Count == 0)
                    {
                        _waiters.Remove(name);
                    }
                }
            }
        }
    }

    /// <summary>
    /// The build that owned the pod with <paramref name="uid"/> deleted it (pod <paramref name="name"/>) and will not wait for it again: its last
    /// updates are not cached and its deletion leaves no tombstone. Without this every finished build's pod would stay in
    /// memory for the tombstone lifetime (at 100 builds/s, 30,000 pods).
    /// </summary>
    public void Release(string name, string? uid)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (string.IsNullOrEmpty(uid))
        {
            return;
        }
        lock (_gate)
        {
            if (_tombstones.TryGetValue(name, out var gone) && gone.Pod.Metadata?.Uid == uid)
            {
                // Its deletion was seen before the delete request returned.
                _tombstones.Remove(name);
                return;
            }
            _released[uid] = _time.GetUtcNow();
            if (_pods.TryGetValue(name, out var cached) && cached.Metadata?.Uid == uid)
            {
                _pods.Remove(name);
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var janitor = RunJanitorAsync(stoppingToken);
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var list = await _client.CoreV1.ListNamespacedPodAsync(_namespace, labelSelector: KanikoPodLabels.ManagedSelector,
                    cancellationToken: stoppingToken).ConfigureAwait(false);
                ApplyList(list.Items);
                var version = list.Metadata?.ResourceVersion;
                failures = 0;
                while (!stoppingToken.IsCancellationRequested)
                {
                    Exception? error = null;
                    Interlocked.Increment(ref _watchesOpened);
                    await foreach (var (type, pod) in _client.CoreV1.WatchListNamespacedPodAsync(_namespace,
                        labelSelector: KanikoPodLabels.ManagedSelector, resourceVersion: version, allowWatchBookmarks: true,
                        timeoutSeconds: 300, onError: e => error = e, cancellationToken: stoppingToken).ConfigureAwait(false))
                    {
                        version = pod.Metadata?.ResourceVersion ?? version;
                        if (type != WatchEventType.Bookmark)
                        {
                            Apply(type, pod);
                        }
                    }
                    if (error is not null)
                    {
                        // 410 Expired: our version is older than the server keeps; anything else: a broken stream. Relist.
                        _logger.LogInformation("pod watch ended ({Error}); listing again", error.Message);
                        break;
                    }
                    // A clean end (timeoutSeconds): watch again from the last version seen.
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is HttpOperationException or HttpRequestException or IOException or KubernetesException)
            {
                failures++;
                _logger.LogWarning("pod list/watch failed ({Error}); retrying", e.Message);
                var delay = TimeSpan.FromMilliseconds(Math.Min(5000, 100 * Math.Pow(2, Math.Min(failures, 10))));
                try
                {
                    await Task.Delay(delay, _time, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            Interlocked.Increment(ref _resyncs);
        }
        await janitor.ConfigureAwait(false);
    }

    private void ApplyList(IList<V1Pod> items)
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            var present = new HashSet<string>(StringComparer.Ordinal);
            foreach (var pod in items)
            {
                present.Add(pod.Metadata.Name);
                UpdateLocked(pod);
            }
            foreach (var vanished in _pods.Keys.Where(n => !present.Contains(n)).ToList())
            {
                DeleteLocked(_pods[vanished], now);
            }
            PruneTombstonesLocked(now);
        }
    }

    private void Apply(WatchEventType type, V1Pod pod)
    {
        if (pod.Metadata?.Name is null)
        {
            return;
        }
        lock (_gate)
        {
            if (type == WatchEventType.Deleted)
            {
                DeleteLocked(pod, _time.GetUtcNow());
            }
            else if (type is WatchEventType.Added or WatchEventType.Modified)
            {
                UpdateLocked(pod);
            }
        }
    }

    private void UpdateLocked(V1Pod pod)
    {
        var name = pod.Metadata.Name;
        if (pod.Metadata.Uid is not { } uid || !_released.ContainsKey(uid))
        {
            _pods[name] = pod;
            _tombstones.Remove(name);
        }
        if (!_waiters.TryGetValue(name, out var waiters))
        {
            return;
        }
        foreach (var waiter in waiters.Where(w => Matches(w, pod) && w.Condition(pod)).ToList())
        {
            waiter.Completion.TrySetResult(pod);
            waiters.Remove(waiter);
        }
    }

    private void DeleteLocked(V1Pod pod, DateTimeOffset now)
    {
        var name = pod.Metadata.Name;
        if (pod.Metadata.Uid is { } uid && _released.Remove(uid))
        {
            // Deleted by its own build, which is done with it: no tombstone (and no cached copy of a newer pod of that name to drop).
            if (_pods.TryGetValue(name, out var cached) && cached.Metadata?.Uid == uid)
            {
                _pods.Remove(name);
            }
        }
        else
        {
            _pods.Remove(name);
            _tombstones[name] = (pod, now);
        }
        if (!_waiters.TryGetValue(name, out var waiters))
        {
            return;
        }
        foreach (var waiter in waiters.Where(w => Matches(w, pod)).ToList())
        {
            if (waiter.Condition(pod))
            {
                waiter.Completion.TrySetResult(pod);
            }
            else
            {
                waiter.Completion.TrySetException(new PodGoneException(pod));
            }
            waiters.Remove(waiter);
        }
    }

    private void PruneTombstonesLocked(DateTimeOffset now)
    {
        foreach (var old in _tombstones.Where(t => now - t.Value.At > TombstoneLifetime).Select(t => t.Key).ToList())
        {
            _tombstones.Remove(old);
        }
        // A released pod whose deletion never showed (a relist after it vanished) is forgotten too.
        foreach (var old in _released.Where(r => now - r.Value > TombstoneLifetime).Select(r => r.Key).ToList())
        {
            _released.Remove(old);
        }
    }

    private static bool Matches(Waiter waiter, V1Pod pod) => waiter.Uid is null || waiter.Uid == pod.Metadata?.Uid;

    /// <summary>
    /// Deletes failed pods kept longer than KeepFailedPodsFor and succeeded pods left longer than KeepSucceededPodsFor
    /// (from the cache: no extra list requests).
    /// </summary>
    private async Task RunJanitorAsync(CancellationToken stoppingToken)
    {
        var keepShortest = _keepFailedPodsFor < _keepSucceededPodsFor ? _keepFailedPodsFor : _keepSucceededPodsFor;
        var period = TimeSpan.FromSeconds(Math.Clamp(keepShortest.TotalSeconds / 2, 1, 60));
        using var timer = new PeriodicTimer(period, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                var now = _time.GetUtcNow();
                List<(string Name, string Phase)> expired;
                lock (_gate)
                {
                    PruneTombstonesLocked(now);
                    expired = [.. _pods.Values
                        .Where(p => FinishedAt(p) is { } finished && p.Status?.Phase switch
                        {
                            "Failed" => now - finished > _keepFailedPodsFor,
                            "Succeeded" => now - finished > _keepSucceededPodsFor,
                            _ => false,
                        })
                        .Select(p => (p.Metadata.Name, p.Status!.Phase == "Failed" ? "failed" : "succeeded"))];
                }
                foreach (var (name, phase) in expired)
                {
                    try
                    {
                        await _client.CoreV1.DeleteNamespacedPodAsync(name, _namespace, cancellationToken: stoppingToken).ConfigureAwait(false);
                        _metrics.RecordJanitorDelete(phase);
                        if (phase == "succeeded")
                        {
                            _logger.LogWarning("deleted succeeded pod {Pod}, left behind by its build", name);
                        }
                    }
                    catch (HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
                    {
                        // Already gone.
                    }
                    catch (Exception e) when (e is HttpOperationException or HttpRequestException or IOException)
                    {
                        _logger.LogWarning("could not delete expired {Phase} pod {Pod}: {Error}", phase, name, e.Message);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private static DateTimeOffset? FinishedAt(V1Pod pod)
    {
        var finished = pod.Status?.ContainerStatuses?.Select(c => c.State?.Terminated?.FinishedAt).Max();
        return finished is { } f ? new DateTimeOffset(DateTime.SpecifyKind(f, DateTimeKind.Utc)) : null;
    }

    private sealed class Waiter(string? uid, Func<V1Pod, bool> condition)
    {
        public string? Uid { get; } = uid;
        public Func<V1Pod, bool> Condition { get; } = condition;
        public TaskCompletionSource<V1Pod> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
