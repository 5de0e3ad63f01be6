using System.Globalization;
using BuildFarm.ClusterSim.Kaniko;
using BuildFarm.ClusterSim.Kubelet;
using BuildFarm.ClusterSim.Scenarios;
using BuildFarm.Coordination.Adaptive;

namespace BuildFarm.Benchmarks;

/// <summary>
/// <c>registry-congestion</c>: a fan-out of builds pushing to one registry that takes <c>--capacity</c> concurrent
/// pushes (the simulator's capacity model, <see cref="Scenario.CongestionResetRate"/>), run twice in simulated time
/// with the same seed: with the fixed slot limit (<c>--max</c>) and with the adaptive one (<see cref="AdaptiveLimit"/>
/// between <c>--floor</c> and <c>--max</c>). Each pod is the simulated Kaniko's own plan (its log lines, push retries
/// and resets) for the load it starts under; a pod that fails on resets is retried in a new pod after a backoff, as the
/// worker does. Prints resets, failed builds, pods and makespan for both, and the ratios.
/// </summary>
internal static class RegistryCongestionLoad
{
    private const string Usage = "usage: registry-congestion [--builds 1000] [--slots 32] [--capacity 8] [--max 20] [--floor 2] [--seed 7] [--runs 1] " +
        "[--cooldown 30] [--factor 0.7] [--weight 0.0625] [--too-many-requests 0.25]";
    private const string Registry = "registry.example.com";

