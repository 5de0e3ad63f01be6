using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using BuildFarm.ClusterSim.Api;
using BuildFarm.ClusterSim.Hosting;
using BuildFarm.ClusterSim.Kaniko;
using BuildFarm.ClusterSim.Scenarios;
using k8s.Models;

namespace BuildFarm.ClusterSim.Kubelet;

/// <summary>
/// The scheduler and kubelets of the simulated cluster: binds pods to node slots (FIFO; Unschedulable when full),
/// takes them through ContainerCreating and Running to Succeeded/Failed while printing the planned Kaniko log,
/// and handles graceful deletion.
/// </summary>
public sealed partial class SimKubelet : IDisposable
{
    private readonly SimStore _store;
    private readonly SimClock _clock;
    private readonly Func<Scenario> _scenario;
    private readonly long _seed;
    private readonly SimStats _stats;
    private readonly ConcurrentDictionary<string, PodRun> _runs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ContainerLog> _logs = new(StringComparer.Ordinal);
    private readonly Lock _slotLock = new();
    private readonly LinkedList<PodRun> _waiting = new();
    private readonly CancellationTokenSource _shutdown = new();
    private int[] _nodeUsage = [];
    private IReadOnlyList<IReadOnlyDictionary<string, string>> _nodeLabels = [];
    private int _podsPerNode;
    private int _ipCounter;

    public SimKubelet(SimStore store, SimClock clock, Func<Scenario> scenario, long seed, SimStats stats)
    {
        _store = store;
        _clock = clock;
        _scenario = scenario;
        _seed = seed;
        _stats = stats;
        Resize(scenario().Capacity);
    }

    /// <summary>Applies a new capacity; pods already on a node keep their slot.</summary>
    public void Resize(CapacitySettings capacity)
    {
        ArgumentNullException.ThrowIfNull(capacity);
        lock (_slotLock)
        {
            var labels = capacity.NodeLabels();
            var usage = new int[labels.Count];
            Array.Copy(_nodeUsage, usage, Math.Min(_nodeUsage.Length, usage.Length));
            _nodeUsage = usage;
            _nodeLabels = labels;
            _podsPerNode = capacity.PodsPerNode;
        }
        PumpWaiting();
    }

    public static string NodeName(int index) => string.Create(CultureInfo.InvariantCulture, $"sim-node-{index + 1}");

    private static string NodeIp(int index) => string.Create(CultureInfo.InvariantCulture, $"10.0.0.{index + 10}");

    /// <summary>The log of a pod's container, or null when that container has not started.</summary>
    public ContainerLog? Log(string uid, string container) => _logs.GetValueOrDefault(uid + "/" + container);

    /// <summary>Deterministic per-pod random numbers: seeded from the simulator seed and the pod's namespace/name.</summary>
    public static Random PodRandom(long seed, string ns, string name)
    {
        var h = SHA256.HashData(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{seed}/{ns}/{name}")));
        return new Random(BitConverter.ToInt32(h, 0) & int.MaxValue);
    }

    public void OnCreated(V1Pod pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        var args = ArgsOf(pod, out _);
        var run = new PodRun(pod.Metadata.NamespaceProperty, pod.Metadata.Name, pod.Metadata.Uid, args?.Destinations ?? [],
            CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token))
        {
            NodeSelector = pod.Spec?.NodeSelector is { Count: > 0 } selector ? new Dictionary<string, string>(selector, StringComparer.Ordinal) : null,
        };
        _runs[run.Uid] = run;
        _stats.PodCreated(run.Uid, run.Namespace, run.Name, run.Destinations);
        run.Task = Task.Run(() => LifeAsync(run));
    }

    /// <summary>
    /// Graceful delete: the pod gets a deletionTimestamp now; a running container is killed (Killing event) and the
    /// pod disappears (DELETED) after the grace period (simulated), at once with grace 0 or when nothing runs.
    /// </summary>
    public V1Pod RequestDelete(V1Pod pod, long? gracePeriodSeconds)
    {
        ArgumentNullException.ThrowIfNull(pod);
        var grace = gracePeriodSeconds ?? pod.Spec?.TerminationGracePeriodSeconds ?? 30;
        if (pod.Metadata.DeletionTimestamp is not null && grace != 0)
        {
            return pod;
        }
        if (grace == 0 || string.IsNullOrEmpty(pod.Spec?.NodeName))
        {
            var removed = _store.RemovePod(pod.Metadata.NamespaceProperty, pod.Metadata.Name, pod.Metadata.Uid) ?? pod;
            if (_runs.TryGetValue(pod.Metadata.Uid, out var r))
            {
                r.Delete(0);
            }
            return removed;
        }
        var now = SimStore.Truncate(_clock.Now);
        var updated = _store.UpdatePod(pod.Metadata.NamespaceProperty, pod.Metadata.Name, p =>
        {
            p.Metadata.DeletionTimestamp = now.AddSeconds(grace);
            p.Metadata.DeletionGracePeriodSeconds = grace;
        }) ?? pod;
        if (_runs.TryGetValue(pod.Metadata.Uid, out var run))
        {
            run.Delete(grace);
        }
        else
        {
            _store.RemovePod(pod.Metadata.NamespaceProperty, pod.Metadata.Name, pod.Metadata.Uid);
        }
        return updated;
    }

    /// <summary>The first container's memory limit in bytes, or null when it has none.</summary>
    public static decimal? MemoryLimitOf(V1Pod pod) =>
        pod.Spec?.Containers?.FirstOrDefault()?.Resources?.Limits is { } limits && limits.TryGetValue("memory", out var limit) ? limit.ToDecimal() : null;

