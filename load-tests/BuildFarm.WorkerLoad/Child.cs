using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using BuildFarm.ClusterSim.Hosting;
using BuildFarm.ClusterSim.Scenarios;
using BuildFarm.Contracts;
using BuildFarm.Worker.Hosting;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace BuildFarm.WorkerLoad;

/// <summary>
/// The process under measurement: this program started again with <c>--child worker</c> (the worker host composed exactly
/// as src/BuildFarm.Worker/Program.cs composes it, with server GC like buildfarm-worker), <c>--child raw</c> (a bare
/// MassTransit bus with a trivial BuildImage handler), <c>--child echo</c> (the same bus whose handler publishes the two
/// events a build publishes, BuildStarted and BuildSucceeded, and does nothing else) or <c>--child sim</c> (the cluster simulator). It answers one-line commands on stdin (<c>MEM</c>, <c>COUNT</c>,
/// <c>REDIS-START</c>, <c>REDIS-STOP</c>: see <see cref="BuildRedisProfiler"/>) on stdout; logs go to stderr. It stops when stdin closes.
/// </summary>
public static class Child
{
    public static async Task<int> RunAsync(LoadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var services = Services.FromEnvironment();
        return options.Child switch
        {
            "raw" => await RunRawAsync(options, services, echo: false),
            "echo" => await RunRawAsync(options, services, echo: true),
            "sim" => await RunSimAsync(options),
            _ => await RunWorkerAsync(options, services),
        };
    }

    /// <summary>
    /// The cluster simulator with the instant scenario, in a process of its own (as a Kubernetes API server is):
    /// writes the kubeconfig to --kubeconfig and answers <c>ADDR</c> with its address.
    /// </summary>
    private static async Task<int> RunSimAsync(LoadOptions options)
    {
        var kubeconfig = options.Kubeconfig ?? throw new ArgumentException("--kubeconfig is required");
        // The stand-in API server should not be what the latency measures: its full blocking collections of the kept
        // watch history paused every pod create for 0.1-0.3 s. Background (concurrent) collections only, unless memory
        // runs short.
        System.Runtime.GCSettings.LatencyMode = System.Runtime.GCLatencyMode.SustainedLowLatency;
        await using var sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions
        {
            Scenario = ScenarioLoader.Load(Path.Combine(AppContext.BaseDirectory, "instant.yaml")),
            Seed = 11,
        }, CancellationToken.None);
        sim.WriteKubeconfig(kubeconfig);
        using var stalls = new PoolStalls();
        await ServeCommandsAsync(command => command switch
        {
            "ADDR" => "ADDR " + sim.Address,
            "STALLS" => stalls.Take(),
            _ => null,
        });
        return 0;
    }

    private static async Task<int> RunWorkerAsync(LoadOptions options, Services services)
    {
        var builder = WebApplication.CreateSlimBuilder(BuildFarm.Messaging.Hosting.BuildFarmHost.WebOptions([]));
        var settings = services.WorkerSettings(options.RedisPrefix ?? throw new ArgumentException("--redis-prefix is required"));
        settings["Kubernetes:KubeconfigPath"] = options.Kubeconfig ?? throw new ArgumentException("--kubeconfig is required");
        settings["Kaniko:Namespace"] = "buildfarm";
        settings["Worker:Slots"] = options.Slots.ToString(CultureInfo.InvariantCulture);
        settings["Logs:Enabled"] = options.ChildLogs ? "true" : "false";
        settings["Logs:KeyPrefix"] = options.RedisPrefix + "logs:";
        settings["Scheduling:Admission"] = options.ChildAdmission ? "true" : "false";
        foreach (var setting in options.WorkerSettings)
        {
            var split = setting.IndexOf('=', StringComparison.Ordinal);
            settings[setting[..split]] = setting[(split + 1)..];
        }
        settings["Urls"] = "http://127.0.0.1:0";
        settings["Logging:LogLevel:Default"] = "Information";
        settings["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning";
        settings["Logging:LogLevel:MassTransit"] = "Warning";
        settings["Logging:LogLevel:Microsoft.Hosting.Lifetime"] = "Warning";
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.AddBuildFarmWorker();
        var app = builder.Build();
        app.MapBuildFarmWorkerEndpoints();
        await app.StartAsync();

        using var profiler = new BuildRedisProfiler(app.Services.GetRequiredService<IConnectionMultiplexer>());
        using var stalls = new PoolStalls();
        await ServeCommandsAsync(command =>
        {
            switch (command)
            {
                case "STALLS":
                    return stalls.Take();
                case "REDIS-START":
                    profiler.Start();
                    return "OK";
                case "REDIS-STOP":
                    return profiler.Stop().Format();
                default:
                    return null;
            }
        });
        await app.StopAsync();
        await app.DisposeAsync();
        return 0;
    }

    private static async Task<int> RunRawAsync(LoadOptions options, Services services, bool echo)
    {
        var queue = options.Queue ?? throw new ArgumentException("--queue is required");
        long count = 0;
        long lastTicks = 0;
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host(services.RabbitHost, (ushort)services.RabbitPort, "/", h =>
            {
                h.Username(services.RabbitUser);
                h.Password(services.RabbitPassword);
            });
            cfg.ReceiveEndpoint(queue, e =>
            {
                // The worker's endpoint settings: a durable quorum queue, prefetch = concurrency = slots.
                e.PrefetchCount = options.Slots;
                e.ConcurrentMessageLimit = options.Slots;
                e.SetQuorumQueue();
                e.Handler<BuildImage>(async context =>
                {
                    if (echo)
                    {
                        await PublishBuildEventsAsync(context);
                    }
                    Interlocked.Increment(ref count);
                    Volatile.Write(ref lastTicks, DateTimeOffset.UtcNow.UtcTicks);
                });
            });
        });
        await bus.StartAsync();
        await ServeCommandsAsync(command => command == "COUNT"
            ? string.Create(CultureInfo.InvariantCulture, $"COUNT {Interlocked.Read(ref count)} {Volatile.Read(ref lastTicks)}")
            : null);
        await bus.StopAsync();
        return 0;
    }

    /// <summary>
    /// What a successful one-attempt build publishes, with the worker's field values (pod name, digest, pushed reference,
    /// phase seconds) and nothing else: no Redis, no Kubernetes, no log analysis. The floor a build costs on the bus.
    /// </summary>
    private static async Task PublishBuildEventsAsync(ConsumeContext<BuildImage> context)
    {
        var build = context.Message;
        await context.Publish(new BuildStarted { BuildId = build.BuildId, BatchId = build.BatchId, Attempt = 1, Pod = $"bf-{build.BuildId}-1", At = DateTimeOffset.UtcNow });
        const string digest = "sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
        await context.Publish(new BuildSucceeded
        {
            BuildId = build.BuildId,
            BatchId = build.BatchId,
            Digest = digest,
            Pushed = [.. build.Spec.Destinations.Select(d => (d.LastIndexOf(':') > d.LastIndexOf('/') ? d[..d.LastIndexOf(':')] : d) + "@" + digest)],
            PhaseSeconds = new Dictionary<string, double> { ["pull"] = 0.4, ["extract"] = 0.2, ["build"] = 1.1, ["push"] = 0.6 },
            Attempts = 1,
            At = DateTimeOffset.UtcNow,
        });
    }

    /// <summary>Prints READY, then answers commands until stdin closes. MEM is common to both modes.</summary>
    private static async Task ServeCommandsAsync(Func<string, string?> handle)
    {
        Console.WriteLine("READY");
        Console.Out.Flush();
        while (await Console.In.ReadLineAsync() is { } line)
        {
            var answer = line == "MEM" ? Memory() : handle(line) ?? $"ERROR unknown command '{line}'";
            Console.WriteLine(answer);
            Console.Out.Flush();
        }
    }

    /// <summary>RSS as it is, then the managed heap after a full blocking compacting collection, and the process's totals.</summary>
    private static string Memory()
    {
        using var self = Process.GetCurrentProcess();
        var rss = self.WorkingSet64;
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        var heap = GC.GetTotalMemory(forceFullCollection: false);
        self.Refresh();
        return string.Create(CultureInfo.InvariantCulture,
            $"MEM {rss} {heap} {self.WorkingSet64} {GC.GetTotalAllocatedBytes()} {self.TotalProcessorTime.TotalMilliseconds:F0} {GC.GetTotalPauseDuration().TotalMilliseconds:F0} {self.Threads.Count} {(System.Runtime.GCSettings.IsServerGC ? 1 : 0)}");
    }
}

