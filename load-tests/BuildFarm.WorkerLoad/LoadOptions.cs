using System.Globalization;

namespace BuildFarm.WorkerLoad;

/// <summary>Command-line options of the worker load generator; every bad value is an error naming the option.</summary>
public sealed record LoadOptions
{
    /// <summary>Builds published at once, over which the Kubernetes API requests, Redis round trips and CPU per build are counted.</summary>
    public int Builds { get; init; } = 1000;

    /// <summary>Offered rate for the latency figure, builds per second (open loop: publishing never waits for the worker).</summary>
    public double Rate { get; init; } = 100;

    /// <summary>How long the latency phase offers <see cref="Rate"/> and measures.</summary>
    public int LatencySeconds { get; init; } = 20;

    /// <summary>Seconds at <see cref="Rate"/> before the measured ones (the burst before is still settling).</summary>
    public int RampSeconds { get; init; } = 5;

    /// <summary>Builds for the memory figure, in chunks of <see cref="MemoryChunk"/> with a sample after each.</summary>
    public int MemoryBuilds { get; init; } = 10_000;

    public int MemoryChunk { get; init; } = 1000;

    /// <summary>Messages for the raw MassTransit baseline.</summary>
    public int RawMessages { get; init; } = 10_000;

    /// <summary>
    /// Warm-up messages and builds before anything is measured (connection pools, and the tiered JIT: with 500 the
    /// worker was still compiling through the latency phase, whose p99 then measured the JIT).
    /// </summary>
    public int Warmup { get; init; } = 3000;

    /// <summary>Worker:Slots of the worker, and the baseline consumer's prefetch and concurrency.</summary>
    public int Slots { get; init; } = 16;

    /// <summary>Publishes in flight at once (publisher confirms outstanding).</summary>
    public int PublishParallelism { get; init; } = 128;

    /// <summary>Hard limit for the whole run, in seconds.</summary>
    public int TimeoutSeconds { get; init; } = 900;

    /// <summary>The worker child's GC: <c>server</c> (as <c>buildfarm-worker</c> ships) or <c>workstation</c>.</summary>
    public string WorkerGc { get; init; } = "server";

    /// <summary>Runs the simulator in the generator's own process instead of a child of its own.</summary>
    public bool SimInProcess { get; init; }

    /// <summary>
    /// Rounds of the log-store comparison (0: the usual run). Each round runs the warm-up and the burst twice, each with
    /// a worker child of its own, once with <c>Logs:Enabled=false</c> and once with <c>true</c> (the order alternates by
    /// round); nothing else runs.
    /// </summary>
    public int LogsCompare { get; init; }

    /// <summary>
    /// Rounds of the admission comparison (0: the usual run). Each round runs the warm-up, the burst and the latency phase
    /// twice, each with a worker child of its own, once with <c>Scheduling:Admission=false</c> (builds published) and once
    /// with <c>true</c> (builds enqueued in the admission store as a producer does); the order alternates by round.
    /// </summary>
    public int AdmissionCompare { get; init; }

    /// <summary>The worker child's <c>Scheduling:Admission</c> (set by the generator in the comparison).</summary>
    public bool ChildAdmission { get; init; }

    /// <summary>Extra settings of every worker child (<c>--worker-setting KEY=VALUE</c>, repeatable; at most 32), after the generator's own.</summary>
    public IReadOnlyList<string> WorkerSettings { get; init; } = [];

    /// <summary>The worker child's <c>Logs:Enabled</c> (set by the generator in the comparison).</summary>
    public bool ChildLogs { get; init; } = true;

    /// <summary>Child mode: <c>worker</c>, <c>raw</c> or <c>sim</c>; null in the load generator itself.</summary>
    public string? Child { get; init; }

    public string? Queue { get; init; }
    public string? Kubeconfig { get; init; }
    public string? RedisPrefix { get; init; }

