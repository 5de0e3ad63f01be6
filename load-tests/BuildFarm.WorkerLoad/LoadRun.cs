using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BuildFarm.ClusterSim.Hosting;
using BuildFarm.ClusterSim.Scenarios;
using BuildFarm.Contracts;
using MassTransit;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using StackExchange.Redis;

namespace BuildFarm.WorkerLoad;

/// <summary>
/// One run, in order: the raw MassTransit baseline (a trivial consumer in a child process); then one worker in a child
/// process against the simulator (in this process, over HTTP, instant pods): warm-up, throughput burst (with the
/// Kubernetes API and Redis counts), latency at the offered rate, memory over many builds.
/// </summary>
public sealed partial class LoadRun(LoadOptions options, Services services)
{
    private const string BuildQueue = "buildfarm-build-image";

    private readonly EventTracker _tracker = new();
    private readonly string _run = Guid.NewGuid().ToString("N")[..8];
    private readonly List<string> _notes = [];
    private int _sequence;

    public async Task<Results> RunAsync(CancellationToken ct)
    {
        var results = new Results(options);
        await WithBenchAsync(bench => MeasureAsync(bench, results, ct), ct);
        results.Notes.AddRange(_notes);
        return results;
    }

    /// <summary>
    /// Runs <paramref name="body"/> with the simulator, an HTTP client to it, a Redis connection and the started bus (after
    /// checking the broker); stops the bus and deletes the kubeconfig afterwards.
    /// </summary>
    private async Task<T> WithBenchAsync<T>(Func<Bench, Task<T>> body, CancellationToken ct)
    {
        await CheckBrokerAsync(ct);
        var kubeconfig = Path.Combine(Path.GetTempPath(), $"workerload-{_run}.kubeconfig");
        await using var sim = await SimulatorAsync(kubeconfig, ct);
        using var http = new HttpClient { BaseAddress = sim.Address };
        using var redis = await ConnectionMultiplexer.ConnectAsync(services.Redis + ",allowAdmin=true");
        var bus = CreateBus();
        await bus.StartAsync(ct);
        try
        {
            return await body(new Bench(bus, http, redis, kubeconfig, sim.Child));
        }
        finally
        {
            await bus.StopAsync(CancellationToken.None);
            File.Delete(kubeconfig);
        }
    }

