using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;

namespace BuildFarm.SimLoad;

/// <summary>One run of the load: watchers first, then the creates with the log followers, then the wait for every pod to end.</summary>
public sealed class LoadRun
{
    private readonly LoadOptions _options;
    private readonly SimServer _server;

    public LoadRun(LoadOptions options, SimServer server)
    {
        _options = options;
        _server = server;
    }

    public static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    public async Task<LoadResult> RunAsync(CancellationToken deadline)
    {
        var o = _options;
        using var http = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 4096,
            UseProxy = false,
        })
        { BaseAddress = _server.Address, Timeout = Timeout.InfiniteTimeSpan };
        var result = new LoadResult(o);
        using var stopWatchers = CancellationTokenSource.CreateLinkedTokenSource(deadline);
        using var stopSampler = CancellationTokenSource.CreateLinkedTokenSource(deadline);

        var sampler = Task.Run(async () =>
        {
            while (!stopSampler.IsCancellationRequested)
            {
                result.PeakRssKb = Math.Max(result.PeakRssKb, _server.StatusKb("VmRSS"));
                await Task.Delay(250, CancellationToken.None);
            }
        }, CancellationToken.None);

        // Log followers start when their pod runs, as a real client does (kubectl logs -f on a waiting pod fails):
        // the first watcher tells them; without watchers they poll.
        var running = new ConcurrentDictionary<string, TaskCompletionSource>(StringComparer.Ordinal);
        TaskCompletionSource Started(string name) => running.GetOrAdd(name, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        // The first watcher also tracks every pod's phase, so the wait for the pods to end costs the server nothing.
        var phases = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        void OnPhase(string name, string phase)
        {
            phases[name] = phase;
            if (phase is "Running" or "Succeeded" or "Failed")
            {
                Started(name).TrySetResult();
            }
        }
        await WarmUpAsync(http, o.WarmupPods, deadline);
        await using var remote = o.WatchersProcess && o.Watchers > 0 ? RemoteWatchers.Start(o, _server.Address, OnPhase) : null;
        var watchers = remote is not null ? [] : Enumerable.Range(0, o.Watchers).Select(i => new WatchRecorder { OnPhase = i == 0 ? OnPhase : null }).ToList();
        var watchTasks = watchers.Select(w => Task.Run(() => w.RunAsync(http, stopWatchers.Token), CancellationToken.None)).ToList();
        await WaitForAsync(async () => (await Stats.ReadAsync(http, deadline)).Watches >= o.Watchers, TimeSpan.FromSeconds(30),
            "the watchers did not all connect within 30 s", deadline);

        var sent = new long[o.Pods];
        var followTasks = Enumerable.Range(0, o.Followers).Select(i => Task.Run(() => FollowAsync(http, i, o.Watchers > 0 ? Started($"bench-{i}").Task : Task.CompletedTask, result, deadline), CancellationToken.None)).ToList();
        var createClock = Stopwatch.StartNew();
        var createErrors = new ConcurrentBag<string>();
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, o.Pods), new ParallelOptions { MaxDegreeOfParallelism = o.CreateParallelism, CancellationToken = deadline },
                async (i, ct) =>
                {
                    if (o.CreateRate > 0 && TimeSpan.FromSeconds(i / o.CreateRate) - createClock.Elapsed is { } due && due > TimeSpan.Zero)
                    {
                        // Paced: pod i is sent at i / rate, as a cluster's pod creation proceeds, not all at once.
                        await Task.Delay(due, ct);
                    }
                    var body = PodJson(i);
                    sent[i] = Stopwatch.GetTimestamp();
                    using var content = new StringContent(body, Encoding.UTF8, "application/json");
                    using var r = await http.PostAsync("/api/v1/namespaces/default/pods", content, ct);
                    if (r.StatusCode != HttpStatusCode.Created)
                    {
                        createErrors.Add($"bench-{i}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync(ct)}");
                    }
                });
        }
        catch (OperationCanceledException)
        {
            result.Notes.Add("time limit reached while creating pods");
        }

        result.CreateSeconds = createClock.Elapsed.TotalSeconds;
        result.CreateErrors = createErrors.Count;
        foreach (var e in createErrors.Take(3))
        {
            result.Notes.Add("create failed: " + e);
        }

        try
        {
            var expected = o.Pods - result.CreateErrors;
            await WaitForAsync(async () => o.Watchers == 0
                    ? (await Stats.ReadAsync(http, deadline)).Terminal >= expected
                    : phases.Values.Count(p => p is "Succeeded" or "Failed" or "Deleted") >= expected,
                TimeSpan.FromSeconds(o.TimeoutSeconds), "not every pod ended", deadline);
            result.AllPodsEndedSeconds = createClock.Elapsed.TotalSeconds;
            await Task.WhenAll(followTasks).WaitAsync(TimeSpan.FromSeconds(30), deadline);
            // Let every watcher catch up with the last event before stopping them.
            long previous = -1;
            await WaitForAsync(() =>
            {
                var min = remote?.Min ?? (watchers.Count == 0 ? 0 : watchers.Min(w => w.LastResourceVersion));
                var max = remote?.Max ?? (watchers.Count == 0 ? 0 : watchers.Max(w => w.LastResourceVersion));
                var settled = min == max && min == previous;
                previous = min;
                return Task.FromResult(settled);
            }, TimeSpan.FromSeconds(15), "the watchers did not settle on the same last event", deadline);
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException)
        {
            result.Notes.Add(deadline.IsCancellationRequested ? $"time limit ({o.TimeoutSeconds} s) reached: figures are partial" : e.Message);
        }
        result.FollowersCompleted = followTasks.Count(t => t.IsCompletedSuccessfully);
        try
        {
            var final = await Stats.ReadAsync(http, deadline);
            result.PeakConcurrentPods = final.Peak;
            result.TerminalPods = final.Terminal;
            result.Phases = string.Concat(final.Phases.Where(ch => !char.IsWhiteSpace(ch)));
            result.ServerDelivery = final.Delivery;
        }
        catch (Exception e) when (e is OperationCanceledException or HttpRequestException)
        {
            result.Notes.Add("could not read /_sim/stats at the end: " + e.Message);
        }
        result.ServerHwmKb = _server.StatusKb("VmHWM");
        await stopWatchers.CancelAsync();
        await Task.WhenAll(watchTasks);
        if (remote is not null)
        {
            watchers = await remote.StopAsync();
        }
        await stopSampler.CancelAsync();
        await sampler;
        result.Analyse(watchers, sent);
        return result;
    }

    /// <summary>
    /// Runs the server's code paths once before measuring (create, watch, log, delete), so that JIT compilation does
    /// not land in the measured burst: pods in namespace <c>warmup</c>, followed by a watch and deleted with grace 0.
    /// </summary>
    private static async Task WarmUpAsync(HttpClient http, int pods, CancellationToken ct)
    {
        if (pods == 0)
        {
            return;
        }
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var watch = new WatchRecorder();
        var watching = watch.RunAsync(http, stop.Token);
        for (var i = 0; i < pods; i++)
        {
            using var content = new StringContent(PodJson(i, "warm"), Encoding.UTF8, "application/json");
            using var r = await http.PostAsync("/api/v1/namespaces/warmup/pods", content, ct);
        }
        await Task.Delay(TimeSpan.FromSeconds(3), ct);
        for (var i = 0; i < pods; i++)
        {
            using var log = await http.GetAsync($"/api/v1/namespaces/warmup/pods/warm-{i}/log?timestamps=true", ct);
            using var r = await http.DeleteAsync($"/api/v1/namespaces/warmup/pods/warm-{i}?gracePeriodSeconds=0", ct);
        }
        await stop.CancelAsync();
        await watching;
    }

    private static string PodJson(int i, string prefix = "bench") =>
        $$$"""{"apiVersion":"v1","kind":"Pod","metadata":{"name":"{{{prefix}}}-{{{i}}}"},"spec":{"restartPolicy":"Never","containers":[{"name":"kaniko","image":"gcr.io/kaniko-project/executor:v1.24.0","args":["--context=dir:///workspace","--destination=registry.example.com/app/{{{i}}}:1","--log-timestamp","--digest-file=/dev/termination-log"]}]}}""";

    private static async Task FollowAsync(HttpClient http, int i, Task started, LoadResult result, CancellationToken ct)
    {
        await started.WaitAsync(ct);
        var buffer = new byte[16 * 1024];
        while (true)
        {
            using var r = await http.GetAsync($"/api/v1/namespaces/default/pods/bench-{i}/log?follow=true&timestamps=true", HttpCompletionOption.ResponseHeadersRead, ct);
            if (r.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound)
            {
                // Not created or not started yet (the real kubectl logs -f fails the same way): retry shortly.
                await Task.Delay(200, ct);
                continue;
            }
            r.EnsureSuccessStatusCode();
            await using var stream = await r.Content.ReadAsStreamAsync(ct);
            long lines = 0, bytes = 0;
            int n;
            while ((n = await stream.ReadAsync(buffer, ct)) > 0)
            {
                bytes += n;
                lines += buffer.AsSpan(0, n).Count((byte)'\n');
            }
            result.AddLog(lines, bytes);
            return;
        }
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan limit, string failure, CancellationToken ct)
    {
        var until = Stopwatch.StartNew();
        while (!await condition())
        {
            if (until.Elapsed > limit)
            {
                throw new TimeoutException(failure);
            }
            await Task.Delay(500, ct);
        }
    }
}

