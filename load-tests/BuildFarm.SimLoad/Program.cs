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
if (options.WatchChild is { } watchAddress)
{
    return await RemoteWatchers.RunChildAsync(options, watchAddress, options.ReceiptsFile!);
}

using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(options.TimeoutSeconds));
Console.WriteLine($"simload: {options.Pods} pods, {options.Watchers} watchers, {options.Followers} log followers, " +
    $"time scale {options.TimeScale}, server {(options.InProcess ? "in this process" : "in a child process")}, watch writes {options.WatchWrites}, " +
    $"watchers {(options.WatchersProcess ? "in a process of their own" : "in this process")}, limit {options.TimeoutSeconds} s");
Console.WriteLine($"load average at start: {LoadRun.LoadAverage()}");
if (options.ServerEnvironment.Count > 0)
{
    Console.WriteLine($"server environment: {string.Join(' ', options.ServerEnvironment)}");
}
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
        public static async Task<(int Terminal, int Peak, long ResourceVersion, int Watches, string Phases, ServerDelivery? Delivery)> ReadAsync(HttpClient http, CancellationToken ct)
        {
            var json = await http.GetStringAsync("/_sim/stats", ct);
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            var phases = root.GetProperty("podsByPhase");
            var terminal = (phases.TryGetProperty("Succeeded", out var s) ? s.GetInt32() : 0) +
                (phases.TryGetProperty("Failed", out var f) ? f.GetInt32() : 0);
            return (terminal, root.GetProperty("peakConcurrentPods").GetInt32(),
                long.Parse(root.GetProperty("resourceVersion").GetString()!, System.Globalization.CultureInfo.InvariantCulture),
                root.GetProperty("watches").GetInt32(), phases.GetRawText(), ServerDelivery.Read(root));
        }
    }

    /// <summary>
    /// The server's <c>watchDelivery</c> figures: percentiles are histogram bucket bounds (p99 5 = 99 % took at most 5 ms),
    /// the maximum is exact.
    /// </summary>
    public sealed record ServerDelivery(long Direct, long Queued, string CommitToFlush, string Spread)
    {
        public static ServerDelivery? Read(JsonElement root)
        {
            if (!root.TryGetProperty("watchDelivery", out var d))
            {
                return null;
            }
            static string Figures(JsonElement h)
            {
                static string Ms(JsonElement v) => v.ValueKind == JsonValueKind.Number
                    ? v.GetDouble().ToString("0.###", System.Globalization.CultureInfo.InvariantCulture) : "-";
                return $"p50 <={Ms(h.GetProperty("p50Ms"))}  p95 <={Ms(h.GetProperty("p95Ms"))}  p99 <={Ms(h.GetProperty("p99Ms"))}  max {Ms(h.GetProperty("maxMs"))} ms ({h.GetProperty("count").GetInt64()})";
            }
            return new ServerDelivery(d.GetProperty("direct").GetInt64(), d.GetProperty("queued").GetInt64(),
                Figures(d.GetProperty("commitToFlush")), Figures(d.GetProperty("spread")));
        }
    }
}