    private async Task<bool> MeasureAsync(Bench bench, Results results, CancellationToken ct)
    {
        var (bus, http, redis, kubeconfig, _) = bench;
        Console.WriteLine($"[{Now()}] baseline: {options.RawMessages} BuildImage messages through a trivial consumer");
        results.RawMessagesPerSecond = await RawBaselineAsync(bus, results, ct);
        Console.WriteLine($"[{Now()}]   {results.RawMessagesPerSecond:F0} msgs/s");
        Console.WriteLine($"[{Now()}] bus-only builds: {options.RawMessages} BuildImage messages through a consumer that only publishes BuildStarted and BuildSucceeded");
        results.BusOnlyBuildsPerSecond = await BusOnlyBaselineAsync(bus, results, ct);
        Console.WriteLine($"[{Now()}]   {results.BusOnlyBuildsPerSecond:F0} builds/s");

        await using var worker = await ChildProcess.StartAsync(
            ["--child", "worker", "--slots", Str(options.Slots), "--kubeconfig", kubeconfig, "--redis-prefix", $"bfload:{_run}:", .. WorkerSettingArgs()], serverGc: options.WorkerGc == "server", ct);
        results.WorkerProcessId = worker.Id;
        Console.WriteLine($"[{Now()}] worker child pid {worker.Id}; warm-up: {options.Warmup} builds");
        if (options.Warmup > 0)
        {
            await BurstAsync(bus, options.Warmup, "warm", ct);
        }

        Console.WriteLine($"[{Now()}] burst: {options.Builds} builds at once (requests per build counted)");
        var memBefore = Mem.Parse(await worker.AskAsync("MEM", ct));
        var apiBefore = await ApiRequestsAsync(http, ct);
        var redisBefore = await CommandStatsAsync(redis);
        await worker.AskAsync("REDIS-START", ct);
        var burst = await BurstAsync(bus, options.Builds, "tput", ct);
        var redisClient = RedisProfile.Parse(await worker.AskAsync("REDIS-STOP", ct));
        var redisAfter = await CommandStatsAsync(redis);
        var apiAfter = await ApiRequestsAsync(http, ct);
        var memAfter = Mem.Parse(await worker.AskAsync("MEM", ct));
        results.BuildsPerSecond = burst.PerSecond;
        results.Failed += burst.Failed;
        results.ApiPerBuild = Delta(apiBefore, apiAfter) / (double)options.Builds;
        results.ApiBreakdown = Breakdown(apiBefore, apiAfter, options.Builds);
        results.Redis = redisClient;
        var serverCommands = Delta(redisBefore, redisAfter);
        results.RedisServerPerBuild = serverCommands / (double)options.Builds;
        results.WorkerCpuMsPerBuild = (memAfter.CpuMs - memBefore.CpuMs) / options.Builds;
        results.WorkerAllocatedPerBuild = (memAfter.Allocated - memBefore.Allocated) / (double)options.Builds;
        Console.WriteLine($"[{Now()}]   {burst.PerSecond:F0} builds/s, {results.ApiPerBuild:F2} API requests, {redisClient.RoundTripsPerBuild(options.Builds):F2} Redis round trips " +
            $"({redisClient.CommandsPerBuild(options.Builds):F2} commands) per build");

        Console.WriteLine($"[{Now()}] latency: {options.Rate} builds/s offered for {options.RampSeconds} s (ramp) + {options.LatencySeconds} s (measured)");
        var latency = await OpenLoopAsync(bus, ct);
        results.LatencyP50 = latency.P50;
        results.LatencyP99 = latency.P99;
        results.LatencyMax = latency.Max;
        results.EndToEndP50 = latency.EndP50;
        results.EndToEndP99 = latency.EndP99;
        results.OfferedRate = latency.OfferedRate;
        results.Failed += latency.Failed;
        Console.WriteLine($"[{Now()}]   publish -> pod created p50 {latency.P50:F1} ms, p99 {latency.P99:F1} ms");

        if (options.MemoryBuilds > 0)
        {
            Console.WriteLine($"[{Now()}] memory: {options.MemoryBuilds} builds in chunks of {options.MemoryChunk}");
            var samples = new List<(int Builds, Mem Mem)> { (0, Mem.Parse(await worker.AskAsync("MEM", ct))) };
            var busy = TimeSpan.Zero;
            // CPU from the second chunk on (the first still pays for tiered JIT); the samples' forced GCs count too.
            var meter = Meter(("worker child", worker.Id));
            Dictionary<string, double>? cpuBefore = null;
            for (var done = 0; done < options.MemoryBuilds;)
            {
                var chunk = Math.Min(options.MemoryChunk, options.MemoryBuilds - done);
                var r = await BurstAsync(bus, chunk, "mem", ct, forget: true);
                results.Failed += r.Failed;
                busy += r.Elapsed;
                done += chunk;
                var mem = Mem.Parse(await worker.AskAsync("MEM", ct));
                samples.Add((done, mem));
                if (cpuBefore is null)
                {
                    cpuBefore = meter.Snapshot();
                    results.BuildCpuBuilds = -done;
                }
                Console.WriteLine($"[{Now()}]   {done,6} builds: RSS {mem.Rss / 1048576.0:F1} MiB, heap after full GC {mem.Heap / 1048576.0:F2} MiB, {r.PerSecond:F0} builds/s");
            }
            results.MemorySamples = samples;
            results.BuildCpuBuilds += options.MemoryBuilds;
            if (cpuBefore is not null && results.BuildCpuBuilds > 0)
            {
                results.BuildCpu = meter.PerUnit(cpuBefore, meter.Snapshot(), results.BuildCpuBuilds);
            }
            // Sustained: every build of the memory phase over the time spent building (the samples' pauses left out).
            results.SustainedBuildsPerSecond = options.MemoryBuilds / busy.TotalSeconds;
        }
        results.UnknownEvents = _tracker.Unknown;
        results.SimRequests = string.Join(", ", (await ApiRequestsAsync(http, ct)).Select(kv => $"{kv.Key} {kv.Value}"));
        return true;
    }

    /// <summary>The baseline publishes BuildImage like the worker phases: it would land in the worker's queue if that existed.</summary>
    private async Task CheckBrokerAsync(CancellationToken ct)
    {
        await using var connection = await Connect(ct);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: ct);
        try
        {
            var queue = await channel.QueueDeclarePassiveAsync(BuildQueue, ct);
            throw new InvalidOperationException($"the broker already has the queue {BuildQueue} ({queue.MessageCount} messages, {queue.ConsumerCount} consumers): " +
                "the baseline would publish into it. Use a broker of its own (load-tests/run-worker-load.sh starts one)");
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
        {
            // As expected: a fresh broker.
        }
    }