/// <summary>What a run measured, and the summary table.</summary>
public sealed class LoadResult
{
    private readonly LoadOptions _options;

    public LoadResult(LoadOptions options) => _options = options;

    private long _logLines;
    private long _logBytes;

    public long LogLines => Interlocked.Read(ref _logLines);
    public long LogBytes => Interlocked.Read(ref _logBytes);

    public void AddLog(long lines, long bytes)
    {
        Interlocked.Add(ref _logLines, lines);
        Interlocked.Add(ref _logBytes, bytes);
    }
    public List<string> Notes { get; } = [];
    public double CreateSeconds { get; set; }
    public int CreateErrors { get; set; }
    public double AllPodsEndedSeconds { get; set; }
    public int PeakConcurrentPods { get; set; }
    public int TerminalPods { get; set; }
    public string Phases { get; set; } = "";
    public int FollowersCompleted { get; set; }
    public long ServerHwmKb { get; set; } = -1;
    public long PeakRssKb { get; set; } = -1;
    public double[] FanOut { get; private set; } = [];
    public double[] CreateToDelivery { get; private set; } = [];
    public long Deliveries { get; private set; }

    /// <summary>The server's own watch delivery figures from <c>/_sim/stats</c> (null for a server without them).</summary>
    public ServerDelivery? ServerDelivery { get; set; }
    public int DistinctEvents { get; private set; }

