using System.Globalization;
using BuildFarm.ClusterSim.Kaniko;
using BuildFarm.ClusterSim.Kubelet;
using BuildFarm.ClusterSim.Scenarios;
using BuildFarm.Coordination.Scheduling;
using BuildFarm.Kaniko.Graphs;

namespace BuildFarm.Benchmarks;

/// <summary>
/// <c>schedule-makespan</c> and <c>schedule-fairness</c>: the order in which ready builds start (docs/scheduling.md),
/// in simulated time. Each build's duration is the simulated Kaniko's own plan for its pod (the scenario's per-image
/// durations, <c>imageDurations</c>, make some images consistently slow); its "history" is the mean of five other plans
/// of the same image. A build starts when a slot is free and the policy picks it among the ready builds: FIFO (today's
/// queue order, the order builds became ready) or <see cref="WeightedFairSchedulingPolicy"/> fed by
/// <see cref="CriticalPath"/> over the history.
/// </summary>
internal static class ScheduleLoad
{
    private const string MakespanUsage = "usage: schedule-makespan [--images 500] [--layers 6] [--slots 32] [--spread 0.5] [--heavy-share 0.01] [--heavy-factor 30] [--run-p95 20] [--seed 7]";
    private const string FairnessUsage = "usage: schedule-fairness [--images 2000] [--slots 32] [--spread 0.5] [--run-p95 20] [--seed 7]";
    private const int HistoryRuns = 5;

    /// <summary>One build of the simulation: its batch position, duration, expected path, tenant and group.</summary>
    private sealed class Job(int index, string tenant, string group, int priority, double arrival, double seconds, double expected, int[] dependsOn)
    {
        public int Index { get; } = index;
        public string Tenant { get; } = tenant;
        public string Group { get; } = group;
        public int Priority { get; } = priority;
        public double Arrival { get; } = arrival;
        public double Seconds { get; } = seconds;
        public double Expected { get; } = expected;
        public int[] DependsOn { get; } = dependsOn;
        public double Path { get; set; }
        public double Start { get; set; } = double.NaN;
    }

    private sealed record Outcome(double Makespan, IReadOnlyList<Job> Jobs, IReadOnlyDictionary<string, double> SlotSecondsInContest, double ContestSeconds);

