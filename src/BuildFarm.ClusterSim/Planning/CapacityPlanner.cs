using System.Globalization;
using BuildFarm.ClusterSim.Kaniko;
using BuildFarm.ClusterSim.Kubelet;
using BuildFarm.ClusterSim.Scenarios;

namespace BuildFarm.ClusterSim.Planning;

/// <summary>A capacity-planning question: this many builds, these slots, these retry settings.</summary>
public sealed record PlanOptions
{
    public int Builds { get; init; } = 1000;
    public int Slots { get; init; } = 40;

    /// <summary>Overrides the scenario's pull, extract and push reset rates (per attempt) when set.</summary>
    public double? ResetRate { get; init; }

    /// <summary>Pods per build (the farm's retry in a new pod) for transient failures.</summary>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>The Kaniko retry flags every pod gets.</summary>
    public int KanikoRetries { get; init; } = 2;

    /// <summary>Farm backoff before the next pod: base × 2^(attempt-1), simulated seconds.</summary>
    public double BackoffSeconds { get; init; } = 10;

    public long Seed { get; init; } = 1;

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Builds < 1)
        {
            errors.Add($"--builds must be at least 1 (got {Builds})");
        }
        if (Slots < 1)
        {
            errors.Add($"--slots must be at least 1 (got {Slots})");
        }
        if (ResetRate is { } r && !(r >= 0 && r <= 1))
        {
            errors.Add($"--reset-rate must be between 0 and 1 (got {r})");
        }
        if (MaxAttempts < 1)
        {
            errors.Add($"--max-attempts must be at least 1 (got {MaxAttempts})");
        }
        if (KanikoRetries < 0)
        {
            errors.Add($"--kaniko-retries must be 0 or more (got {KanikoRetries})");
        }
        return errors;
    }
}

/// <summary>What the fan-out would look like, in simulated time.</summary>
public sealed record PlanResult
{
    public required int Builds { get; init; }
    public required int Succeeded { get; init; }
    public required int Failed { get; init; }
    public required int Pods { get; init; }
    public required int PodRetries { get; init; }
    public required int KanikoRetryLines { get; init; }
    public required int ConnectionResets { get; init; }
    public required double MakespanSeconds { get; init; }
    public required double CompletionP50Seconds { get; init; }
    public required double CompletionP95Seconds { get; init; }
    public required double SlotUtilisation { get; init; }
    public required IReadOnlyDictionary<string, int> FailuresByReason { get; init; }
}