/// <summary>A child process seen from the load generator: start it, send commands, read answers, stop it.</summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly SemaphoreSlim _gate = new(1, 1);

    private ChildProcess(Process process) => _process = process;

    public int Id => _process.Id;

    public static async Task<ChildProcess> StartAsync(IEnumerable<string> args, bool serverGc, CancellationToken ct)
    {
        var start = new ProcessStartInfo
        {
            FileName = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell this program's path to start a child"),
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(start.FileName) == "dotnet")
        {
            start.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
        }
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        // buildfarm-worker is a Web SDK app, which runs with server GC: the child runs the same way.
        start.Environment["DOTNET_gcServer"] = serverGc ? "1" : "0";
        var process = Process.Start(start) ?? throw new InvalidOperationException("the child process did not start");
        var child = new ChildProcess(process);
        using var startup = CancellationTokenSource.CreateLinkedTokenSource(ct);
        startup.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            while (await process.StandardOutput.ReadLineAsync(startup.Token) is { } line)
            {
                if (line == "READY")
                {
                    return child;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        var exited = process.HasExited;
        await child.DisposeAsync();
        throw new InvalidOperationException(exited
            ? "the child process exited before it was ready (its error is above)"
            : "the child process was not ready within 60 s");
    }

    /// <summary>Sends one command line and returns the answer line.</summary>
    public async Task<string> AskAsync(string command, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            await _process.StandardInput.WriteLineAsync(command);
            await _process.StandardInput.FlushAsync(ct);
            var answer = await _process.StandardOutput.ReadLineAsync(ct)
                ?? throw new InvalidOperationException($"the child process ended while answering {command}");
            return answer.StartsWith("ERROR", StringComparison.Ordinal) ? throw new InvalidOperationException(answer) : answer;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
        }
        catch (IOException)
        {
        }
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await _process.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }
        _process.Dispose();
        _gate.Dispose();
    }
}