    private static Dictionary<string, string> Options(string[] args, string usage, params string[] known)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Length; i += 2)
        {
            if (!known.Contains(args[i], StringComparer.Ordinal) || i + 1 >= args.Length)
            {
                throw new ArgumentException($"{args[i]}: unknown option or missing value. {usage}");
            }
            options[args[i]] = args[i + 1];
        }
        return options;
    }

    private static double Number(Dictionary<string, string> options, string name, double fallback) =>
        options.TryGetValue(name, out var value) ? double.Parse(value, CultureInfo.InvariantCulture) : fallback;

    /// <summary>The default scenario with per-image durations; a RUN step's own spread (<paramref name="runP95"/>, median
    /// 12 s) is how much one image's builds vary from one to the next (the default scenario's 90 s is a noisy farm).</summary>
    private static Scenario ScenarioOf(double spread, double heavyShare, double heavyFactor, double runP95)
    {
        var scenario = ScenarioLoader.Default();
        scenario.ImageDurations = new ImageDurationSettings { Spread = spread, HeavyShare = heavyShare, HeavyFactor = heavyFactor };
        scenario.Timings.Run = new Distribution(12, Math.Max(12, runP95));
        return scenario;
    }

    /// <summary>The simulated duration of one pod building <paramref name="image"/> (Kaniko's plan plus scheduling).</summary>
    private static double PodSeconds(Scenario scenario, string image, string pod, long seed)
    {
        var random = SimKubelet.PodRandom(seed, "bench", pod);
        var args = KanikoArgs.Parse(["--context=dir:///workspace", $"--destination={image}:1", "--log-timestamp", "--digest-file=/dev/termination-log"]);
        var run = KanikoScript.Plan(args, scenario, random, "bench/" + pod, seed, _ => DateTimeOffset.UnixEpoch, "10.244.0.2");
        return (scenario.Timings.Schedule?.Sample(random) ?? 0) + run.Duration;
    }

    /// <summary>(this run's seconds, the mean of <see cref="HistoryRuns"/> earlier runs) of <paramref name="image"/>.</summary>
    private static (double Seconds, double Expected) Durations(Scenario scenario, string image, long seed)
    {
        var seconds = PodSeconds(scenario, image, image + "/now", seed);
        var expected = Enumerable.Range(0, HistoryRuns).Average(h => PodSeconds(scenario, image, $"{image}/past-{h}", seed));
        return (seconds, expected);
    }

    public static int RunMakespan(string[] args)
    {
        var o = Options(args, MakespanUsage, "--images", "--layers", "--slots", "--spread", "--heavy-share", "--heavy-factor", "--run-p95", "--seed");
        var images = (int)Number(o, "--images", 500);
        var layers = (int)Number(o, "--layers", 6);
        var slots = (int)Number(o, "--slots", 32);
        var seed = (long)Number(o, "--seed", 7);
        var scenario = ScenarioOf(Number(o, "--spread", 0.5), Number(o, "--heavy-share", 0.01), Number(o, "--heavy-factor", 30), Number(o, "--run-p95", 20));
        if (images < layers || layers < 1 || slots < 1)
        {
            throw new ArgumentException(MakespanUsage);
        }
        // A layered DAG: layer 0 has no dependencies; an image of layer L depends on one to three images of layer L-1.
        var random = new Random((int)seed);
        var perLayer = images / layers;
        var jobs = new List<Job>(images);
        for (var i = 0; i < images; i++)
        {
            var layer = Math.Min(i / perLayer, layers - 1);
            int[] dependsOn = layer == 0 ? [] : [.. Enumerable.Range(0, 1 + random.Next(3)).Select(_ => ((layer - 1) * perLayer) + random.Next(perLayer)).Distinct()];
            var (seconds, expected) = Durations(scenario, $"bench.local/img-{i}", seed);
            jobs.Add(new Job(i, "team", "batch", 0, 0, seconds, expected, dependsOn));
        }
        var graph = DependencyGraph.Of(jobs, j => j.Index.ToString(CultureInfo.InvariantCulture),
            j => j.DependsOn.Select(d => d.ToString(CultureInfo.InvariantCulture)));
        var taken = jobs.Select(j => j.Seconds).ToArray();
        var truePaths = CriticalPath.Remaining(graph, taken);
        var expectedPaths = CriticalPath.Remaining(graph, [.. jobs.Select(j => j.Expected)]);
        var median = Median(jobs.Select(j => j.Seconds));
        var work = jobs.Sum(j => j.Seconds);
        var lowerBound = Math.Max(CriticalPath.Length(truePaths), work / slots);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"schedule-makespan: {images} images in {layers} layers, {slots} slots, RUN step p95 {scenario.Timings.Run!.P95:F0} s, seed {seed}; durations: median {median:F0} s, max {jobs.Max(j => j.Seconds):F0} s, {jobs.Count(j => j.Seconds > 10 * median)} images over 10× the median"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"lower bound {lowerBound:F0} s = max(critical path {CriticalPath.Length(truePaths):F0} s, total work {work:F0} s ÷ {slots} slots = {work / slots:F0} s)"));
        var energetic = MakespanBound.Energetic(graph, taken, slots);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"energetic lower bound {energetic:F0} s (the work that can neither start early nor wait until late, MakespanBound.Energetic)"));
        Console.WriteLine();
        Console.WriteLine("| order | makespan (s) | ÷ lower bound | ÷ energetic bound |");
        Console.WriteLine("|---|---|---|---|");
        var fair = new WeightedFairSchedulingPolicy(new FairShareOptions());
        // The last row is the same policy told each build's real duration in advance: a schedule that exists, so the
        // best possible makespan lies between the lower bound and it.
        foreach (var (name, policy, paths) in new (string, ISchedulingPolicy, double[])[]
        {
            ("FIFO (ready order)", new FifoSchedulingPolicy(), expectedPaths),
            ("critical path first", fair, expectedPaths),
            ("critical path first, real durations known in advance", fair, truePaths),
        })
        {
            for (var i = 0; i < jobs.Count; i++)
            {
                jobs[i].Path = paths[i];
            }
            var outcome = Simulate(jobs, slots, policy, contest: []);
            if (outcome.Makespan < energetic - 1e-6)
            {
                throw new InvalidOperationException($"{name}: makespan {outcome.Makespan} below the energetic lower bound {energetic}: the bound is wrong");
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {outcome.Makespan:F0} | {outcome.Makespan / lowerBound:F3} | {outcome.Makespan / energetic:F3} |"));
        }
        return 0;
    }

    public static int RunFairness(string[] args)
    {
        var o = Options(args, FairnessUsage, "--images", "--slots", "--spread", "--run-p95", "--seed");
        var images = (int)Number(o, "--images", 2000);
        var slots = (int)Number(o, "--slots", 32);
        var seed = (long)Number(o, "--seed", 7);
        var scenario = ScenarioOf(Number(o, "--spread", 0.5), 0, 20, Number(o, "--run-p95", 20));
        if (images < 2 || slots < 1)
        {
            throw new ArgumentException(FairnessUsage);
        }
        var fifo = new FifoSchedulingPolicy();
        var fair = new WeightedFairSchedulingPolicy(new FairShareOptions());

        // 1. Tenant a's batch of independent images; halfway through (by work), one priority-9 build of tenant b.
        var batch = Enumerable.Range(0, images).Select(i =>
        {
            var (seconds, expected) = Durations(scenario, $"bench.local/a/img-{i}", seed);
            return new Job(i, "a", "nightly", 0, 0, seconds, expected, []) { Path = expected };
        }).ToList();
        var median = Median(batch.Select(j => j.Seconds));
        var arrival = Math.Round(batch.Sum(j => j.Seconds) / slots / 2);
        var (urgentSeconds, urgentExpected) = Durations(scenario, "bench.local/b/hotfix", seed);
        var urgent = new Job(images, "b", "", 9, arrival, urgentSeconds, urgentExpected, []) { Path = urgentExpected };
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"schedule-fairness: {slots} slots, seed {seed}; tenant a: a batch of {images} images (median {median:F0} s); tenant b: one build at priority 9 at t = {arrival:F0} s"));
        Console.WriteLine();
        Console.WriteLine("| order | b's build waits (s) | ÷ median build duration |");
        Console.WriteLine("|---|---|---|");
        foreach (var (name, policy) in new (string, ISchedulingPolicy)[] { ("FIFO (ready order)", fifo), ("weighted fair share", fair) })
        {
            var outcome = Simulate([.. batch, urgent], slots, policy, contest: []);
            var wait = outcome.Jobs[images].Start - arrival;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {wait:F0} | {wait / median:F2} |"));
        }

        // 2. Two tenants each submit a large batch, b's a minute after a's; each one's share of slot-time while both wait.
        var half = images / 2;
        var two = Enumerable.Range(0, 2 * half).Select(i =>
        {
            var tenant = i < half ? "a" : "b";
            var (seconds, expected) = Durations(scenario, $"bench.local/{tenant}/img-{i}", seed);
            return new Job(i, tenant, tenant + "-batch", 0, tenant == "a" ? 0 : 60, seconds, expected, []) { Path = expected };
        }).ToList();
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"two tenants, {half} images each, b's batch 60 s after a's; share of slot-time from b's arrival until one tenant has nothing left waiting:"));
        Console.WriteLine();
        Console.WriteLine("| order | weights a:b | a's share | b's share | contested (s) |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var (name, weights, policy) in new (string, string, ISchedulingPolicy)[]
        {
            ("FIFO (ready order)", "—", fifo),
            ("weighted fair share", "1:1", fair),
            ("weighted fair share", "2:1", new WeightedFairSchedulingPolicy(new FairShareOptions { TenantWeights = new(StringComparer.Ordinal) { ["a"] = 2 } })),
        })
        {
            var outcome = Simulate(two, slots, policy, contest: ["a", "b"]);
            var total = outcome.SlotSecondsInContest.Values.Sum();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {weights} | {Share(outcome, "a", total)} | {Share(outcome, "b", total)} | {outcome.ContestSeconds:F0} |"));
        }
        return 0;
    }

    private static string Share(Outcome outcome, string tenant, double total) =>
        total <= 0 ? "n/a" : (outcome.SlotSecondsInContest.GetValueOrDefault(tenant) / total).ToString("P1", CultureInfo.InvariantCulture);

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    /// <summary>
    /// Runs <paramref name="jobs"/> on <paramref name="slots"/> in simulated time: whenever slots are free the policy picks
    /// among the ready builds (dependencies ended, arrived). Slot-time per tenant is summed while every tenant of
    /// <paramref name="contest"/> has builds waiting (from the last one's first arrival).
    /// </summary>
    private static Outcome Simulate(IReadOnlyList<Job> jobs, int slots, ISchedulingPolicy policy, string[] contest)
    {
        foreach (var job in jobs)
        {
            job.Start = double.NaN;
        }
        var waitingOn = jobs.Select(j => j.DependsOn.Length).ToArray();
        var dependents = new List<int>[jobs.Count];
        for (var i = 0; i < jobs.Count; i++)
        {
            dependents[i] = [];
        }
        foreach (var job in jobs)
        {
            foreach (var d in job.DependsOn)
            {
                dependents[d].Add(job.Index);
            }
        }
        var arrivals = new PriorityQueue<Job, double>(jobs.Where(j => j.DependsOn.Length == 0).Select(j => (j, j.Arrival)));
        var ready = new Dictionary<string, ReadyBuild>(StringComparer.Ordinal);
        var running = new PriorityQueue<Job, double>();
        var byTenant = new Dictionary<string, int>(StringComparer.Ordinal);
        var byGroup = new Dictionary<string, int>(StringComparer.Ordinal);
        var waitingByTenant = new Dictionary<string, int>(StringComparer.Ordinal);
        var slotSeconds = new Dictionary<string, double>(StringComparer.Ordinal);
        long sequence = 0;
        double now = 0, makespan = 0, contestSeconds = 0;
        var ended = 0;

        void Ready(Job job)
        {
            ready[job.Index.ToString(CultureInfo.InvariantCulture)] = new ReadyBuild(job.Index.ToString(CultureInfo.InvariantCulture), job.Tenant, job.Group,
                job.Priority, job.Path, sequence++);
            waitingByTenant[job.Tenant] = waitingByTenant.GetValueOrDefault(job.Tenant) + 1;
        }

        while (ended < jobs.Count)
        {
            while (arrivals.TryPeek(out var next, out var at) && at <= now)
            {
                arrivals.Dequeue();
                Ready(next);
            }
            var free = slots - running.Count;
            if (free > 0 && ready.Count > 0)
            {
                var snapshot = new SchedulingSnapshot([.. ready.Values], byTenant, byGroup);
                foreach (var chosen in policy.Choose(snapshot, free))
                {
                    ready.Remove(chosen.BuildId);
                    var job = jobs[int.Parse(chosen.BuildId, CultureInfo.InvariantCulture)];
                    job.Start = now;
                    running.Enqueue(job, now + job.Seconds);
                    byTenant[job.Tenant] = byTenant.GetValueOrDefault(job.Tenant) + 1;
                    var group = SchedulingOrder.GroupKey(job.Tenant, job.Group);
                    byGroup[group] = byGroup.GetValueOrDefault(group) + 1;
                    waitingByTenant[job.Tenant]--;
                }
            }
            // The next event: a build ends or one arrives.
            var nextEnd = running.TryPeek(out _, out var end) ? end : double.PositiveInfinity;
            var nextArrival = arrivals.TryPeek(out _, out var arrival) ? arrival : double.PositiveInfinity;
            var then = Math.Min(nextEnd, nextArrival);
            if (double.IsPositiveInfinity(then))
            {
                throw new InvalidOperationException("nothing runs and nothing arrives, yet builds remain: the graph has a cycle");
            }
            if (contest.Length > 0 && contest.All(t => waitingByTenant.GetValueOrDefault(t) > 0))
            {
                contestSeconds += then - now;
                foreach (var (tenant, count) in byTenant)
                {
                    slotSeconds[tenant] = slotSeconds.GetValueOrDefault(tenant) + (count * (then - now));
                }
            }
            now = then;
            while (running.TryPeek(out var done, out var doneAt) && doneAt <= now)
            {
                running.Dequeue();
                ended++;
                makespan = Math.Max(makespan, doneAt);
                byTenant[done.Tenant]--;
                byGroup[SchedulingOrder.GroupKey(done.Tenant, done.Group)]--;
                foreach (var dependent in dependents[done.Index])
                {
                    if (--waitingOn[dependent] == 0)
                    {
                        Ready(jobs[dependent]);
                    }
                }
            }
        }
        return new Outcome(makespan, jobs, slotSeconds, contestSeconds);
    }
}