/// <summary>
/// Runs a fan-out through the simulated kubelet's Kaniko model in simulated time, without HTTP: FIFO over
/// <see cref="PlanOptions.Slots"/>, transient failures retried in a new pod after a backoff. Deterministic per seed.
/// </summary>
public static class CapacityPlanner
{
    public static PlanResult Run(Scenario scenario, PlanOptions options)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", errors), nameof(options));
        }
        var faults = scenario.Faults;
        if (options.ResetRate is { } rate)
        {
            faults = new FaultSettings { PullReset = rate, ExtractReset = rate, PushReset = rate }.Over(faults);
        }
        var effective = new Scenario
        {
            TimeScale = scenario.TimeScale,
            Capacity = scenario.Capacity,
            Timings = scenario.Timings,
            Faults = faults,
            Registries = scenario.Registries,
            Cache = scenario.Cache,
            Dockerfile = scenario.Dockerfile,
            Dockerfiles = scenario.Dockerfiles,
        };

        var ready = new PriorityQueue<(int Build, int Attempt, double Submitted), (double Time, int Build)>();
        for (var b = 0; b < options.Builds; b++)
        {
            ready.Enqueue((b, 1, 0), (0, b));
        }
        var slots = new PriorityQueue<int, double>();
        for (var s = 0; s < options.Slots; s++)
        {
            slots.Enqueue(s, 0);
        }
        var durations = new List<double>();
        var failures = new Dictionary<string, int>(StringComparer.Ordinal);
        int pods = 0, retries = 0, warnLines = 0, resets = 0, succeeded = 0, failed = 0;
        double makespan = 0, busy = 0;
        var retryFlags = options.KanikoRetries.ToString(CultureInfo.InvariantCulture);
        while (ready.TryDequeue(out var item, out var priority))
        {
            slots.TryDequeue(out var slot, out var free);
            var start = Math.Max(priority.Time, free);
            var podName = string.Create(CultureInfo.InvariantCulture, $"bf-{item.Build}-{item.Attempt}");
            var random = SimKubelet.PodRandom(options.Seed, "plan", podName);
            var startup = (scenario.Timings.Schedule?.Sample(random) ?? 0) + (scenario.Timings.ExecutorPull?.Sample(random) ?? 0);
            var args = KanikoArgs.Parse([
                "--context=dir:///workspace", $"--destination=registry.example.com/app-{item.Build}:1", "--log-timestamp",
                $"--push-retry={retryFlags}", $"--image-fs-extract-retry={retryFlags}", $"--image-download-retry={retryFlags}",
                "--digest-file=/dev/termination-log"]);
            var run = KanikoScript.Plan(args, effective, random, "plan/" + podName, options.Seed, _ => DateTimeOffset.UnixEpoch, "10.244.0.2");
            var end = start + startup + run.Duration;
            slots.Enqueue(slot, end);
            busy += end - start;
            pods++;
            makespan = Math.Max(makespan, end);
            warnLines += run.Lines.Count(l => l.Text.Contains("Retrying operation after", StringComparison.Ordinal));
            resets += run.Lines.Count(l => l.Text.Contains("connection reset by peer", StringComparison.Ordinal));
            if (run.Fate == PodFate.Succeeded)
            {
                succeeded++;
                durations.Add(end - item.Submitted);
                continue;
            }
            var last = run.Lines.Count > 0 ? run.Lines[^1].Text : string.Empty;
            var reason = run.Fate switch
            {
                PodFate.Evicted => "pod_evicted",
                PodFate.NodeLost => "node_lost",
                PodFate.OomKilled => "oom_killed",
                _ when last.Contains("connection reset by peer", StringComparison.Ordinal) => "connection_reset",
                _ when last.Contains("i/o timeout", StringComparison.Ordinal) => "network_error",
                _ when last.StartsWith("error checking push permissions", StringComparison.Ordinal) => "unauthorized",
                _ when last.Contains("MANIFEST_UNKNOWN", StringComparison.Ordinal) => "base_image_not_found",
                _ when last.Contains("waiting for process to exit", StringComparison.Ordinal) => "step_failed",
                _ => "unknown",
            };
            var transient = reason is "pod_evicted" or "node_lost" or "connection_reset" or "network_error";
            if (transient && item.Attempt < options.MaxAttempts)
            {
                retries++;
                var backoff = options.BackoffSeconds * Math.Pow(2, item.Attempt - 1);
                ready.Enqueue((item.Build, item.Attempt + 1, item.Submitted), (end + backoff, item.Build));
                continue;
            }
            failed++;
            failures[reason] = failures.GetValueOrDefault(reason) + 1;
        }
        durations.Sort();
        return new PlanResult
        {
            Builds = options.Builds,
            Succeeded = succeeded,
            Failed = failed,
            Pods = pods,
            PodRetries = retries,
            KanikoRetryLines = warnLines,
            ConnectionResets = resets,
            MakespanSeconds = Math.Round(makespan, 1),
            CompletionP50Seconds = durations.Count > 0 ? Math.Round(durations[durations.Count / 2], 1) : 0,
            CompletionP95Seconds = durations.Count > 0 ? Math.Round(durations[(int)(durations.Count * 0.95)], 1) : 0,
            SlotUtilisation = makespan > 0 ? Math.Round(busy / (makespan * options.Slots), 3) : 0,
            FailuresByReason = failures,
        };
    }
}