    public bool Complete => Notes.Count == 0 && CreateErrors == 0;

    /// <summary>
    /// Fan-out delay of a delivery: how long after the first watcher received the same event (same resourceVersion)
    /// this watcher received it; zero for the first. Create-to-delivery: from sending the POST to a watcher receiving ADDED.
    /// </summary>
    public void Analyse(IReadOnlyList<WatchRecorder> watchers, long[] sent)
    {
        ArgumentNullException.ThrowIfNull(watchers);
        ArgumentNullException.ThrowIfNull(sent);
        var first = new Dictionary<long, long>();
        foreach (var r in watchers.SelectMany(w => w.Receipts))
        {
            first[r.ResourceVersion] = first.TryGetValue(r.ResourceVersion, out var t) ? Math.Min(t, r.Timestamp) : r.Timestamp;
        }
        DistinctEvents = first.Count;
        var fanOut = new List<double>();
        var create = new List<double>();
        foreach (var r in watchers.SelectMany(w => w.Receipts))
        {
            fanOut.Add(Stopwatch.GetElapsedTime(first[r.ResourceVersion], r.Timestamp).TotalMilliseconds);
            if (r.AddedName is { } name && name.StartsWith("bench-", StringComparison.Ordinal) &&
                int.TryParse(name.AsSpan(6), NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) && i < sent.Length && sent[i] != 0)
            {
                create.Add(Stopwatch.GetElapsedTime(sent[i], r.Timestamp).TotalMilliseconds);
            }
        }
        fanOut.Sort();
        create.Sort();
        FanOut = [.. fanOut];
        CreateToDelivery = [.. create];
        Deliveries = fanOut.Count;
    }

