using System.Globalization;
using BuildFarm.ClusterSim.Api;
using BuildFarm.ClusterSim.Kaniko;
using BuildFarm.ClusterSim.Scenarios;
using BuildFarm.Registry;
using k8s.Models;

namespace BuildFarm.ClusterSim.Kubelet;

public sealed partial class SimKubelet
{
    // ---- the pod on its node: ContainerCreating, the planned Kaniko run, pushes and termination ------

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
            plan = KanikoScript.Plan(args, scenario, random, $"{run.Namespace}/{run.Name}", _seed, o => _clock.After(startSim, o), podIp, realImage?.Digest,
                registryLoad: _stats.RegistryLoad, memoryLimit: MemoryLimitOf(current));
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
}
