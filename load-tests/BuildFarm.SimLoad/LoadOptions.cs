using System.Globalization;

namespace BuildFarm.SimLoad;

/// <summary>Command-line options of the load generator; every bad value is an error naming the option.</summary>
public sealed record LoadOptions
{
    public int Pods { get; init; } = 1000;
    public int Watchers { get; init; } = 50;
    public int Followers { get; init; } = 200;

    /// <summary>Concurrent create requests.</summary>
    public int CreateParallelism { get; init; } = 32;

    /// <summary>Pods created per second at most (0: as fast as <see cref="CreateParallelism"/> POSTs allow).</summary>
    public double CreateRate { get; init; }

    /// <summary>Scenario time scale: at 4 a default Kaniko build lasts long enough for every pod to be alive at once.</summary>
    public double TimeScale { get; init; } = 4;

    /// <summary>Hard limit for the whole run, in seconds; the run stops and reports whatever it measured.</summary>
    public int TimeoutSeconds { get; init; } = 300;

    public long Seed { get; init; } = 3;

    /// <summary>Pods created, watched, logged and deleted before measuring, so that JIT compilation is out of the burst.</summary>
    public int WarmupPods { get; init; } = 50;

    /// <summary>Run the simulator in this process (server memory then includes the clients).</summary>
    public bool InProcess { get; init; }

    /// <summary>Child mode: host the simulator, print its address, stop when stdin closes.</summary>
    public bool Serve { get; init; }

    /// <summary>Environment variables for the server child only (<c>--server-env NAME=VALUE</c>, e.g. GC settings).</summary>
    public IReadOnlyList<string> ServerEnvironment { get; init; } = [];

    /// <summary>Run the watchers in a process of their own instead of beside the creators and log followers.</summary>
    public bool WatchersProcess { get; init; }

    /// <summary>Child mode for <see cref="WatchersProcess"/>: the server address and the file to write the receipts to.</summary>
    public string? WatchChild { get; init; }

    public string? ReceiptsFile { get; init; }

    /// <summary>Server option: <c>direct</c> (default) = the fan-out step writes to the watchers; <c>loop</c> = each watcher's own loop does.</summary>
    public string WatchWrites { get; init; } = "direct";

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
                "--pods" => o with { Pods = Int(1, 20_000) },
                "--watchers" => o with { Watchers = Int(0, 1_000) },
                "--followers" => o with { Followers = Int(0, 20_000) },
                "--warmup" => o with { WarmupPods = Int(0, 1_000) },
                "--create-parallelism" => o with { CreateParallelism = Int(1, 512) },
                "--create-rate" => o with { CreateRate = Int(0, 100_000) },
                "--timeout" => o with { TimeoutSeconds = Int(10, 3_600) },
                "--seed" => o with { Seed = Int(0, int.MaxValue) },
                "--time-scale" => o with { TimeScale = ParseScale(arg, Value()) },
                "--in-process" => o with { InProcess = true },
                "--out-of-process" => o with { InProcess = false },
                "--serve" => o with { Serve = true },
                "--watchers-process" => o with { WatchersProcess = true },
                "--server-env" => o with { ServerEnvironment = [.. o.ServerEnvironment, Value() is var kv && kv.Contains('=', StringComparison.Ordinal) && kv[0] != '=' ? kv : throw new ArgumentException($"{arg}: '{kv}' is not NAME=VALUE")] },
                "--watch-child" => o with { WatchChild = Value(), ReceiptsFile = Value() },
                "--watch-writes" => o with { WatchWrites = Value() is "direct" or "loop" ? args[i] : throw new ArgumentException($"{arg}: '{args[i]}' is neither direct nor loop") },
                _ => throw new ArgumentException($"unknown option '{arg}' (known: --pods, --watchers, --followers, --warmup, --create-parallelism, --create-rate, --time-scale, --timeout, --seed, --in-process, --out-of-process, --watch-writes, --watchers-process, --server-env)"),
            };
        }
        if (o.Followers > o.Pods)
        {
            throw new ArgumentException($"--followers ({o.Followers}) cannot exceed --pods ({o.Pods}): each follower follows its own pod");
        }
        return o;
    }

    private static double ParseScale(string arg, string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0 && v <= 10_000
            ? v
            : throw new ArgumentException($"{arg}: '{text}' is not a number above 0 and at most 10000");

    /// <summary>The scenario for the run: one slot per pod so that every pod can be alive at once.</summary>
    public string ScenarioYaml()
    {
        const int perNode = 40;
        var nodes = (Pods + WarmupPods + perNode - 1) / perNode;
        return string.Create(CultureInfo.InvariantCulture, $"timeScale: {TimeScale}\ncapacity: {{ nodes: {nodes}, podsPerNode: {perNode} }}\n");
    }

    /// <summary>The arguments for the child server process.</summary>
    public IEnumerable<string> ServeArgs() =>
    [
        "--serve", "--pods", Pods.ToString(CultureInfo.InvariantCulture), "--followers", "0",
        "--warmup", WarmupPods.ToString(CultureInfo.InvariantCulture),
        "--time-scale", TimeScale.ToString(CultureInfo.InvariantCulture),
        "--timeout", TimeoutSeconds.ToString(CultureInfo.InvariantCulture),
        "--seed", Seed.ToString(CultureInfo.InvariantCulture),
        "--watch-writes", WatchWrites,
    ];
}