    /// <summary>Kaniko's args from the first container: its args, after the executor in its command if it has one.</summary>
    public static KanikoArgs? ArgsOf(V1Pod pod, out string? error)
    {
        error = null;
        var c = pod.Spec?.Containers?.FirstOrDefault();
        if (c is null)
        {
            return null;
        }
        var all = new List<string>();
        if (c.Command is { Count: > 0 } cmd)
        {
            all.AddRange(cmd.Skip(1));
        }
        if (c.Args is not null)
        {
            all.AddRange(c.Args);
        }
        try
        {
            return KanikoArgs.Parse(all);
        }
        catch (FormatException e)
        {
            error = e.Message;
            return null;
        }
    }

    private async Task LifeAsync(PodRun run)
    {
        var started = false;
        var registries = run.Destinations.Select(d => ImageRef.Parse(d).Registry).ToList();
        try
        {
            var scenario = _scenario();
            var random = PodRandom(_seed, run.Namespace, run.Name);
            var ct = run.Cancel.Token;
            try
            {
                await _clock.DelayAsync(scenario.Timings.Schedule?.Sample(random) ?? 0, ct);
                var node = await AcquireSlotAsync(run, ct);
                started = true;
                _stats.PodStarted(run.Uid, NodeName(node), _clock.Now, registries);
                await RunOnNodeAsync(run, node, scenario, random, ct);
            }
            catch (OperationCanceledException) when (run.Cancel.IsCancellationRequested && !_shutdown.IsCancellationRequested)
            {
                await KillAsync(run);
            }
            finally
            {
                ReleaseSlot(run);
                var pod = _store.GetPod(run.Namespace, run.Name);
                var status = pod?.Status?.ContainerStatuses?.FirstOrDefault()?.State?.Terminated;
                _stats.PodStopped(run.Uid, _clock.Now, pod?.Status?.Reason ?? pod?.Status?.Phase ?? "Deleted", status?.ExitCode, registries, started);
                foreach (var log in _logs.Where(kv => kv.Key.StartsWith(run.Uid + "/", StringComparison.Ordinal)))
                {
                    log.Value.End();
                }
            }
            // A finished pod stays until it is deleted.
            var grace = await run.Deleted.Task.WaitAsync(_shutdown.Token);
            await _clock.DelayAsync(Math.Min(grace, 0.5), _shutdown.Token);
            _store.RemovePod(run.Namespace, run.Name, run.Uid);
            foreach (var key in _logs.Keys.Where(k => k.StartsWith(run.Uid + "/", StringComparison.Ordinal)).ToList())
            {
                _logs.TryRemove(key, out _);
            }
        }
        catch (OperationCanceledException) when (_shutdown.IsCancellationRequested)
        {
            // Simulator shutting down.
        }
        finally
        {
            _runs.TryRemove(run.Uid, out _);
            run.Cancel.Dispose();
        }
    }

    private async Task KillAsync(PodRun run)
    {
        var pod = _store.GetPod(run.Namespace, run.Name);
        if (pod is null)
        {
            return;
        }
        var running = pod.Status?.ContainerStatuses?.Any(c => c.State?.Running is not null || c.State?.Waiting is not null) == true;
        if (!running || run.NodeIndex < 0)
        {
            return;
        }
        foreach (var c in pod.Spec.Containers)
        {
            _store.RecordEvent(pod, "Normal", "Killing", $"Stopping container {c.Name}", host: NodeName(run.NodeIndex));
        }
        // Kaniko ignores SIGTERM as PID 1: it is killed when the grace period ends (capped at 2 wall seconds).
        var grace = run.Deleted.Task.IsCompleted ? run.Deleted.Task.Result : 0;
        await _clock.DelayAsync(Math.Min(grace, 2 * _clock.Scale), _shutdown.Token);
        var now = SimStore.Truncate(_clock.Now);
        _store.UpdatePod(run.Namespace, run.Name, p =>
        {
            p.Status.Phase = p.Status.Phase == "Running" || p.Status.ContainerStatuses?.Any(c => c.State?.Running is not null) == true ? "Failed" : p.Status.Phase;
            foreach (var cs in p.Status.ContainerStatuses ?? [])
            {
                if (cs.State?.Running is not null || cs.State?.Waiting is not null)
                {
                    cs.State = new V1ContainerState
                    {
                        Terminated = new V1ContainerStateTerminated
                        {
                            ExitCode = 137, Reason = "Error", StartedAt = cs.State.Running?.StartedAt, FinishedAt = now, ContainerID = cs.ContainerID,
                        },
                    };
                    cs.Ready = false;
                    cs.Started = false;
                }
            }
            SetReady(p, false, "PodCompleted", now);
        });
    }

    public void Dispose()
    {
        _shutdown.Cancel();
        var tasks = _runs.Values.Select(r => r.Task).Where(t => t is not null).Cast<Task>().ToArray();
        try
        {
            Task.WaitAll(tasks, TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // Cancelled runs.
        }
        _shutdown.Dispose();
    }

    private sealed class PodRun(string ns, string name, string uid, IReadOnlyList<string> destinations, CancellationTokenSource cancel)
    {
        public string Namespace { get; } = ns;
        public string Name { get; } = name;
        public string Uid { get; } = uid;
        public IReadOnlyList<string> Destinations { get; } = destinations;
        public CancellationTokenSource Cancel { get; } = cancel;
        public TaskCompletionSource<int> Slot { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource<long> Deleted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int NodeIndex { get; set; } = -1;
        public Dictionary<string, string>? NodeSelector { get; init; }
        public bool SlotReleased { get; set; }
        public Task? Task { get; set; }

        public void Delete(long grace)
        {
            Deleted.TrySetResult(grace);
            try
            {
                Cancel.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Already finished.
            }
        }
    }
}
