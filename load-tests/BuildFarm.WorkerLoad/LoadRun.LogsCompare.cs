using System.Globalization;
using System.Text;
using StackExchange.Redis;

namespace BuildFarm.WorkerLoad;

/// <summary>
/// The log-store comparison (<c>--logs-compare ROUNDS</c>, issue 14): per round, the warm-up and the burst twice, each
/// with a fresh worker child, once with <c>Logs:Enabled=false</c> and once with <c>true</c>, against the same simulator,
/// broker and Redis, and the Redis round trips and CPU per build of each. The order alternates by round (off then on,
/// then on then off, ...) so that a drift of the shared machine does not always favour the same setting.
/// </summary>
public sealed partial class LoadRun
{
    public async Task<LogsComparison> RunLogsCompareAsync(CancellationToken ct)
    {
        var phases = await CompareRoundsAsync(options.LogsCompare, (bench, round, logs, token) => LogsPhaseAsync(bench.Bus, bench.Http, bench.Redis, bench.Kubeconfig, round, logs, token),
            phase => string.Create(CultureInfo.InvariantCulture,
                $"{phase.BuildsPerSecond:F0} builds/s; Redis round trips {phase.RedisPerBuild:F2}, server commands {phase.RedisServerPerBuild:F2}, " +
                $"worker CPU {phase.WorkerCpuMsPerBuild:F2} ms per build; log stored {phase.LogLinesPerBuild:F1} lines, {phase.LogBytesPerBuild:F0} bytes per build"), ct);
        var comparison = new LogsComparison(options, phases, _tracker.Unknown);
        comparison.Notes.AddRange(_notes);
        return comparison;
    }

    /// <summary>What a comparison's phases share: the generator's bus, the simulator's address, Redis (admin), the kubeconfig
    /// and the simulator child (null with --sim-in-process).</summary>
    private sealed record Bench(MassTransit.IBusControl Bus, HttpClient Http, ConnectionMultiplexer Redis, string Kubeconfig, ChildProcess? Simulator);

    /// <summary>
    /// A setting off vs on: the simulator, broker and generator warmed up once (a worker child of their own, not measured),
    /// then per round <paramref name="phase"/> with the setting off and on, the order alternating by round (off then on,
    /// then on then off, ...) so that a drift of the shared machine does not always favour the same setting.
    /// </summary>
    private async Task<List<TPhase>> CompareRoundsAsync<TPhase>(int rounds, Func<Bench, int, bool, CancellationToken, Task<TPhase>> phase,
        Func<TPhase, string> describe, CancellationToken ct)
    {
        var phases = new List<TPhase>();
        await WithBenchAsync(async bench =>
        {
            var (bus, _, _, kubeconfig, _) = bench;
            if (options.Warmup > 0)
            {
                // Else the first phase of the run (always "off" in round 1) would pay for their JIT as well as its own.
                await using var warmer = await ChildProcess.StartAsync(
                    ["--child", "worker", "--slots", Str(options.Slots), "--kubeconfig", kubeconfig, "--redis-prefix", $"bfload:{_run}:warm:", "--child-logs", "on"],
                    serverGc: options.WorkerGc == "server", ct);
                Console.WriteLine($"[{Now()}] warm-up of the simulator, broker and generator: {options.Warmup} builds through a worker child (pid {warmer.Id}) of their own, not measured");
                await BurstAsync(bus, options.Warmup, "simwarm", ct, forget: true);
            }
            for (var round = 1; round <= rounds; round++)
            {
                bool[] order = round % 2 == 1 ? [false, true] : [true, false];
                foreach (var on in order)
                {
                    var result = await phase(bench, round, on, ct);
                    phases.Add(result);
                    Console.WriteLine($"[{Now()}]   {describe(result)}");
                }
            }
            return true;
        }, ct);
        return phases;
    }