    private Task<IConnection> Connect(CancellationToken ct) => new ConnectionFactory
    {
        HostName = services.RabbitHost, Port = services.RabbitPort, UserName = services.RabbitUser, Password = services.RabbitPassword,
    }.CreateConnectionAsync(ct);

    private IBusControl CreateBus() => Bus.Factory.CreateUsingRabbitMq(cfg =>
    {
        cfg.Host(services.RabbitHost, (ushort)services.RabbitPort, "/", h =>
        {
            h.Username(services.RabbitUser);
            h.Password(services.RabbitPassword);
        });
        cfg.ReceiveEndpoint($"bfload-events-{_run}", e =>
        {
            e.Durable = false;
            e.AutoDelete = true;
            e.PrefetchCount = 512;
            e.ConcurrentMessageLimit = 64;
            e.Handler<BuildStarted>(c =>
            {
                _tracker.Started(c.Message);
                return Task.CompletedTask;
            });
            e.Handler<BuildSucceeded>(c =>
            {
                _tracker.Ended(c.Message.BuildId, "succeeded");
                return Task.CompletedTask;
            });
            e.Handler<BuildFailed>(c =>
            {
                _tracker.Ended(c.Message.BuildId, "failed:" + c.Message.Reason);
                return Task.CompletedTask;
            });
            e.Handler<BuildCancelled>(c =>
            {
                _tracker.Ended(c.Message.BuildId, "cancelled");
                return Task.CompletedTask;
            });
        });
    });

    private static BuildImage Command(string id) => new()
    {
        BuildId = id,
        // A destination of its own per build: no lock waits, no dedupe hits; one registry, under its slot limit.
        Spec = new BuildSpec { Context = "s3://ctx-bucket/builds/app.tar.gz", Destinations = [$"registry.example.com/load/{id}:1"] },
        SubmittedAt = DateTimeOffset.UtcNow,
    };

    private string NextId(string kind) => $"wl-{_run}-{kind}-{Interlocked.Increment(ref _sequence).ToString(CultureInfo.InvariantCulture)}";

    private int _simulatorPid;

    /// <summary>The broker, Redis (when run-worker-load.sh gave their pids), <paramref name="child"/>, the simulator and this process.</summary>
    private CpuMeter Meter((string Name, int Pid) child)
    {
        var (broker, redis) = CpuMeter.ServerPidsFromEnvironment();
        return _simulatorPid == 0
            ? new CpuMeter([("rabbitmq (beam.smp)", broker), ("redis-server", redis), child, ("generator + simulator", Environment.ProcessId)])
            : new CpuMeter([("rabbitmq (beam.smp)", broker), ("redis-server", redis), child, ("simulator child", _simulatorPid), ("generator", Environment.ProcessId)]);
    }

