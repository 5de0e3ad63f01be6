using System.Diagnostics;
using System.Globalization;
using System.Reflection;

namespace BuildFarm.SimLoad;

/// <summary>
/// <c>--watchers-process</c>: the watchers run in a process of their own (this program with <c>--watch-child</c>), so
/// that their receive times do not wait behind the creators' and log followers' work in the load generator. The child
/// reports the first watcher's pod phases (<c>P name phase</c>) and every 250 ms the lowest and highest last
/// resourceVersion over its watchers (<c>V min max</c>) on stdout; when its stdin closes it writes every receipt to a
/// file and exits. Receipt times are Stopwatch timestamps (CLOCK_MONOTONIC), comparable across processes on one machine.
/// </summary>
public sealed class RemoteWatchers : IAsyncDisposable
{
    private readonly Process _child;
    private readonly string _file;
    private readonly Task _reading;
    private long _min;
    private long _max;

    private RemoteWatchers(Process child, string file, Action<string, string> onPhase)
    {
        _child = child;
        _file = file;
        _reading = Task.Run(async () =>
        {
            while (await child.StandardOutput.ReadLineAsync() is { } line)
            {
                var parts = line.Split(' ');
                switch (parts)
                {
                    case ["P", var name, var phase]:
                        onPhase(name, phase);
                        break;
                    case ["V", var min, var max]:
                        Volatile.Write(ref _min, long.Parse(min, CultureInfo.InvariantCulture));
                        Volatile.Write(ref _max, long.Parse(max, CultureInfo.InvariantCulture));
                        break;
                    default:
                        break;
                }
            }
        });
    }

    public long Min => Volatile.Read(ref _min);
    public long Max => Volatile.Read(ref _max);

    public static RemoteWatchers Start(LoadOptions options, Uri address, Action<string, string> onPhase)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(address);
        var file = Path.Combine(Path.GetTempPath(), $"simload-receipts-{Guid.NewGuid():N}.txt");
        var start = new ProcessStartInfo
        {
            FileName = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell this program's path to start the watchers"),
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(start.FileName) == "dotnet")
        {
            start.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
        }
        foreach (var a in new[] { "--watchers", options.Watchers.ToString(CultureInfo.InvariantCulture), "--timeout", options.TimeoutSeconds.ToString(CultureInfo.InvariantCulture), "--watch-child", address.ToString(), file })
        {
            start.ArgumentList.Add(a);
        }
        var child = Process.Start(start) ?? throw new InvalidOperationException("the watcher process did not start");
        return new RemoteWatchers(child, file, onPhase);
    }

    /// <summary>Stops the watchers and reads their receipts (one recorder per watcher, in the child's order).</summary>
    public async Task<List<WatchRecorder>> StopAsync()
    {
        _child.StandardInput.Close();
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await _child.WaitForExitAsync(wait.Token);
        await _reading;
        var watchers = new List<WatchRecorder>();
        WatchRecorder? current = null;
        foreach (var line in File.ReadLines(_file))
        {
            if (line == "W")
            {
                current = new WatchRecorder();
                watchers.Add(current);
                continue;
            }
            var parts = line.Split(' ');
            current!.Receipts.Add(new Receipt(long.Parse(parts[0], CultureInfo.InvariantCulture), long.Parse(parts[1], CultureInfo.InvariantCulture),
                parts.Length > 2 ? parts[2] : null));
        }
        File.Delete(_file);
        return watchers;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_child.HasExited)
        {
            _child.Kill();
            await _child.WaitForExitAsync();
        }
        _child.Dispose();
        if (File.Exists(_file))
        {
            File.Delete(_file);
        }
    }

    /// <summary>Child mode: runs the watchers against <paramref name="address"/> until stdin closes, then writes the receipts.</summary>
    public static async Task<int> RunChildAsync(LoadOptions options, string address, string file)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 4096, UseProxy = false })
        {
            BaseAddress = new Uri(address),
            Timeout = Timeout.InfiniteTimeSpan,
        };
        var stdout = Console.Out;
        var report = new Lock();
        void OnPhase(string name, string phase)
        {
            lock (report)
            {
                stdout.WriteLine($"P {name} {phase}");
                stdout.Flush();
            }
        }
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(options.TimeoutSeconds + 60));
        var watchers = Enumerable.Range(0, options.Watchers).Select(i => new WatchRecorder { OnPhase = i == 0 ? OnPhase : null }).ToList();
        var tasks = watchers.Select(w => Task.Run(() => w.RunAsync(http, stop.Token), CancellationToken.None)).ToList();
        var stdinClosed = Task.Run(() =>
        {
            while (Console.In.ReadLine() is not null)
            {
            }
        }, CancellationToken.None);
        while (!stdinClosed.IsCompleted && !stop.IsCancellationRequested)
        {
            var min = watchers.Count == 0 ? 0 : watchers.Min(w => w.LastResourceVersion);
            var max = watchers.Count == 0 ? 0 : watchers.Max(w => w.LastResourceVersion);
            lock (report)
            {
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"V {min} {max}"));
                stdout.Flush();
            }
            await Task.WhenAny(stdinClosed, Task.Delay(250, CancellationToken.None));
        }
        await stop.CancelAsync();
        await Task.WhenAll(tasks);
        await using (var writer = new StreamWriter(file))
        {
            foreach (var w in watchers)
            {
                await writer.WriteLineAsync("W");
                foreach (var r in w.Receipts)
                {
                    await writer.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{r.ResourceVersion} {r.Timestamp}{(r.AddedName is null ? "" : " " + r.AddedName)}"));
                }
            }
        }
        return 0;
    }
}