    private async Task<LogsPhase> LogsPhaseAsync(MassTransit.IBusControl bus, HttpClient http, ConnectionMultiplexer redis, string kubeconfig, int round, bool logs,
        CancellationToken ct)
    {
        var label = $"{(logs ? "on" : "off")}{round.ToString(CultureInfo.InvariantCulture)}";
        var prefix = $"bfload:{_run}:{label}:";
        await using var worker = await ChildProcess.StartAsync(
            ["--child", "worker", "--slots", Str(options.Slots), "--kubeconfig", kubeconfig, "--redis-prefix", prefix, "--child-logs", logs ? "on" : "off", .. WorkerSettingArgs()],
            serverGc: options.WorkerGc == "server", ct);
        Console.WriteLine($"[{Now()}] round {round}, Logs:Enabled={(logs ? "true" : "false")}: worker child pid {worker.Id}; warm-up {options.Warmup} builds, then a burst of {options.Builds}");
        if (options.Warmup > 0)
        {
            await BurstAsync(bus, options.Warmup, $"warm{label}", ct, forget: true);
        }
        var meter = Meter(("worker child", worker.Id));
        var memBefore = Mem.Parse(await worker.AskAsync("MEM", ct));
        var cpuBefore = meter.Snapshot();
        var apiBefore = await ApiRequestsAsync(http, ct);
        var redisBefore = await CommandStatsAsync(redis);
        await worker.AskAsync("REDIS-START", ct);
        var kind = $"cmp{label}";
        var firstId = _sequence + 1;
        var burst = await BurstAsync(bus, options.Builds, kind, ct, forget: true);
        var redisClient = RedisProfile.Parse(await worker.AskAsync("REDIS-STOP", ct));
        var redisAfter = await CommandStatsAsync(redis);
        var apiAfter = await ApiRequestsAsync(http, ct);
        var cpu = meter.PerUnit(cpuBefore, meter.Snapshot(), options.Builds);
        var memAfter = Mem.Parse(await worker.AskAsync("MEM", ct));
        var (lines, bytes) = await StoredLogAsync(redis, prefix + "logs:", kind, firstId, options.Builds);
        return new LogsPhase(round, logs, burst.PerSecond, burst.Failed, Delta(apiBefore, apiAfter) / (double)options.Builds,
            redisClient, options.Builds,
            Delta(redisBefore, redisAfter) / (double)options.Builds,
            Breakdown(redisBefore, redisAfter, options.Builds),
            (memAfter.CpuMs - memBefore.CpuMs) / options.Builds,
            (memAfter.Allocated - memBefore.Allocated) / (double)options.Builds,
            cpu, lines / (double)options.Builds, bytes / (double)options.Builds);
    }

    /// <summary>
    /// Lines and bytes the store holds for the burst's builds (each build's attempt 1 state hash: <c>l</c> and <c>b</c>),
    /// read after the counts were taken so that these reads are not counted.
    /// </summary>
    private async Task<(long Lines, long Bytes)> StoredLogAsync(ConnectionMultiplexer redis, string logPrefix, string kind, int firstId, int count)
    {
        var db = redis.GetDatabase();
        var reads = Enumerable.Range(firstId, count)
            .Select(n => db.HashGetAsync($"{logPrefix}{{wl-{_run}-{kind}-{n.ToString(CultureInfo.InvariantCulture)}}}:1:state", ["l", "b"]))
            .ToList();
        var values = await Task.WhenAll(reads);
        long lines = 0, bytes = 0;
        foreach (var v in values)
        {
            lines += v[0].TryParse(out long l) ? l : 0;
            bytes += v[1].TryParse(out long b) ? b : 0;
        }
        return (lines, bytes);
    }
}

/// <summary>One burst of the log-store comparison, per build.</summary>
public sealed record LogsPhase(
    int Round,
    bool Logs,
    double BuildsPerSecond,
    int Failed,
    double ApiPerBuild,
    RedisProfile Redis,
    int Builds,
    double RedisServerPerBuild,
    string RedisServerBreakdown,
    double WorkerCpuMsPerBuild,
    double WorkerAllocatedPerBuild,
    IReadOnlyList<(string Name, double MsPerUnit)> Cpu,
    double LogLinesPerBuild,
    double LogBytesPerBuild)
{
    /// <summary>The worker's Redis round trips per build (<see cref="RedisProfile.RoundTripsPerBuild"/>).</summary>
    public double RedisPerBuild => Redis.RoundTripsPerBuild(Builds);

    public double RedisCommandsPerBuild => Redis.CommandsPerBuild(Builds);
}

/// <summary>The comparison's table: every burst, then the mean with logs on beside off and issue 14's targets.</summary>
public sealed class LogsComparison(LoadOptions options, IReadOnlyList<LogsPhase> phases, int unknownEvents)
{
    /// <summary>Issue 14: at most this many more Redis round trips per build with the log store on.</summary>
    public const double MaxExtraRoundTrips = 2;

    /// <summary>Issue 14: at most this much more worker CPU per build (a fraction) with the log store on.</summary>
    public const double MaxExtraCpu = 0.25;

    public IReadOnlyList<LogsPhase> Phases { get; } = phases;
    public List<string> Notes { get; } = [];

    public int Failed => Phases.Sum(p => p.Failed);

    private static double Mean(IEnumerable<LogsPhase> phases, Func<LogsPhase, double> figure) => phases.Select(figure).DefaultIfEmpty(double.NaN).Average();

    public double ExtraRoundTrips => Mean(On, p => p.RedisPerBuild) - Mean(Off, p => p.RedisPerBuild);

    public double CpuRatio => Mean(On, p => p.WorkerCpuMsPerBuild) / Mean(Off, p => p.WorkerCpuMsPerBuild);

    private IEnumerable<LogsPhase> On => Phases.Where(p => p.Logs);
    private IEnumerable<LogsPhase> Off => Phases.Where(p => !p.Logs);

