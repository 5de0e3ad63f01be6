using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using BuildFarm.ClusterSim.Api;
using BuildFarm.ClusterSim.Hosting;
using BuildFarm.ClusterSim.Kaniko;
using BuildFarm.ClusterSim.Scenarios;
using BuildFarm.Registry;
using k8s.Models;

namespace BuildFarm.ClusterSim.Kubelet;

/// <summary>
/// The scheduler and kubelets of the simulated cluster: binds pods to node slots (FIFO; Unschedulable when full),
/// takes them through ContainerCreating and Running to Succeeded/Failed while printing the planned Kaniko log,
/// and handles graceful deletion.
/// </summary>
public sealed class SimKubelet : IDisposable
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

    private async Task<int> AcquireSlotAsync(PodRun run, CancellationToken ct)
    {
        int nodes;
        int matching;
        lock (_slotLock)
        {
            // FIFO among pods that want the same nodes; a pod for other nodes is not held up behind them.
            if (!_waiting.Any(w => SameSelector(w, run)) && TryTakeSlot(run, out var node))
            {
                run.NodeIndex = node;
                return node;
            }
            _waiting.AddLast(run);
            nodes = _nodeUsage.Length;
            matching = Enumerable.Range(0, nodes).Count(i => Matches(run, i));
        }
        var pod = _store.GetPod(run.Namespace, run.Name);
        if (pod is not null)
        {
            // The default scheduler's wording: no node matches the selector, or the matching ones are full.
            var message = matching == 0
                ? string.Create(CultureInfo.InvariantCulture,
                    $"0/{nodes} nodes are available: {nodes} node(s) didn't match Pod's node affinity/selector. preemption: 0/{nodes} nodes are available: {nodes} Preemption is not helpful for scheduling.")
                : matching == nodes
                    ? string.Create(CultureInfo.InvariantCulture,
                        $"0/{nodes} nodes are available: {nodes} Too many pods. preemption: 0/{nodes} nodes are available: {nodes} No preemption victims found for incoming pod.")
                    : string.Create(CultureInfo.InvariantCulture,
                        $"0/{nodes} nodes are available: {nodes - matching} node(s) didn't match Pod's node affinity/selector, {matching} Too many pods. preemption: 0/{nodes} nodes are available: {matching} No preemption victims found for incoming pod, {nodes - matching} Preemption is not helpful for scheduling.");
            var now = SimStore.Truncate(_clock.Now);
            _store.UpdatePod(run.Namespace, run.Name, p =>
            {
                p.Status.Conditions = [new V1PodCondition { Type = "PodScheduled", Status = "False", Reason = "Unschedulable", Message = message, LastTransitionTime = now }];
            });
            _store.RecordEvent(pod, "Warning", "FailedScheduling", message, component: "default-scheduler");
        }
        using (ct.Register(() =>
        {
            lock (_slotLock)
            {
                _waiting.Remove(run);
            }
            run.Slot.TrySetCanceled(ct);
        }))
        {
            return await run.Slot.Task;
        }
    }

    /// <summary>True when node <paramref name="node"/> has every label of the pod's node selector. Keys that no node of the
    /// scenario carries are not matched on (so a farm's own pool selector works against the default scenario).</summary>
    private bool Matches(PodRun run, int node)
    {
        if (run.NodeSelector is null || node >= _nodeLabels.Count)
        {
            return true;
        }
        foreach (var (key, value) in run.NodeSelector)
        {
            if (!_nodeLabels.Any(l => l.ContainsKey(key)))
            {
                continue;
            }
            if (!_nodeLabels[node].TryGetValue(key, out var actual) || actual != value)
            {
                return false;
            }
        }
        return true;
    }

    private static bool SameSelector(PodRun a, PodRun b) =>
        (a.NodeSelector?.Count ?? 0) == (b.NodeSelector?.Count ?? 0)
        && (a.NodeSelector ?? []).All(kv => b.NodeSelector!.TryGetValue(kv.Key, out var v) && v == kv.Value);

    private bool TryTakeSlot(PodRun run, out int node)
    {
        node = -1;
        for (var i = 0; i < _nodeUsage.Length; i++)
        {
            if (_nodeUsage[i] < _podsPerNode && Matches(run, i) && (node < 0 || _nodeUsage[i] < _nodeUsage[node]))
            {
                node = i;
            }
        }
        if (node < 0)
        {
            return false;
        }
        _nodeUsage[node]++;
        return true;
    }

    /// <summary>The <c>os/arch</c> of a node (a pod without <c>--custom-platform</c> builds for it, as Kaniko does).</summary>
    private string NodePlatform(int node)
    {
        lock (_slotLock)
        {
            var labels = node < _nodeLabels.Count ? _nodeLabels[node] : null;
            return $"{labels?.GetValueOrDefault("kubernetes.io/os") ?? "linux"}/{labels?.GetValueOrDefault("kubernetes.io/arch") ?? "amd64"}";
        }
    }

    private void ReleaseSlot(PodRun run)
    {
        lock (_slotLock)
        {
            _waiting.Remove(run);
            if (run.NodeIndex >= 0 && !run.SlotReleased)
            {
                run.SlotReleased = true;
                if (run.NodeIndex < _nodeUsage.Length)
                {
                    _nodeUsage[run.NodeIndex]--;
                }
            }
        }
        PumpWaiting();
    }

    private void PumpWaiting()
    {
        var granted = new List<(PodRun Run, int Node)>();
        lock (_slotLock)
        {
            for (var entry = _waiting.First; entry is not null;)
            {
                var next = entry.Next;
                if (TryTakeSlot(entry.Value, out var node))
                {
                    _waiting.Remove(entry);
                    entry.Value.NodeIndex = node;
                    granted.Add((entry.Value, node));
                }
                entry = next;
            }
        }
        foreach (var (run, node) in granted)
        {
            run.Slot.TrySetResult(node);
        }
    }

    /// <summary>The genuine image a pod pushes when one of its destinations' registries has an <c>endpoint</c>: its
    /// platform is <c>--custom-platform</c>, else the node's; its content names the build (context and Dockerfile), so
    /// every attempt of a build pushes the same digest.</summary>
    private MinimalImage? RealImage(KanikoArgs args, Scenario scenario, int node)
    {
        if (args.NoPush || !args.Destinations.Any(d => scenario.Registries.TryGetValue(ImageRef.Parse(d).Registry, out var r) && r.Endpoint is not null))
        {
            return null;
        }
        var platformText = args.CustomPlatform ?? NodePlatform(node);
        if (!OciPlatform.TryParse(platformText, out var platform, out _))
        {
            platform = OciPlatform.Parse(NodePlatform(node));
        }
        return MinimalImage.Create(platform, $"buildfarm simulated build\ncontext {args.Context}\ndockerfile {args.Dockerfile}\nplatform {platform}\n");
    }

    /// <summary>Pushes <paramref name="image"/> to each destination on a mapped registry; the error, or null.</summary>
    private static async Task<string?> PushRealImageAsync(KanikoArgs args, Scenario scenario, MinimalImage image, CancellationToken ct)
    {
        var options = new RegistryClientOptions { MaxRetries = 2, RequestTimeout = TimeSpan.FromSeconds(20), ResetPhase = "push" };
        foreach (var (host, settings) in scenario.Registries)
        {
            if (settings.Endpoint is { } endpoint)
            {
                options.Endpoints[host] = new Uri(endpoint.EndsWith('/') ? endpoint : endpoint + "/");
            }
        }
        using var client = new RegistryClient(options);
        foreach (var destination in args.Destinations)
        {
            if (!RegistryReference.TryParse(destination, out var reference, out var error))
            {
                return $"failed to push to destination {destination}: {error}";
            }
            if (!options.Endpoints.ContainsKey(reference.Registry))
            {
                continue;
            }
            try
            {
                await client.PushImageAsync(reference.Tag is null ? reference.WithTag("latest") : reference, image, ct);
            }
            catch (Exception e) when (e is RegistryException or HttpRequestException or IOException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                return $"failed to push to destination {destination}: {e.Message}";
            }
        }
        return null;
    }

    private static void SetReady(V1Pod p, bool ready, string? reason, DateTime now)
    {
        var value = ready ? "True" : "False";
        foreach (var type in new[] { "ContainersReady", "Ready" })
        {
            var c = p.Status.Conditions.FirstOrDefault(x => x.Type == type);
            if (c is null)
            {
                c = new V1PodCondition { Type = type };
                p.Status.Conditions.Add(c);
            }
            if (c.Status != value)
            {
                c.LastTransitionTime = now;
            }
            c.Status = value;
            c.Reason = ready ? null : reason;
        }
    }

    private async Task RunOnNodeAsync(PodRun run, int node, Scenario scenario, Random random, CancellationToken ct)
    {
        var nodeName = NodeName(node);
        var pod = _store.GetPod(run.Namespace, run.Name);
        if (pod is null)
        {
            return;
        }
        var now = SimStore.Truncate(_clock.Now);
        pod = _store.UpdatePod(run.Namespace, run.Name, p =>
        {
            p.Spec.NodeName = nodeName;
            p.Status.Conditions = [new V1PodCondition { Type = "PodScheduled", Status = "True", LastTransitionTime = now }];
        }, changesSpec: true);
        if (pod is null)
        {
            return;
        }
        _store.RecordEvent(pod, "Normal", "Scheduled", $"Successfully assigned {run.Namespace}/{run.Name} to {nodeName}", component: "default-scheduler");
        pod = _store.UpdatePod(run.Namespace, run.Name, p =>
        {
            p.Status.HostIP = NodeIp(node);
            p.Status.HostIPs = [new V1HostIP { Ip = NodeIp(node) }];
            p.Status.StartTime = now;
            p.Status.Conditions.Add(new V1PodCondition { Type = "PodReadyToStartContainers", Status = "False", LastTransitionTime = now });
            p.Status.Conditions.Add(new V1PodCondition { Type = "Initialized", Status = "True", LastTransitionTime = now });
            SetReady(p, false, "ContainersNotReady", now);
            foreach (var c in p.Status.Conditions.Where(c => c.Type is "Ready" or "ContainersReady"))
            {
                c.Message = $"containers with unready status: [{string.Join(' ', p.Spec.Containers.Select(x => x.Name))}]";
            }
            p.Status.ContainerStatuses = p.Spec.Containers.Select(c => new V1ContainerStatus
            {
                Name = c.Name,
                Image = c.Image,
                ImageID = string.Empty,
                Ready = false,
                RestartCount = 0,
                Started = false,
                State = new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = "ContainerCreating" } },
            }).ToList();
        });
        if (pod is null)
        {
            return;
        }
        var deadline = pod.Spec.ActiveDeadlineSeconds;
        using var deadlineCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var deadlineHit = false;
        if (deadline is { } seconds)
        {
            // activeDeadlineSeconds is simulated time like every other duration.
            var at = _clock.After(_clock.Now, seconds);
            _ = Task.Run(async () =>
            {
                try
                {
                    await _clock.DelayUntilAsync(at, deadlineCts.Token);
                    deadlineHit = true;
                    await deadlineCts.CancelAsync();
                }
                catch (OperationCanceledException)
                {
                    // The pod ended first.
                }
            }, CancellationToken.None);
        }
        try
        {
            await RunContainersAsync(run, pod, node, scenario, random, deadlineCts.Token);
        }
        catch (OperationCanceledException) when (deadlineHit && !ct.IsCancellationRequested)
        {
            var end = SimStore.Truncate(_clock.Now);
            var current = _store.GetPod(run.Namespace, run.Name);
            if (current is not null)
            {
                _store.RecordEvent(current, "Normal", "DeadlineExceeded", "Pod was active on the node longer than the specified deadline", host: nodeName);
            }
            _store.UpdatePod(run.Namespace, run.Name, p =>
            {
                p.Status.Phase = "Failed";
                p.Status.Reason = "DeadlineExceeded";
                p.Status.Message = "Pod was active on the node longer than the specified deadline";
                Terminate(p, 137, "Error", string.Empty, end);
                SetReady(p, false, "PodFailed", end);
            });
        }
        finally
        {
            await deadlineCts.CancelAsync();
        }
    }

    private static void Terminate(V1Pod p, int exitCode, string reason, string message, DateTime now)
    {
        foreach (var cs in p.Status.ContainerStatuses ?? [])
        {
            if (cs.State?.Terminated is not null)
            {
                continue;
            }
            cs.State = new V1ContainerState
            {
                Terminated = new V1ContainerStateTerminated
                {
                    ExitCode = exitCode,
                    Reason = reason,
                    Message = string.IsNullOrEmpty(message) ? null : message,
                    StartedAt = cs.State?.Running?.StartedAt,
                    FinishedAt = now,
                    ContainerID = cs.ContainerID,
                },
            };
            cs.Ready = false;
            cs.Started = false;
        }
    }

    private async Task RunContainersAsync(PodRun run, V1Pod pod, int node, Scenario scenario, Random random, CancellationToken ct)
    {
        var nodeName = NodeName(node);
        var image = pod.Spec.Containers[0].Image;
        // The executor image's registry decides (registries.<host>.faults.executorImagePullBackOff over the global rate).
        var pullBackOff = random.NextDouble() < ((string.IsNullOrWhiteSpace(image) ? scenario.Faults : scenario.FaultsFor(ImageRef.Parse(image).Registry)).ExecutorImagePullBackOff ?? 0);
        var pullSeconds = scenario.Timings.ExecutorPull?.Sample(random) ?? 0;
        _store.RecordEvent(pod, "Normal", "Pulling", $"Pulling image \"{image}\"", host: nodeName);
        if (pullBackOff)
        {
            await ImagePullBackOffAsync(run, pod, image, nodeName, ct);
            return;
        }
        await _clock.DelayAsync(pullSeconds, ct);
        var pulled = pullSeconds.ToString("0.###", CultureInfo.InvariantCulture);
        _store.RecordEvent(pod, "Normal", "Pulled",
            $"Successfully pulled image \"{image}\" in {pulled}s ({pulled}s including waiting). Image size: 30518834 bytes.", host: nodeName);
        foreach (var c in pod.Spec.Containers)
        {
            _store.RecordEvent(pod, "Normal", "Created", $"Created container: {c.Name}", host: nodeName);
            _store.RecordEvent(pod, "Normal", "Started", $"Started container {c.Name}", host: nodeName);
        }

        var podIp = string.Create(CultureInfo.InvariantCulture, $"10.244.{node}.{2 + Interlocked.Increment(ref _ipCounter) % 250}");
        var startSim = _clock.Now;
        var start = SimStore.Truncate(startSim);
        var log = new ContainerLog();
        foreach (var c in pod.Spec.Containers)
        {
            _logs[run.Uid + "/" + c.Name] = c == pod.Spec.Containers[0] ? log : EndedLog();
        }
        var current = _store.UpdatePod(run.Namespace, run.Name, p =>
        {
            p.Status.Phase = "Running";
            p.Status.PodIP = podIp;
            p.Status.PodIPs = [new V1PodIP { Ip = podIp }];
            p.Status.Conditions.First(c => c.Type == "PodReadyToStartContainers").Status = "True";
            var i = 0;
            foreach (var cs in p.Status.ContainerStatuses)
            {
                cs.ContainerID = string.Create(CultureInfo.InvariantCulture, $"containerd://{KanikoScript.Sha256Hex($"{run.Uid}/{cs.Name}/{i++}")}");
                cs.ImageID = cs.Image.Contains('@', StringComparison.Ordinal) ? cs.Image : $"{cs.Image}@sha256:{KanikoScript.Sha256Hex(cs.Image)}";
                cs.State = new V1ContainerState { Running = new V1ContainerStateRunning { StartedAt = start } };
                cs.Ready = true;
                cs.Started = true;
            }
            SetReady(p, true, null, start);
            foreach (var c in p.Status.Conditions)
            {
                c.Message = null;
            }
        });
        if (current is null)
        {
            return;
        }

        var args = ArgsOf(current, out var argsError);
        KanikoRun plan;
        if (args is null || (args.Destinations.Count == 0 && !args.NoPush))
        {
            var message = argsError ?? "you must provide --destination, or use --no-push";
            plan = new KanikoRun
            {
                Lines = [new ScriptLine(0.05, $"Error: {message}")],
                Fate = PodFate.Failed,
                ExitCode = 1,
                Duration = 0.1,
                Digest = string.Empty,
                ImageDigest = string.Empty,
            };
        }
        else
        {
            var realImage = RealImage(args, scenario, node);
            plan = KanikoScript.Plan(args, scenario, random, $"{run.Namespace}/{run.Name}", _seed, o => _clock.After(startSim, o), podIp, realImage?.Digest);
            if (realImage is not null && plan.Fate == PodFate.Succeeded
                && await PushRealImageAsync(args, scenario, realImage, ct) is { } pushError)
            {
                plan = plan with
                {
                    Lines = [.. plan.Lines.Where(l => !l.Text.StartsWith("Pushed ", StringComparison.Ordinal)),
                        new ScriptLine(plan.Duration, $"error pushing image: {pushError}")],
                    Fate = PodFate.Failed,
                    ExitCode = 1,
                    Digest = string.Empty,
                };
            }
        }

        foreach (var line in plan.Lines)
        {
            var at = _clock.After(startSim, line.Offset);
            await _clock.DelayUntilAsync(at, ct);
            log.Append(at, line.Text);
        }
        await _clock.DelayUntilAsync(_clock.After(startSim, plan.Duration), ct);
        log.End();
        var end = SimStore.Truncate(_clock.Now);
        switch (plan.Fate)
        {
            case PodFate.Succeeded:
            case PodFate.Failed:
            case PodFate.OomKilled:
                var ok = plan.Fate == PodFate.Succeeded;
                var policy = current.Spec.Containers[0].TerminationMessagePolicy;
                var message = ok ? plan.Digest
                    : policy == "FallbackToLogsOnError" ? Tail(log.Text(), 80, 2048) : string.Empty;
                _store.UpdatePod(run.Namespace, run.Name, p =>
                {
                    p.Status.Phase = ok ? "Succeeded" : "Failed";
                    Terminate(p, plan.ExitCode, ok ? "Completed" : plan.Fate == PodFate.OomKilled ? "OOMKilled" : "Error", message, end);
                    SetReady(p, false, ok ? "PodCompleted" : "PodFailed", end);
                });
                break;
            case PodFate.Evicted:
                var evictMessage = "The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 8Gi. Container kaniko was using 14Gi, request is 0, has larger consumption of ephemeral-storage. ";
                _store.RecordEvent(current, "Warning", "Evicted", evictMessage, host: nodeName);
                foreach (var c in current.Spec.Containers)
                {
                    _store.RecordEvent(current, "Normal", "Killing", $"Stopping container {c.Name}", host: nodeName);
                }
                _store.UpdatePod(run.Namespace, run.Name, p =>
                {
                    p.Status.Phase = "Failed";
                    p.Status.Reason = "Evicted";
                    p.Status.Message = evictMessage;
                    Terminate(p, 137, "ContainerStatusUnknown", "The container could not be located when the pod was terminated", end);
                    SetReady(p, false, "PodFailed", end);
                    p.Status.Conditions.Add(new V1PodCondition
                    {
                        Type = "DisruptionTarget", Status = "True", Reason = "TerminationByKubelet", Message = evictMessage, LastTransitionTime = end,
                    });
                });
                break;
            case PodFate.NodeLost:
                _store.UpdatePod(run.Namespace, run.Name, p =>
                {
                    p.Status.Reason = "NodeLost";
                    p.Status.Message = $"Node {nodeName} which was running pod {run.Name} is unresponsive";
                    foreach (var c in p.Status.Conditions.Where(c => c.Type is "Ready" or "ContainersReady"))
                    {
                        c.Status = "Unknown";
                        c.Reason = "NodeStatusUnknown";
                        c.Message = "Kubelet stopped posting node status.";
                        c.LastTransitionTime = end;
                    }
                    p.Status.Conditions.Add(new V1PodCondition
                    {
                        Type = "DisruptionTarget", Status = "True", Reason = "DeletionByTaintManager",
                        Message = "Taint manager: deleting due to NoExecute taint", LastTransitionTime = end,
                    });
                    p.Metadata.DeletionTimestamp = end.AddSeconds(30);
                    p.Metadata.DeletionGracePeriodSeconds = 30;
                });
                run.Delete(30);
                break;
            default:
                break;
        }
    }

    private static ContainerLog EndedLog()
    {
        var l = new ContainerLog();
        l.End();
        return l;
    }

    private static string Tail(string text, int lines, int bytes)
    {
        var all = text.TrimEnd('\n').Split('\n');
        var tail = string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
        return tail.Length > bytes ? tail[^bytes..] : tail;
    }

    private async Task ImagePullBackOffAsync(PodRun run, V1Pod pod, string image, string nodeName, CancellationToken ct)
    {
        var backoff = 10.0;
        while (true)
        {
            await _clock.DelayAsync(2, ct);
            _store.RecordEvent(pod, "Warning", "Failed",
                $"Failed to pull image \"{image}\": rpc error: code = Unknown desc = failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": unexpected status from HEAD request: 503 Service Unavailable", host: nodeName);
            _store.RecordEvent(pod, "Warning", "Failed", "Error: ErrImagePull", host: nodeName);
            SetWaiting(run, "ErrImagePull", $"failed to pull and unpack image \"{image}\": 503 Service Unavailable");
            await _clock.DelayAsync(1, ct);
            _store.RecordEvent(pod, "Normal", "BackOff", $"Back-off pulling image \"{image}\"", host: nodeName);
            _store.RecordEvent(pod, "Warning", "Failed", "Error: ImagePullBackOff", host: nodeName);
            SetWaiting(run, "ImagePullBackOff", $"Back-off pulling image \"{image}\": ErrImagePull: 503 Service Unavailable");
            await _clock.DelayAsync(backoff, ct);
            backoff = Math.Min(backoff * 2, 300);
            _store.RecordEvent(pod, "Normal", "Pulling", $"Pulling image \"{image}\"", host: nodeName);
        }
    }

    private void SetWaiting(PodRun run, string reason, string message) =>
        _store.UpdatePod(run.Namespace, run.Name, p =>
        {
            foreach (var cs in p.Status.ContainerStatuses ?? [])
            {
                cs.State = new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = reason, Message = message } };
            }
        });

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

    private sealed class PodRun
    {
        public PodRun(string ns, string name, string uid, IReadOnlyList<string> destinations, CancellationTokenSource cancel)
        {
            Namespace = ns;
            Name = name;
            Uid = uid;
            Destinations = destinations;
            Cancel = cancel;
        }

        public string Namespace { get; }
        public string Name { get; }
        public string Uid { get; }
        public IReadOnlyList<string> Destinations { get; }
        public CancellationTokenSource Cancel { get; }
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
