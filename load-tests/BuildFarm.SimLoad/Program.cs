using System.Text.Json;
using BuildFarm.SimLoad;

// Load generator for the cluster simulator: N pods created as fast as the create parallelism allows, W all-namespace
// pod watchers and F log followers, against a simulator in a child process. Bounded by --timeout; talks to 127.0.0.1 only.
LoadOptions options;
try
{
    options = LoadOptions.Parse(args);
}
catch (ArgumentException e)
{
    await Console.Error.WriteLineAsync($"simload: {e.Message}");
    return 2;
}
if (options.Serve)
{
    return await SimServer.ServeAsync(options);
}

using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(options.TimeoutSeconds));
Console.WriteLine($"simload: {options.Pods} pods, {options.Watchers} watchers, {options.Followers} log followers, " +
    $"time scale {options.TimeScale}, server {(options.InProcess ? "in this process" : "in a child process")}, limit {options.TimeoutSeconds} s");
Console.WriteLine($"load average at start: {LoadRun.LoadAverage()}");
await using var server = await SimServer.StartAsync(options, deadline.Token);
var run = new LoadRun(options, server);
var result = await run.RunAsync(deadline.Token);
Console.WriteLine($"load average at end: {LoadRun.LoadAverage()}");
using (var self = System.Diagnostics.Process.GetCurrentProcess())
{
    Console.WriteLine($"load generator: cpu {self.TotalProcessorTime.TotalSeconds:F1} s, peak RSS {self.PeakWorkingSet64 / (1024 * 1024)} MiB");
}
Console.WriteLine();
Console.WriteLine(result.Table());
return result.Complete ? 0 : 1;

namespace BuildFarm.SimLoad
{
    /// <summary>Reads <c>/_sim/stats</c>.</summary>
    internal static class Stats
    {
        public static async Task<(int Terminal, int Peak, long ResourceVersion, int Watches, string Phases)> ReadAsync(HttpClient http, CancellationToken ct)
        {
            var json = await http.GetStringAsync("/_sim/stats", ct);
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            var phases = root.GetProperty("podsByPhase");
            var terminal = (phases.TryGetProperty("Succeeded", out var s) ? s.GetInt32() : 0) +
                (phases.TryGetProperty("Failed", out var f) ? f.GetInt32() : 0);
            return (terminal, root.GetProperty("peakConcurrentPods").GetInt32(),
                long.Parse(root.GetProperty("resourceVersion").GetString()!, System.Globalization.CultureInfo.InvariantCulture),
                root.GetProperty("watches").GetInt32(), phases.GetRawText());
        }
    }
}
