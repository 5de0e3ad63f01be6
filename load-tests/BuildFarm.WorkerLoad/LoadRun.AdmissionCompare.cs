using System.Globalization;
using System.Text;
using BuildFarm.Coordination.Redis;
using BuildFarm.Coordination.Scheduling;
using BuildFarm.Status.Scheduling;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using StackExchange.Redis.Profiling;

namespace BuildFarm.WorkerLoad;

/// <summary>
/// The admission comparison (<c>--admission-compare ROUNDS</c>, issue 17 benchmark 4, the guard rails): per round, a fresh
/// worker child with <c>Scheduling:Admission=false</c> and one with <c>true</c>, each given the warm-up, the burst (Kubernetes
/// API requests, Redis round trips and commands per build counted) and the latency phase at <c>--rate</c>. Admission off: builds are
/// published to the broker, as a producer does then. On: each build goes through the producers' own
/// <see cref="BuildDispatch"/> as the API's single builds do (one enqueue per build with the fast path; a build the enqueue
/// admitted at once is published by the generator, the others are released by the worker's dispatcher), over a Redis
/// connection of the generator's own whose commands are counted as the producer's.
/// </summary>
public sealed partial class LoadRun
{
    /// <summary>The tenant the admission-on phases enqueue under (one tenant, single builds: group "").</summary>
    private const string AdmissionTenant = "load";

    public async Task<AdmissionComparison> RunAdmissionCompareAsync(CancellationToken ct)
    {
        var phases = await CompareRoundsAsync(options.AdmissionCompare, AdmissionPhaseAsync,
            p => string.Create(CultureInfo.InvariantCulture,
                $"{p.BuildsPerSecond:F0} builds/s; Kubernetes API {p.ApiPerBuild:F2}, Redis round trips {p.RedisRoundTripsPerBuild:F2} " +
                $"(commands worker {p.WorkerCommandsPerBuild:F2} + producer {p.ProducerRedisPerBuild:F2}) per build; " +
                $"submit -> pod created p50 {p.P50:F1} ms, p99 {p.P99:F1} ms"), ct);
        var comparison = new AdmissionComparison(options, phases, _tracker.Unknown);
        comparison.Notes.AddRange(_notes);
        return comparison;
    }

    private async Task<AdmissionPhase> AdmissionPhaseAsync(Bench bench, int round, bool admission, CancellationToken ct)
    {
        var label = $"adm{(admission ? "on" : "off")}{round.ToString(CultureInfo.InvariantCulture)}";
        var prefix = $"bfload:{_run}:{label}:";
        await using var worker = await ChildProcess.StartAsync(
            ["--child", "worker", "--slots", Str(options.Slots), "--kubeconfig", bench.Kubeconfig, "--redis-prefix", prefix, "--child-admission", admission ? "on" : "off", .. WorkerSettingArgs()],
            serverGc: options.WorkerGc == "server", ct);
        Console.WriteLine($"[{Now()}] round {round}, Scheduling:Admission={(admission ? "true" : "false")}: worker child pid {worker.Id}; warm-up {options.Warmup} builds, " +
            $"a burst of {options.Builds}, then {options.Rate} builds/s for {options.RampSeconds} + {options.LatencySeconds} s");
        // The producer: its own connection (as an API replica has), so that its commands are counted apart from the worker's.
        using var producer = await ConnectionMultiplexer.ConnectAsync(services.Redis);
        ProfilingSession? session = null;
        producer.RegisterProfiler(() => Volatile.Read(ref session));
        // The producers' own dispatch (as the API's single builds): enqueue with the fast path, publish what it admitted.
        await using var producerServices = new ServiceCollection()
            .AddSingleton<IAdmissionStore>(new RedisAdmissionStore(producer, new RedisKeys(prefix))).BuildServiceProvider();
        var dispatch = new BuildDispatch(Options.Create(new AdmissionOptions { Admission = true }), producerServices, NullLogger<BuildDispatch>.Instance);
        _submit = admission ? (command, token) => dispatch.DispatchAsync(command, AdmissionTenant, c => bench.Bus.Publish(c, token), token) : null;
        try
        {
            if (options.Warmup > 0)
            {
                await BurstAsync(bench.Bus, options.Warmup, $"warm{label}", ct, forget: true);
            }
            var apiBefore = await ApiRequestsAsync(bench.Http, ct);
            var redisBefore = await CommandStatsAsync(bench.Redis);
            await worker.AskAsync("REDIS-START", ct);
            Volatile.Write(ref session, new ProfilingSession());
            var burst = await BurstAsync(bench.Bus, options.Builds, label, ct, forget: true);
            var producerCommands = Interlocked.Exchange(ref session, null)!.FinishProfiling().ToList();
            var workerRedis = RedisProfile.Parse(await worker.AskAsync("REDIS-STOP", ct));
            var redisAfter = await CommandStatsAsync(bench.Redis);
            var apiAfter = await ApiRequestsAsync(bench.Http, ct);
            PoolStalls.Parse(await worker.AskAsync("STALLS", ct));
            if (bench.Simulator is { } simulator)
            {
                PoolStalls.Parse(await simulator.AskAsync("STALLS", ct));
            }
            var latency = await OpenLoopAsync(bench.Bus, ct);
            var (stalls, longestStall) = PoolStalls.Parse(await worker.AskAsync("STALLS", ct));
            var (simStalls, longestSimStall) = bench.Simulator is { } sim ? PoolStalls.Parse(await sim.AskAsync("STALLS", ct)) : (0, 0);
            return new AdmissionPhase(round, admission, burst.PerSecond, burst.Failed + latency.Failed,
                Delta(apiBefore, apiAfter) / (double)options.Builds, Breakdown(apiBefore, apiAfter, options.Builds),
                workerRedis, options.Builds,
                producerCommands.Count / (double)options.Builds,
                RedisProfile.PerBuild(RedisProfile.CountByName(producerCommands), options.Builds),
                Delta(redisBefore, redisAfter) / (double)options.Builds,
                latency.P50, latency.P99, latency.Max, latency.OfferedRate, stalls, longestStall, simStalls, longestSimStall);
        }
        finally
        {
            _submit = null;
        }
    }
}

