using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using BuildFarm.ClusterSim.Hosting;
using BuildFarm.ClusterSim.Scenarios;

namespace BuildFarm.SimLoad;

/// <summary>
/// The simulator under load: by default a child process (this program with <c>--serve</c>) so that its memory is its
/// own; with <c>--in-process</c> an embedded <see cref="ClusterSimulator"/>.
/// </summary>
public sealed class SimServer : IAsyncDisposable
{
    private readonly Process? _child;
    private readonly ClusterSimulator? _embedded;

    private SimServer(Uri address, Process? child, ClusterSimulator? embedded)
    {
        Address = address;
        _child = child;
        _embedded = embedded;
    }

    public Uri Address { get; }

    /// <summary>The server's process id (this process when embedded).</summary>
    public int ProcessId => _child?.Id ?? Environment.ProcessId;

    public static async Task<SimServer> StartAsync(LoadOptions options, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.InProcess)
        {
            var sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions
            {
                Scenario = ScenarioLoader.Parse(options.ScenarioYaml()),
                Seed = options.Seed,
            DirectWatchWrites = options.WatchWrites == "direct",
            }, ct);
            return new SimServer(sim.Address, null, sim);
        }
        var start = new ProcessStartInfo
        {
            FileName = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell this program's path to start the server"),
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(start.FileName) == "dotnet")
        {
            start.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
        }
        foreach (var a in options.ServeArgs())
        {
            start.ArgumentList.Add(a);
        }
        foreach (var kv in options.ServerEnvironment)
        {
            var eq = kv.IndexOf('=', StringComparison.Ordinal);
            start.Environment[kv[..eq]] = kv[(eq + 1)..];
        }
        var child = Process.Start(start) ?? throw new InvalidOperationException("the server process did not start");
        using var startup = CancellationTokenSource.CreateLinkedTokenSource(ct);
        startup.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            while (await child.StandardOutput.ReadLineAsync(startup.Token) is { } line)
            {
                if (line.StartsWith("ADDRESS ", StringComparison.Ordinal))
                {
                    return new SimServer(new Uri(line["ADDRESS ".Length..]), child, null);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        var exited = child.HasExited;
        if (!exited)
        {
            child.Kill();
        }
        child.Dispose();
        throw new InvalidOperationException(exited
            ? "the server process exited without reporting its address (its error is above)"
            : "the server process did not report its address within 60 s");
    }

    /// <summary>Child mode: hosts the simulator until stdin closes or the time limit passes.</summary>
    public static async Task<int> ServeAsync(LoadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        await using var sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions
        {
            Scenario = ScenarioLoader.Parse(options.ScenarioYaml()),
            Seed = options.Seed,
            DirectWatchWrites = options.WatchWrites == "direct",
        });
        Console.WriteLine($"ADDRESS {sim.Address}");
        Console.Out.Flush();
        var stdinClosed = Task.Run(() =>
        {
            while (Console.In.ReadLine() is not null)
            {
            }
        });
        // Never outlive the run: the parent's limit plus a margin.
        await Task.WhenAny(stdinClosed, Task.Delay(TimeSpan.FromSeconds(options.TimeoutSeconds + 60)));
        using var self = Process.GetCurrentProcess();
        await Console.Error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"server: cpu {self.TotalProcessorTime.TotalSeconds:F1} s, {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} GC ({System.Runtime.GCSettings.LatencyMode}), GC pauses {GC.GetTotalPauseDuration().TotalMilliseconds:F0} ms " +
            $"(gen0 {GC.CollectionCount(0)}, gen1 {GC.CollectionCount(1)}, gen2 {GC.CollectionCount(2)}), allocated {GC.GetTotalAllocatedBytes() / (1024 * 1024)} MiB, " +
            $"thread pool work items {ThreadPool.CompletedWorkItemCount}, threads {self.Threads.Count}, " +
            $"GC heap after last GC {GC.GetGCMemoryInfo().HeapSizeBytes / (1024 * 1024)} MiB"));
        return 0;
    }

    /// <summary>A field of /proc/&lt;pid&gt;/status in kB (VmHWM = peak resident set, VmRSS = current), or -1.</summary>
    public long StatusKb(string field)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{ProcessId}/status"))
            {
                if (line.StartsWith(field + ":", StringComparison.Ordinal))
                {
                    var digits = line[(field.Length + 1)..].Trim().Split(' ')[0];
                    return long.Parse(digits, CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException)
        {
        }
        return -1;
    }

    public async ValueTask DisposeAsync()
    {
        if (_embedded is not null)
        {
            await _embedded.DisposeAsync();
        }
        if (_child is not null)
        {
            _child.StandardInput.Close();
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                await _child.WaitForExitAsync(wait.Token);
            }
            catch (OperationCanceledException)
            {
                _child.Kill();
            }
            _child.Dispose();
        }
    }
}