    public string Table()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"log store off vs on: {options.LogsCompare} round(s), each a fresh worker child per setting, {options.Warmup} warm-up builds, then {options.Builds} builds at once (measured); Worker:Slots {options.Slots}");
        sb.AppendLine("round logs | builds/s | Redis round trips/build | commands sent/build | Redis commands executed/build | worker CPU ms/build | worker alloc KiB/build | log stored per build");
        foreach (var p in Phases)
        {
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"{p.Round,5} {(p.Logs ? "on " : "off")}  | {p.BuildsPerSecond,8:F0} | {p.RedisPerBuild,23:F2} | {p.RedisCommandsPerBuild,19:F2} | {p.RedisServerPerBuild,29:F2} | {p.WorkerCpuMsPerBuild,19:F2} | {p.WorkerAllocatedPerBuild / 1024,22:F0} | {p.LogLinesPerBuild:F1} lines, {p.LogBytesPerBuild:F0} bytes"));
        }
        sb.AppendLine();
        foreach (var p in Phases)
        {
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"round {p.Round} logs {(p.Logs ? "on" : "off")}: Kubernetes API requests {p.ApiPerBuild:F2}; " +
                $"Redis round trips {p.Redis.RoundTripsDetail(p.Builds)}"));
            sb.AppendLine(CultureInfo.InvariantCulture, $"    commands sent {RedisProfile.PerBuild(p.Redis.Breakdown, p.Builds)}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"    executed {p.RedisServerBreakdown}");
            sb.AppendLine(CultureInfo.InvariantCulture, $"    CPU per build: {string.Join(", ", p.Cpu.Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Name} {c.MsPerUnit:F2} ms")))}");
        }
        sb.AppendLine();
        var extraCommands = Mean(On, p => p.RedisCommandsPerBuild) - Mean(Off, p => p.RedisCommandsPerBuild);
        var extraServer = Mean(On, p => p.RedisServerPerBuild) - Mean(Off, p => p.RedisServerPerBuild);
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"mean off -> on: Redis round trips {Mean(Off, p => p.RedisPerBuild):F2} -> {Mean(On, p => p.RedisPerBuild):F2} per build ({ExtraRoundTrips:+0.00;-0.00}; target <= +{MaxExtraRoundTrips:F0}): {Verdict(ExtraRoundTrips <= MaxExtraRoundTrips)}"));
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"               Redis commands sent {Mean(Off, p => p.RedisCommandsPerBuild):F2} -> {Mean(On, p => p.RedisCommandsPerBuild):F2} per build ({extraCommands:+0.00;-0.00})"));
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"               Redis commands executed {Mean(Off, p => p.RedisServerPerBuild):F2} -> {Mean(On, p => p.RedisServerPerBuild):F2} per build ({extraServer:+0.00;-0.00})"));
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"               worker CPU {Mean(Off, p => p.WorkerCpuMsPerBuild):F2} -> {Mean(On, p => p.WorkerCpuMsPerBuild):F2} ms per build ({(CpuRatio - 1) * 100:+0.0;-0.0}%; target <= +{MaxExtraCpu * 100:F0}%): {Verdict(CpuRatio <= 1 + MaxExtraCpu)}"));
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"               worker allocated {Mean(Off, p => p.WorkerAllocatedPerBuild) / 1024:F0} -> {Mean(On, p => p.WorkerAllocatedPerBuild) / 1024:F0} KiB per build; builds/s {Mean(Off, p => p.BuildsPerSecond):F0} -> {Mean(On, p => p.BuildsPerSecond):F0}"));
        var offCpu = Off.Select(p => p.WorkerCpuMsPerBuild).ToList();
        var onCpu = On.Select(p => p.WorkerCpuMsPerBuild).ToList();
        if (offCpu.Count > 1)
        {
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"               noise: worker CPU per build off {offCpu.Min():F2}-{offCpu.Max():F2} ms, on {onCpu.Min():F2}-{onCpu.Max():F2} ms over the rounds"));
        }
        var pairs = Phases.GroupBy(p => p.Round).Where(g => g.Count() == 2)
            .Select(g => (Round: g.Key, Diff: g.Single(p => p.Logs).WorkerCpuMsPerBuild / g.Single(p => !p.Logs).WorkerCpuMsPerBuild - 1)).ToList();
        if (pairs.Count > 0)
        {
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"               worker CPU on vs off within each round: {string.Join(", ", pairs.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Round}: {p.Diff * 100:+0;-0}%")))}"));
        }
        sb.AppendLine(CultureInfo.InvariantCulture, $"builds not succeeded: {Failed}; events for unknown builds: {unknownEvents}");
        foreach (var note in Notes)
        {
            sb.AppendLine("note: " + note);
        }
        return sb.ToString();
    }

    private static string Verdict(bool pass) => pass ? "PASS" : "MISS";
}