    public static LoadOptions Parse(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var o = new LoadOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{arg} needs a value");
            int Int(int min, int max)
            {
                var text = Value();
                return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max
                    ? v
                    : throw new ArgumentException($"{arg}: '{text}' is not a whole number from {min} to {max}");
            }
            o = arg switch
            {
                "--builds" => o with { Builds = Int(1, 1_000_000) },
                "--rate" => o with { Rate = Double(arg, Value(), 0.1, 100_000) },
                "--latency-seconds" => o with { LatencySeconds = Int(1, 3_600) },
                "--ramp-seconds" => o with { RampSeconds = Int(0, 3_600) },
                "--memory-builds" => o with { MemoryBuilds = Int(0, 1_000_000) },
                "--memory-chunk" => o with { MemoryChunk = Int(10, 1_000_000) },
                "--raw-messages" => o with { RawMessages = Int(1, 10_000_000) },
                "--warmup" => o with { Warmup = Int(0, 100_000) },
                "--slots" => o with { Slots = Int(1, 1_000) },
                "--publish-parallelism" => o with { PublishParallelism = Int(1, 10_000) },
                "--timeout" => o with { TimeoutSeconds = Int(10, 86_400) },
                "--worker-gc" => o with { WorkerGc = Value() },
                "--sim-in-process" => o with { SimInProcess = true },
                "--logs-compare" => o with { LogsCompare = Int(1, 10) },
                "--admission-compare" => o with { AdmissionCompare = Int(1, 10) },
                "--worker-setting" => o with { WorkerSettings = [.. o.WorkerSettings, Setting(arg, Value())] },
                "--child-logs" => o with { ChildLogs = OnOff(arg, Value()) },
                "--child-admission" => o with { ChildAdmission = OnOff(arg, Value()) },
                "--child" => o with { Child = Value() },
                "--queue" => o with { Queue = Value() },
                "--kubeconfig" => o with { Kubeconfig = Value() },
                "--redis-prefix" => o with { RedisPrefix = Value() },
                _ => throw new ArgumentException($"unknown option '{arg}' (known: --builds, --rate, --latency-seconds, --ramp-seconds, --memory-builds, " +
                    "--memory-chunk, --raw-messages, --warmup, --slots, --publish-parallelism, --worker-gc, --sim-in-process, --logs-compare, --admission-compare, --worker-setting, --timeout)"),
            };
        }
        if (o.WorkerGc is not ("server" or "workstation"))
        {
            throw new ArgumentException($"--worker-gc: '{o.WorkerGc}' is not 'server' or 'workstation'");
        }
        if (o.Child is not (null or "worker" or "raw" or "echo" or "sim"))
        {
            throw new ArgumentException($"--child: '{o.Child}' is not 'worker', 'raw', 'echo' or 'sim'");
        }
        if (o.MemoryBuilds > 0 && o.MemoryBuilds < 3 * o.MemoryChunk)
        {
            throw new ArgumentException($"--memory-builds ({o.MemoryBuilds}) must be 0 or at least three chunks of --memory-chunk ({o.MemoryChunk}) for a slope");
        }
        if (o.WorkerSettings.Count > 32)
        {
            throw new ArgumentException($"--worker-setting: {o.WorkerSettings.Count} given, at most 32");
        }
        if (o.LogsCompare > 0 && o.AdmissionCompare > 0)
        {
            throw new ArgumentException("--logs-compare and --admission-compare are separate runs: give one of them");
        }
        return o;
    }

    private static string Setting(string arg, string text) =>
        text.IndexOf('=', StringComparison.Ordinal) > 0 && text.Length <= 1000
            ? text
            : throw new ArgumentException($"{arg}: '{text}' is not KEY=VALUE (a configuration key such as Scheduling:DispatchInterval, at most 1000 characters)");

    private static bool OnOff(string arg, string text) => text switch
    {
        "on" => true,
        "off" => false,
        _ => throw new ArgumentException($"{arg}: '{text}' is not 'on' or 'off'"),
    };

    private static double Double(string arg, string text, double min, double max) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max
            ? v
            : throw new ArgumentException($"{arg}: '{text}' is not a number from {min} to {max}");
}