/// <summary>One setting of one round of the admission comparison; counts per build of the burst, latency of the open loop and the
/// worker's and the simulator child's thread-pool stalls during it (<see cref="WorkerLoad.PoolStalls"/>; a full blocking
/// garbage collection counts as one).</summary>
public sealed record AdmissionPhase(
    int Round,
    bool Admission,
    double BuildsPerSecond,
    int Failed,
    double ApiPerBuild,
    string ApiBreakdown,
    RedisProfile WorkerRedis,
    int Builds,
    double ProducerRedisPerBuild,
    string ProducerRedisBreakdown,
    double RedisServerPerBuild,
    double P50,
    double P99,
    double Max,
    double OfferedRate,
    int PoolStalls,
    double LongestPoolStallMs,
    int SimulatorStalls,
    double LongestSimulatorStallMs)
{
    public double WorkerCommandsPerBuild => WorkerRedis.CommandsPerBuild(Builds);

    /// <summary>The worker's round trips per build: within the build plus its shared commands (<see cref="RedisProfile.RoundTripsPerBuild"/>).</summary>
    public double WorkerRoundTripsPerBuild => WorkerRedis.RoundTripsPerBuild(Builds);

    /// <summary>The Redis commands a build costs the farm: the worker's and the producer's (the admission enqueue).</summary>
    public double RedisCommandsPerBuild => WorkerCommandsPerBuild + ProducerRedisPerBuild;

    /// <summary>
    /// The Redis round trips a build costs the farm (issue 17's guard rail): the worker's, plus the producer's commands,
    /// each an exchange of its own (one enqueue per build, from another process than the worker).
    /// </summary>
    public double RedisRoundTripsPerBuild => WorkerRoundTripsPerBuild + ProducerRedisPerBuild;
}

/// <summary>The comparison's table: every phase, then the mean with admission on beside off, the ratios and issue 17's guard rails.</summary>
public sealed class AdmissionComparison(LoadOptions options, IReadOnlyList<AdmissionPhase> phases, int unknownEvents)
{
    public const double MaxP99Ms = 50;
    public const double MaxApiPerBuild = 4;
    public const double MaxRedisPerBuild = 8;

    public IReadOnlyList<AdmissionPhase> Phases { get; } = phases;
    public List<string> Notes { get; } = [];

    public int Failed => Phases.Sum(p => p.Failed);

    private double Mean(bool admission, Func<AdmissionPhase, double> figure) =>
        Phases.Where(p => p.Admission == admission).Select(figure).DefaultIfEmpty(double.NaN).Average();

