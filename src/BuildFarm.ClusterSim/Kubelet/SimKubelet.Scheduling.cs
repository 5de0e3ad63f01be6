using System.Globalization;
using BuildFarm.ClusterSim.Api;
using k8s.Models;

namespace BuildFarm.ClusterSim.Kubelet;

public sealed partial class SimKubelet
{
    // ---- node slots: FIFO binding, node selectors, release and wake-up of waiting pods ----------------

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
}