    private static double Pct(double[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p / 100 * sorted.Length) - 1)];

    private static string Ms(double[] s) => s.Length == 0
        ? "no data"
        : string.Create(CultureInfo.InvariantCulture, $"p50 {Pct(s, 50):F1}  p95 {Pct(s, 95):F1}  p99 {Pct(s, 99):F1}  max {s[^1]:F1} ms");

    public string Table()
    {
        var o = _options;
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        void Row(string what, string value, string verdict = "") => sb.AppendLine(c, $"{what,-34} {value,-52} {verdict}");
        var fanP99 = Pct(FanOut, 99);
        var hwmMiB = ServerHwmKb / 1024.0;
        Row("figure", "value", "target");
        Row("pods created", string.Create(c, $"{o.Pods - CreateErrors} of {o.Pods} in {CreateSeconds:F1} s ({(o.Pods - CreateErrors) / Math.Max(CreateSeconds, 1e-9):F0} creates/s)"),
            CreateErrors == 0 ? "" : "ERRORS");
        // A few short builds can end before the last create lands, so 95 % of the pods running at once counts as "all alive".
        Row("pods concurrently running (peak)", string.Create(c, $"{PeakConcurrentPods}"), PeakConcurrentPods >= o.Pods * 0.95 ? $"PASS (>= 95 % of {o.Pods})" : $"MISS (>= 95 % of {o.Pods})");
        Row("pods ended", string.Create(c, $"{TerminalPods} after {AllPodsEndedSeconds:F1} s {Phases}"));
        Row("watch deliveries", string.Create(c, $"{Deliveries} ({DistinctEvents} events x {o.Watchers} watchers = {(long)DistinctEvents * o.Watchers})"),
            Deliveries == (long)DistinctEvents * o.Watchers ? "all delivered" : "SOME MISSING");
        Row("watch fan-out delay", Ms(FanOut), double.IsNaN(fanP99) ? "" : fanP99 < 50 ? "PASS (p99 < 50 ms)" : "MISS (p99 < 50 ms)");
        if (ServerDelivery is { } d)
        {
            Row("server: fan-out spread (flush)", d.Spread);
            Row("server: commit->flush", d.CommitToFlush);
            Row("server: written by", string.Create(c, $"fan-out step {d.Direct}, watcher loop {d.Queued}"));
        }
        else
        {
            Row("server: fan-out spread (flush)", "not reported by this server");
        }
        Row("create-to-watch (POST sent->ADDED)", Ms(CreateToDelivery));
        Row("log followers completed", string.Create(c, $"{FollowersCompleted} of {o.Followers}"), FollowersCompleted == o.Followers ? "" : "INCOMPLETE");
        Row("log lines delivered", string.Create(c, $"{LogLines} ({LogBytes / 1024} KiB)"));
        Row("server peak RSS (VmHWM)", ServerHwmKb < 0 ? "unknown" : string.Create(c, $"{hwmMiB:F0} MiB{(o.InProcess ? " (includes the clients: --in-process)" : "")}"),
            ServerHwmKb < 0 ? "" : hwmMiB < 300 ? "PASS (< 300 MB)" : "MISS (< 300 MB)");
        Row("server RSS sampled peak (250 ms)", PeakRssKb < 0 ? "unknown" : string.Create(c, $"{PeakRssKb / 1024.0:F0} MiB"));
        foreach (var n in Notes)
        {
            sb.AppendLine("note: " + n);
        }
        return sb.ToString();
    }
}