    public string Table()
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"admission off vs on: {options.AdmissionCompare} round(s), a fresh worker child per setting (Worker:Slots {options.Slots}), {options.Warmup} warm-up builds, " +
            $"a burst of {options.Builds} (counts), {options.Rate} builds/s for {options.RampSeconds} s ramp + {options.LatencySeconds} s measured (latency)");
        sb.AppendLine("Redis round trips: the worker's latency-serial round trips within each build (commands in flight together share one) + its shared " +
            "commands (outside any build) + the producer's commands, each shared or producer command one exchange; commands: every command sent (a script call is one)");
        sb.AppendLine("round admission | burst builds/s | k8s API/build | Redis round trips/build | commands worker/build | producer/build | executed/build | submit->pod p50 ms | p99 ms | max ms");
        var details = new StringBuilder();
        foreach (var p in Phases)
        {
            details.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"round {p.Round} admission {(p.Admission ? "on" : "off")}: offered {p.OfferedRate:F0}/s; Kubernetes API {p.ApiBreakdown}; " +
                $"Redis worker round trips {p.WorkerRoundTripsPerBuild:F2} ({p.WorkerRedis.RoundTripsDetail(p.Builds)}); " +
                $"worker commands {RedisProfile.PerBuild(p.WorkerRedis.Breakdown, p.Builds)}; producer {(p.ProducerRedisBreakdown is "" ? "none (publish)" : p.ProducerRedisBreakdown)}"));
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"{p.Round,5} {(p.Admission ? "on " : "off"),-9} | {p.BuildsPerSecond,14:F0} | {p.ApiPerBuild,13:F2} | {p.RedisRoundTripsPerBuild,23:F2} | {p.WorkerCommandsPerBuild,21:F2} | {p.ProducerRedisPerBuild,14:F2} | {p.RedisServerPerBuild,14:F2} | {p.P50,18:F1} | {p.P99,6:F1} | {p.Max,6:F0}"));
        }
        sb.AppendLine().Append(details).AppendLine();
        Row(sb, "Kubernetes API requests per build", p => p.ApiPerBuild, "F2", $"<= {MaxApiPerBuild:F0}", on => on <= MaxApiPerBuild);
        Row(sb, "Redis round trips within a build, worker", p => p.WorkerRedis.MeanBuildRoundTrips, "F2", "", null);
        Row(sb, "  most in one build, worker", p => p.WorkerRedis.MaxBuildRoundTrips, "F0", "", null);
        Row(sb, "Redis shared commands per build, worker", p => p.WorkerRedis.SharedPerBuild(p.Builds), "F2", "", null);
        Row(sb, "Redis commands per build, producer", p => p.ProducerRedisPerBuild, "F2", "", null);
        Row(sb, "Redis round trips per build, all", p => p.RedisRoundTripsPerBuild, "F2", $"<= {MaxRedisPerBuild:F0}", on => on <= MaxRedisPerBuild);
        Row(sb, "Redis commands sent per build, worker", p => p.WorkerCommandsPerBuild, "F2", "", null);
        Row(sb, "Redis commands sent per build, all", p => p.RedisCommandsPerBuild, "F2", "", null);
        Row(sb, "Redis commands executed per build", p => p.RedisServerPerBuild, "F2", "", null);
        Row(sb, "submit -> pod created p50 ms", p => p.P50, "F1", "", null);
        Row(sb, "submit -> pod created p99 ms", p => p.P99, "F1", $"< {MaxP99Ms:F0}", on => on < MaxP99Ms);
        Row(sb, "worker thread-pool stalls > 100 ms", p => p.PoolStalls, "F1", "", null);
        Row(sb, "  longest, ms", p => p.LongestPoolStallMs, "F0", "", null);
        Row(sb, "simulator thread-pool stalls > 100 ms", p => p.SimulatorStalls, "F1", "", null);
        Row(sb, "  longest, ms", p => p.LongestSimulatorStallMs, "F0", "", null);
        Row(sb, "burst builds/s", p => p.BuildsPerSecond, "F0", "", null);
        sb.AppendLine(CultureInfo.InvariantCulture, $"builds not succeeded: {Failed}; events for unknown builds: {unknownEvents}");
        foreach (var note in Notes)
        {
            sb.AppendLine("note: " + note);
        }
        return sb.ToString();
    }

    /// <summary>One figure: mean off, mean on, the ratio on/off, and the target's verdict on the admission-on mean.</summary>
    private void Row(StringBuilder sb, string figure, Func<AdmissionPhase, double> value, string format, string target, Func<double, bool>? pass)
    {
        var off = Mean(false, value);
        var on = Mean(true, value);
        var ratio = off == 0 ? (on == 0 ? "1.00" : "-") : (on / off).ToString("F2", CultureInfo.InvariantCulture);
        var verdict = pass is null ? "" : $"  target {target} with admission on: {(pass(on) ? "PASS" : "MISS")}";
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"mean {figure,-36}: off {off.ToString(format, CultureInfo.InvariantCulture),8}, on {on.ToString(format, CultureInfo.InvariantCulture),8}, on/off {ratio}{verdict}");
    }
}