    public static int Run(string[] args)
    {
        int builds = 1000, slots = 32, capacity = 8, max = 20, floor = 2, runs = 1;
        long seed = 7;
        var defaults = new AdaptiveLimitSettings { Floor = 1, Max = 1 };
        var tooManyRequests = new RegistrySettings().TooManyRequests;
        double cooldown = defaults.Cooldown.TotalSeconds, factor = defaults.DecreaseFactor, weight = defaults.CongestionWeight;
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]}: a value is required. {Usage}");
            switch (args[i - 1])
            {
                case "--builds": builds = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--slots": slots = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--capacity": capacity = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--max": max = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--floor": floor = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--seed": seed = long.Parse(value, CultureInfo.InvariantCulture); break;
                case "--runs": runs = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--weight": weight = double.Parse(value, CultureInfo.InvariantCulture); break;
                case "--too-many-requests": tooManyRequests = double.Parse(value, CultureInfo.InvariantCulture); break;
                case "--cooldown": cooldown = double.Parse(value, CultureInfo.InvariantCulture); break;
                case "--factor": factor = double.Parse(value, CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"unknown option {args[i - 1]}. {Usage}");
            }
        }
        if (runs is < 1 or > 100)
        {
            throw new ArgumentException($"--runs must be between 1 and 100 (got {runs}). {Usage}");
        }
        var scenario = ScenarioLoader.Default();
        scenario.Registries[Registry] = new RegistrySettings { Capacity = capacity, TooManyRequests = tooManyRequests };
        var settings = new AdaptiveLimitSettings
        {
            Floor = floor, Max = max, Cooldown = TimeSpan.FromSeconds(cooldown), DecreaseFactor = factor, CongestionWeight = weight,
        };
        if (settings.Validate() is { Count: > 0 } errors)
        {
            throw new ArgumentException($"{string.Join("; ", errors)}. {Usage}");
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"registry-congestion: {builds} builds, {slots} worker slots, registry capacity {capacity} concurrent pushes ({tooManyRequests:P0} of " +
            $"its refusals 429), slot limit {max} (adaptive: floor {floor}, decrease ×{factor} at full congestion, weight {weight}, " +
            $"cooldown {cooldown} s), seeds {seed}–{seed + runs - 1}"));
        Console.WriteLine();
        Console.WriteLine("| seed | limit | resets | 429s | failed builds | pods | makespan (s) | succeeded builds per hour | mean concurrent pods | limit at the end |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
        var refusalRatios = new List<double>();
        var makespanRatios = new List<double>();
        for (var run = 0; run < runs; run++)
        {
            var fixedRun = Simulate(scenario, builds, slots, seed + run, settings, adaptive: false);
            var adaptiveRun = Simulate(scenario, builds, slots, seed + run, settings, adaptive: true);
            foreach (var (name, r) in new[] { ("fixed", fixedRun), ("adaptive", adaptiveRun) })
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {seed + run} | {name} | {r.Resets} | {r.TooManyRequests} | {r.Failed} | {r.Pods} | {r.Makespan:F0} | {(builds - r.Failed) * 3600 / Math.Max(1, r.Makespan):F0} | {r.MeanConcurrency:F1} | {r.FinalLimit} |"));
            }
            refusalRatios.Add((double)(adaptiveRun.Resets + adaptiveRun.TooManyRequests) / Math.Max(1, fixedRun.Resets + fixedRun.TooManyRequests));
            makespanRatios.Add(adaptiveRun.Makespan / Math.Max(1, fixedRun.Makespan));
        }
        Console.WriteLine();
        Console.WriteLine($"adaptive ÷ fixed over {runs} seed(s): resets + 429s {Spread(refusalRatios)}; makespan {Spread(makespanRatios)}");
        return 0;
    }

    /// <summary>Mean, standard deviation and range of ratios.</summary>
    private static string Spread(List<double> values)
    {
        var mean = values.Average();
        var sd = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / values.Count);
        return string.Create(CultureInfo.InvariantCulture, $"mean {mean:F3} (sd {sd:F3}, min {values.Min():F3}, max {values.Max():F3})");
    }

    private sealed record Result(int Resets, int TooManyRequests, int Failed, int Pods, double Makespan, double MeanConcurrency, int FinalLimit);

    private readonly record struct Running(double End, bool Clean, bool Congested);

    private static Result Simulate(Scenario scenario, int builds, int slots, long seed, AdaptiveLimitSettings settings, bool adaptive)
    {
        const int MaxAttempts = 3;
        const double BackoffSeconds = 10;
        var ready = new PriorityQueue<(int Build, int Attempt), (double Time, int Build)>();
        for (var b = 0; b < builds; b++)
        {
            ready.Enqueue((b, 1), (0, b));
        }
        var running = new PriorityQueue<Running, double>();
        var state = AdaptiveLimit.Initial(settings);
        var epoch = DateTimeOffset.UnixEpoch;
        int resets = 0, tooManyRequests = 0, failed = 0, pods = 0;
        double now = 0, makespan = 0, podSeconds = 0;

        void Finish(Running done)
        {
            if (adaptive && (done.Clean || done.Congested))
            {
                state = AdaptiveLimit.Next(state, done.Clean ? 1 : 0, done.Congested ? 1 : 0, epoch.AddSeconds(done.End), settings);
            }
        }

        while (ready.TryDequeue(out var item, out var at))
        {
            now = Math.Max(now, at.Time);
            while (running.TryPeek(out var done, out var end) && end <= now)
            {
                running.Dequeue();
                Finish(done);
            }
            while (running.Count >= Math.Min(slots, adaptive ? state.Slots : settings.Max))
            {
                var done = running.Dequeue();
                now = Math.Max(now, done.End);
                Finish(done);
            }
            var podName = string.Create(CultureInfo.InvariantCulture, $"bf-{item.Build}-{item.Attempt}");
            var random = SimKubelet.PodRandom(seed, "bench", podName);
            var kanikoArgs = KanikoArgs.Parse([
                "--context=dir:///workspace", $"--destination={Registry}/app-{item.Build}:1", "--log-timestamp",
                "--push-retry=2", "--digest-file=/dev/termination-log"]);
            var load = running.Count + 1;
            var run = KanikoScript.Plan(kanikoArgs, scenario, random, "bench/" + podName, seed, _ => epoch, "10.244.0.2", registryLoad: _ => load);
            var startup = scenario.Timings.Schedule?.Sample(random) ?? 0;
            var finish = now + startup + run.Duration;
            pods++;
            podSeconds += finish - now;
            var podResets = run.Lines.Count(l => l.Text.Contains("connection reset by peer", StringComparison.Ordinal));
            var podRefusals = run.Lines.Count(l => l.Text.Contains("TOOMANYREQUESTS", StringComparison.Ordinal));
            resets += podResets;
            tooManyRequests += podRefusals;
            var congested = podResets + podRefusals > 0;
            var succeeded = run.Fate == PodFate.Succeeded;
            running.Enqueue(new Running(finish, Clean: succeeded && !congested, Congested: congested), finish);
            makespan = Math.Max(makespan, finish);
            if (succeeded)
            {
                continue;
            }
            if (congested && item.Attempt < MaxAttempts)
            {
                ready.Enqueue((item.Build, item.Attempt + 1), (finish + (BackoffSeconds * Math.Pow(2, item.Attempt - 1)), item.Build));
                continue;
            }
            failed++;
        }
        while (running.TryDequeue(out var done, out _))
        {
            Finish(done);
        }
        // Pod-seconds over the makespan: the mean number of pods pushing to the registry at once.
        return new Result(resets, tooManyRequests, failed, pods, makespan, makespan > 0 ? podSeconds / makespan : 0, adaptive ? state.Slots : settings.Max);
    }
}