    /// <summary>
    /// The simulator with instant pods: in a child process of its own (workstation GC, like `buildfarm sim`), so that
    /// its CPU is counted apart from the generator's and the two do not share a thread pool; in this process with
    /// --sim-in-process.
    /// </summary>
    private async Task<SimulatorHandle> SimulatorAsync(string kubeconfig, CancellationToken ct)
    {
        if (options.SimInProcess)
        {
            var sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions
            {
                Scenario = ScenarioLoader.Load(Path.Combine(AppContext.BaseDirectory, "instant.yaml")),
                Seed = 11,
            }, ct);
            sim.WriteKubeconfig(kubeconfig);
            return new SimulatorHandle(sim.Address, sim, null);
        }
        var child = await ChildProcess.StartAsync(["--child", "sim", "--kubeconfig", kubeconfig], serverGc: false, ct);
        _simulatorPid = child.Id;
        var answer = await child.AskAsync("ADDR", ct);
        return new SimulatorHandle(new Uri(answer["ADDR ".Length..]), null, child);
    }

    private sealed class SimulatorHandle(Uri address, ClusterSimulator? inProcess, ChildProcess? child) : IAsyncDisposable
    {
        public Uri Address { get; } = address;

        /// <summary>The simulator's child process; null when it runs in this process.</summary>
        public ChildProcess? Child { get; } = child;

        public async ValueTask DisposeAsync()
        {
            if (inProcess is not null)
            {
                await inProcess.DisposeAsync();
            }
            if (Child is not null)
            {
                await Child.DisposeAsync();
            }
        }
    }

    private async Task<double> RawBaselineAsync(IBusControl bus, Results results, CancellationToken ct)
    {
        var queue = $"bfload-raw-{_run}";
        try
        {
            await using var raw = await ChildProcess.StartAsync(["--child", "raw", "--slots", Str(options.Slots), "--queue", queue], serverGc: true, ct);
            using var gate = new SemaphoreSlim(options.PublishParallelism);
            await PublishAllAsync(bus, gate, Enumerable.Range(0, options.Warmup).Select(_ => Command(NextId("rawwarm"))), ct);
            await WaitCountAsync(raw, options.Warmup, ct);
            var meter = Meter(("raw consumer child", raw.Id));
            var cpuBefore = meter.Snapshot();
            var first = DateTimeOffset.UtcNow.UtcTicks;
            await PublishAllAsync(bus, gate, Enumerable.Range(0, options.RawMessages).Select(_ => Command(NextId("raw"))), ct);
            var last = await WaitCountAsync(raw, options.Warmup + options.RawMessages, ct);
            results.RawCpu = meter.PerUnit(cpuBefore, meter.Snapshot(), options.RawMessages);
            return options.RawMessages / TimeSpan.FromTicks(last - first).TotalSeconds;
        }
        finally
        {
            await using var connection = await Connect(CancellationToken.None);
            await using var channel = await connection.CreateChannelAsync(cancellationToken: CancellationToken.None);
            await channel.QueueDeleteAsync(queue, cancellationToken: CancellationToken.None);
            await channel.ExchangeDeleteAsync(queue, cancellationToken: CancellationToken.None);
        }
    }

    /// <summary>
    /// The message contract's own cost: each build is the command plus the two events a successful build publishes, and the
    /// generator consumes the events as it does the worker's. No Redis, Kubernetes or log work: the most builds/s any worker
    /// could reach on this bus and machine.
    /// </summary>
    private async Task<double> BusOnlyBaselineAsync(IBusControl bus, Results results, CancellationToken ct)
    {
        var queue = $"bfload-echo-{_run}";
        try
        {
            await using var echo = await ChildProcess.StartAsync(["--child", "echo", "--slots", Str(options.Slots), "--queue", queue], serverGc: true, ct);
            if (options.Warmup > 0)
            {
                await BurstAsync(bus, options.Warmup, "echowarm", ct, forget: true);
            }
            var meter = Meter(("bus-only consumer child", echo.Id));
            var cpuBefore = meter.Snapshot();
            var run = await BurstAsync(bus, options.RawMessages, "echo", ct, forget: true);
            results.BusOnlyCpu = meter.PerUnit(cpuBefore, meter.Snapshot(), options.RawMessages);
            results.Failed += run.Failed;
            return run.PerSecond;
        }
        finally
        {
            await using var connection = await Connect(CancellationToken.None);
            await using var channel = await connection.CreateChannelAsync(cancellationToken: CancellationToken.None);
            await channel.QueueDeleteAsync(queue, cancellationToken: CancellationToken.None);
            await channel.ExchangeDeleteAsync(queue, cancellationToken: CancellationToken.None);
        }
    }

    private static async Task<long> WaitCountAsync(ChildProcess raw, long expected, CancellationToken ct)
    {
        while (true)
        {
            var parts = (await raw.AskAsync("COUNT", ct)).Split(' ');
            if (long.Parse(parts[1], CultureInfo.InvariantCulture) >= expected)
            {
                return long.Parse(parts[2], CultureInfo.InvariantCulture);
            }
            await Task.Delay(10, ct);
        }
    }

    private async Task PublishAllAsync(IBusControl bus, SemaphoreSlim gate, IEnumerable<BuildImage> messages, CancellationToken ct)
    {
        var tasks = new List<Task>();
        foreach (var message in messages)
        {
            await gate.WaitAsync(ct);
            tasks.Add(SubmitReleasingAsync(bus, gate, message, ct));
        }
        await Task.WhenAll(tasks);
    }

    /// <summary>How the warm-up, burst and latency phases hand a build over: null publishes it (admission off); the
    /// admission comparison sets the producer's enqueue for its admission-on phases.</summary>
    private Func<BuildImage, CancellationToken, Task>? _submit;

    private async Task SubmitReleasingAsync(IBusControl bus, SemaphoreSlim gate, BuildImage message, CancellationToken ct)
    {
        try
        {
            await (_submit is { } submit ? submit(message, ct) : bus.Publish(message, ct));
        }
        finally
        {
            gate.Release();
        }
    }

    private sealed record BurstResult(double PerSecond, TimeSpan Elapsed, int Failed);

    /// <summary>Publishes <paramref name="count"/> builds as fast as the publisher allows and waits for every end event.</summary>
    private async Task<BurstResult> BurstAsync(IBusControl bus, int count, string kind, CancellationToken ct, bool forget = false)
    {
        var phase = new LoadPhase(count);
        var ids = Enumerable.Range(0, count).Select(_ => NextId(kind)).ToList();
        var tracks = ids.Select(id => _tracker.Track(id, phase)).ToList();
        using var gate = new SemaphoreSlim(options.PublishParallelism);
        var first = DateTimeOffset.UtcNow.UtcTicks;
        var tasks = new List<Task>(count);
        for (var i = 0; i < count; i++)
        {
            await gate.WaitAsync(ct);
            tracks[i].PublishedTicks = DateTimeOffset.UtcNow.UtcTicks;
            tasks.Add(SubmitReleasingAsync(bus, gate, Command(ids[i]), ct));
        }
        await Task.WhenAll(tasks);
        await phase.Done.WaitAsync(ct);
        var last = tracks.Max(t => t.EndSeenTicks);
        var failed = tracks.Count(t => t.Outcome != "succeeded");
        if (failed > 0)
        {
            _notes.Add($"{kind}: {failed} of {count} builds did not succeed ({string.Join(", ", tracks.Where(t => t.Outcome != "succeeded").Select(t => t.Outcome).Distinct())})");
        }
        if (forget)
        {
            _tracker.Forget(ids);
        }
        var elapsed = TimeSpan.FromTicks(last - first);
        return new BurstResult(count / elapsed.TotalSeconds, elapsed, failed);
    }

    private sealed record LatencyResult(double P50, double P99, double Max, double EndP50, double EndP99, double OfferedRate, int Failed);

    /// <summary>Open loop: build i is published at start + i/rate whatever the worker does; latency = BuildStarted.At − publish.</summary>
    private async Task<LatencyResult> OpenLoopAsync(IBusControl bus, CancellationToken ct)
    {
        // The first --ramp-seconds run at the same rate but are not measured: the worker and the simulator are still
        // settling from the burst before (pods being deleted, its garbage collected), which is not the steady state.
        var ramp = (int)Math.Round(options.Rate * options.RampSeconds);
        var count = ramp + (int)Math.Round(options.Rate * options.LatencySeconds);
        var phase = new LoadPhase(count);
        var ids = Enumerable.Range(0, count).Select(_ => NextId("lat")).ToList();
        var tracks = ids.Select(id => _tracker.Track(id, phase)).ToList();
        using var gate = new SemaphoreSlim(options.PublishParallelism);
        var tasks = new List<Task>(count);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            var wait = TimeSpan.FromSeconds(i / options.Rate) - clock.Elapsed;
            if (wait > TimeSpan.FromMilliseconds(1))
            {
                await Task.Delay(wait, ct);
            }
            await gate.WaitAsync(ct);
            tracks[i].PublishedTicks = DateTimeOffset.UtcNow.UtcTicks;
            tasks.Add(SubmitReleasingAsync(bus, gate, Command(ids[i]), ct));
        }
        var offered = count / clock.Elapsed.TotalSeconds;
        await Task.WhenAll(tasks);
        await phase.Done.WaitAsync(ct);
        var all = tracks;
        tracks = tracks[ramp..];
        var created = tracks.Where(t => t.PodCreatedTicks > 0).Select(t => TimeSpan.FromTicks(t.PodCreatedTicks - t.PublishedTicks).TotalMilliseconds).Order().ToList();
        // Where the slow ones are: per second of the phase, the worst and how many took over 50 ms (a stall shows as a
        // cluster in one second; a steady tail spreads over all of them).
        var start = all[0].PublishedTicks;
        foreach (var second in all.Where(t => t.PodCreatedTicks > 0)
                     .GroupBy(t => (int)TimeSpan.FromTicks(t.PublishedTicks - start).TotalSeconds).OrderBy(g => g.Key))
        {
            var ms = second.Select(t => TimeSpan.FromTicks(t.PodCreatedTicks - t.PublishedTicks).TotalMilliseconds).ToList();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[{Now()}]     second {second.Key,3}{(second.Key < options.RampSeconds ? " (ramp, not measured)" : "")}: {ms.Count} builds, max {ms.Max(),6:F1} ms, over 50 ms: {ms.Count(x => x > 50)}"));
        }
        var ended = tracks.Select(t => TimeSpan.FromTicks(t.EndSeenTicks - t.PublishedTicks).TotalMilliseconds).Order().ToList();
        var failed = all.Count(t => t.Outcome != "succeeded");
        if (created.Count < tracks.Count)
        {
            _notes.Add($"latency: {tracks.Count - created.Count} of {tracks.Count} measured builds had no BuildStarted");
        }
        return new LatencyResult(Percentile(created, 0.50), Percentile(created, 0.99), created.Count > 0 ? created[^1] : double.NaN,
            Percentile(ended, 0.50), Percentile(ended, 0.99), offered, failed);
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        if (sorted.Count == 0)
        {
            return double.NaN;
        }
        var rank = (int)Math.Ceiling(p * sorted.Count);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)];
    }

    /// <summary>Pod API requests by "verb code" from /_sim/stats, leaving out the shared watch (list and watch).</summary>
    private static async Task<Dictionary<string, long>> ApiRequestsAsync(HttpClient http, CancellationToken ct)
    {
        using var doc = JsonDocument.Parse(await http.GetStringAsync(new Uri("/_sim/stats", UriKind.Relative), ct));
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var r in doc.RootElement.GetProperty("requests").EnumerateArray())
        {
            var verb = r.GetProperty("verb").GetString()!;
            var resource = r.GetProperty("resource").GetString()!;
            if (verb is "list" or "watch" || !resource.StartsWith("pods", StringComparison.Ordinal))
            {
                continue;
            }
            var key = $"{verb} {resource} {r.GetProperty("code").GetInt32()}";
            counts[key] = counts.GetValueOrDefault(key) + r.GetProperty("count").GetInt64();
        }
        return counts;
    }

    /// <summary>Redis's own per-command call counts, leaving out what this generator sends (INFO) and connection chatter.</summary>
    private static async Task<Dictionary<string, long>> CommandStatsAsync(ConnectionMultiplexer redis)
    {
        var server = redis.GetServer(redis.GetEndPoints()[0]);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var group in await server.InfoAsync("commandstats"))
        {
            foreach (var (key, value) in group)
            {
                var name = key.StartsWith("cmdstat_", StringComparison.Ordinal) ? key["cmdstat_".Length..] : key;
                if (name is "info" or "ping" or "echo" || name.StartsWith("client", StringComparison.Ordinal) || name.StartsWith("cluster", StringComparison.Ordinal)
                    || name.StartsWith("config", StringComparison.Ordinal) || name.StartsWith("subscribe", StringComparison.Ordinal))
                {
                    continue;
                }
                var calls = value.Split(',')[0];
                counts[name] = long.Parse(calls["calls=".Length..], CultureInfo.InvariantCulture);
            }
        }
        return counts;
    }

    private static long Delta(Dictionary<string, long> before, Dictionary<string, long> after) =>
        after.Sum(kv => kv.Value - before.GetValueOrDefault(kv.Key));

    private static string Breakdown(Dictionary<string, long> before, Dictionary<string, long> after, int builds) =>
        string.Join(", ", after.Select(kv => (kv.Key, Count: kv.Value - before.GetValueOrDefault(kv.Key))).Where(x => x.Count > 0)
            .OrderByDescending(x => x.Count).Select(x => string.Create(CultureInfo.InvariantCulture, $"{x.Key}: {x.Count / (double)builds:0.##}")));

    /// <summary>The <c>--worker-setting</c> options, passed on to a worker child.</summary>
    private IEnumerable<string> WorkerSettingArgs() => options.WorkerSettings.SelectMany(s => new[] { "--worker-setting", s });

    private static string Str(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Now() => DateTimeOffset.UtcNow.ToString("HH:mm:ss", CultureInfo.InvariantCulture);
}

/// <summary>A memory sample of the child: RSS before, heap after a full collection, and its running totals.</summary>
public sealed record Mem(long Rss, long Heap, long RssAfterGc, long Allocated, double CpuMs, double GcPauseMs, int Threads, bool ServerGc)
{
    public static Mem Parse(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var p = line.Split(' ');
        if (p.Length < 9 || p[0] != "MEM")
        {
            throw new FormatException($"unexpected memory sample '{line}'");
        }
        return new Mem(L(p[1]), L(p[2]), L(p[3]), L(p[4]), D(p[5]), D(p[6]), (int)L(p[7]), p[8] == "1");

        static long L(string s) => long.Parse(s, CultureInfo.InvariantCulture);
        static double D(string s) => double.Parse(s, CultureInfo.InvariantCulture);
    }
}
