using System.Text.Json.Serialization;

namespace BuildFarm.ClusterSim.Hosting;

/// <summary>What <c>/_sim/stats</c> reports.</summary>
public sealed record SimStatsSnapshot
{
    public required IReadOnlyList<RequestCount> Requests { get; init; }
    public required IReadOnlyDictionary<string, int> PodsByPhase { get; init; }
    public required int RunningPods { get; init; }
    public required int PeakConcurrentPods { get; init; }
    public required int Watches { get; init; }

    /// <summary>How fast the watch events reached the watchers' connections (measured in the server).</summary>
    public required WatchDeliverySnapshot WatchDelivery { get; init; }
    public required string ResourceVersion { get; init; }
    public required IReadOnlyDictionary<string, RegistryConcurrency> Registries { get; init; }
    public required IReadOnlyList<PodRecord> Pods { get; init; }
}

public sealed record RequestCount(string Verb, string Resource, int Code, long Count);

public sealed record RegistryConcurrency(int Peak, IReadOnlyList<ConcurrencyPoint> History);

public sealed record ConcurrencyPoint(DateTimeOffset Time, int Running);

/// <summary>One pod's life on a node: from bound to a slot until it stopped (null while running).</summary>
public sealed record PodRecord
{
    public required string Namespace { get; init; }
    public required string Name { get; init; }
    public required IReadOnlyList<string> Destinations { get; init; }
    public required string? Node { get; init; }
    public required DateTimeOffset? Start { get; init; }
    public required DateTimeOffset? End { get; init; }
    public required string Outcome { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? ExitCode { get; init; }
}

/// <summary>Counters behind <c>/_sim/stats</c>; thread-safe.</summary>
public sealed class SimStats
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string, string, int), long> _requests = [];
    private readonly Dictionary<string, (int Current, int Peak, List<ConcurrencyPoint> History)> _registries = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, PodRecord> _pods = new(StringComparer.Ordinal);
    private readonly HashSet<string> _runningPods = new(StringComparer.Ordinal);
    private int _peak;

    /// <summary>Watch delivery timings (thread-safe on their own).</summary>
    public WatchDeliveryStats WatchDelivery { get; } = new();

    public void CountRequest(string verb, string resource, int code)
    {
        lock (_lock)
        {
            _requests[(verb, resource, code)] = _requests.GetValueOrDefault((verb, resource, code)) + 1;
        }
    }

    public void PodCreated(string uid, string ns, string name, IReadOnlyList<string> destinations)
    {
        lock (_lock)
        {
            _pods[uid] = new PodRecord
            {
                Namespace = ns, Name = name, Destinations = destinations, Node = null, Start = null, End = null, Outcome = "Pending",
            };
        }
    }

    /// <summary>A pod took a slot at <paramref name="time"/>; its destinations' registries gain one concurrent build.</summary>
    public void PodStarted(string uid, string node, DateTimeOffset time, IEnumerable<string> registries)
    {
        lock (_lock)
        {
            _runningPods.Add(uid);
            _peak = Math.Max(_peak, _runningPods.Count);
            if (_pods.TryGetValue(uid, out var r))
            {
                _pods[uid] = r with { Node = node, Start = time, Outcome = "Running" };
            }
            foreach (var reg in registries.Distinct(StringComparer.OrdinalIgnoreCase))
            {
                var (current, peak, history) = _registries.GetValueOrDefault(reg, (0, 0, []));
                current++;
                history.Add(new ConcurrencyPoint(time, current));
                _registries[reg] = (current, Math.Max(peak, current), history);
            }
        }
    }

    /// <summary>A pod's phase turned Succeeded or Failed: it stops counting as running at once, as it stops counting
    /// against the namespace's pod quota, although its kubelet loop ends (<see cref="PodStopped"/>) a little later.</summary>
    public void PodTerminated(string uid)
    {
        lock (_lock)
        {
            _runningPods.Remove(uid);
        }
    }

    public void PodStopped(string uid, DateTimeOffset time, string outcome, int? exitCode, IEnumerable<string> registries, bool wasStarted)
    {
        lock (_lock)
        {
            if (_pods.TryGetValue(uid, out var r))
            {
                _pods[uid] = r with { End = time, Outcome = outcome, ExitCode = exitCode };
            }
            if (!wasStarted)
            {
                return;
            }
            _runningPods.Remove(uid);
            foreach (var reg in registries.Distinct(StringComparer.OrdinalIgnoreCase))
            {
                var (current, peak, history) = _registries.GetValueOrDefault(reg, (1, 1, []));
                current--;
                history.Add(new ConcurrencyPoint(time, current));
                _registries[reg] = (current, peak, history);
            }
        }
    }

    public SimStatsSnapshot Snapshot(IReadOnlyDictionary<string, int> podsByPhase, int watches, string resourceVersion)
    {
        lock (_lock)
        {
            return new SimStatsSnapshot
            {
                Requests = _requests.Select(kv => new RequestCount(kv.Key.Item1, kv.Key.Item2, kv.Key.Item3, kv.Value))
                    .OrderBy(r => r.Verb, StringComparer.Ordinal).ThenBy(r => r.Resource, StringComparer.Ordinal).ThenBy(r => r.Code).ToList(),
                PodsByPhase = podsByPhase,
                RunningPods = _runningPods.Count,
                PeakConcurrentPods = _peak,
                Watches = watches,
                WatchDelivery = WatchDelivery.Snapshot(),
                ResourceVersion = resourceVersion,
                Registries = _registries.ToDictionary(kv => kv.Key, kv => new RegistryConcurrency(kv.Value.Peak, kv.Value.History.ToList()), StringComparer.OrdinalIgnoreCase),
                Pods = _pods.Values.OrderBy(p => p.Start ?? DateTimeOffset.MaxValue).ThenBy(p => p.Name, StringComparer.Ordinal).ToList(),
            };
        }
    }
}
