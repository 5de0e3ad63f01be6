using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using BuildFarm.Messaging.Tracing;
using StackExchange.Redis;
using StackExchange.Redis.Profiling;

namespace BuildFarm.WorkerLoad;

/// <summary>
/// Latency-serial Redis round trips (issue 17's guard rail "≤ 8 Redis round trips per build"), from the client's own
/// timings of each command: pure functions, checked by <see cref="SelfCheck"/> at every start of the generator.
/// </summary>
public static class RoundTrips
{
    /// <summary>
    /// How many round trips one caller waited for, given each command's [sent, answered] interval (any one clock, in
    /// ticks): commands whose intervals overlap were in flight together and share a round trip; a new round trip starts
    /// with a command sent once every earlier command was answered. Commands are taken in the order they were sent;
    /// an interval whose answer precedes its send (a command never sent) counts as the instant it was sent.
    /// </summary>
    public static int Count(IEnumerable<(long Sent, long Answered)> commands) => Group([.. commands]).Count;

    /// <summary>The round trips of <see cref="Count"/>, each the indices (into <paramref name="commands"/>) of its commands in the order sent.</summary>
    public static IReadOnlyList<IReadOnlyList<int>> Group(IReadOnlyList<(long Sent, long Answered)> commands)
    {
        ArgumentNullException.ThrowIfNull(commands);
        var trips = new List<IReadOnlyList<int>>();
        List<int>? trip = null;
        var answered = long.MinValue;
        foreach (var i in Enumerable.Range(0, commands.Count).OrderBy(i => commands[i].Sent))
        {
            var (sent, end) = commands[i];
            if (trip is null || sent >= answered)
            {
                trip = [];
                trips.Add(trip);
            }
            trip.Add(i);
            answered = Math.Max(answered, Math.Max(sent, end));
        }
        return trips;
    }

    /// <summary>A profiled command's [sent, answered] in ticks: its creation time plus the client's own stage timings
    /// (a stage the client did not reach counts as no time).</summary>
    public static (long Sent, long Answered) Interval(IProfiledCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        var sent = command.CommandCreated.Ticks + NonNegative(command.CreationToEnqueued) + NonNegative(command.EnqueuedToSending);
        return (sent, sent + NonNegative(command.SentToResponse));
    }

    /// <summary>Throws when <see cref="Count"/> miscounts a known case (the load-tests have no test project of their own).</summary>
    public static void SelfCheck()
    {
        (string Case, (long, long)[] Commands, int Expected)[] cases =
        [
            ("none", [], 0),
            ("one command", [(0, 10)], 1),
            ("four pipelined together", [(0, 10), (1, 11), (2, 12), (3, 9)], 1),
            ("two one after the other", [(0, 10), (10, 20)], 2),
            ("sent in any order", [(20, 30), (0, 10), (5, 12)], 2),
            ("a long one spans two short ones", [(0, 100), (10, 20), (30, 40)], 1),
            ("sent while an earlier one is still out", [(0, 10), (5, 30), (25, 40), (40, 50)], 2),
            ("an unsent command is an instant", [(0, 10), (20, 5), (21, 30)], 3),
        ];
        foreach (var (name, commands, expected) in cases)
        {
            var counted = Count(commands);
            if (counted != expected)
            {
                throw new InvalidOperationException($"RoundTrips.Count is wrong for '{name}': {counted}, expected {expected}");
            }
        }
        var groups = string.Join("|", Group([(30, 40), (0, 10), (2, 12), (15, 20)]).Select(g => string.Join("+", g)));
        if (groups != "1+2|3|0")
        {
            throw new InvalidOperationException($"RoundTrips.Group is wrong: {groups}, expected 1+2|3|0");
        }
    }

    private static long NonNegative(TimeSpan span) => Math.Max(0, span.Ticks);
}

/// <summary>
/// The worker's Redis commands of one measurement (the child's answer to <c>REDIS-STOP</c>): every command sent, split
/// into those issued within a build (the worker's build span, <see cref="TraceNames.BuildSpan"/>, current and not yet
/// stopped) and the shared ones (dispatcher rounds, batched ends, windowed feedback, heartbeats, probes: commands no
/// build's own flow issued), and the latency-serial round trips within each build.
/// </summary>
/// <param name="Commands">Every command sent (a script call is one, whatever it runs inside).</param>
/// <param name="BuildCommands">The commands issued within a build span.</param>
/// <param name="Builds">Build spans that issued at least one command (a build retried in place has one span per try).</param>
/// <param name="BuildRoundTrips">Σ over those spans of <see cref="RoundTrips.Count"/>.</param>
/// <param name="MaxBuildRoundTrips">The most round trips of one span.</param>
/// <param name="Spread">How many spans had how many round trips: <c>6x990,7x10</c>.</param>
/// <param name="Breakdown">Every command sent by name: <c>eval=5000,get=1000</c>.</param>
/// <param name="SharedBreakdown">The shared commands by name.</param>
/// <param name="SharedExchanges">The shared commands grouped as one caller's would be (<see cref="RoundTrips.Count"/> over all of them):
/// the fewest exchanges they can have taken, shown beside the verdict's count of one exchange per shared command.</param>
/// <param name="Sample">The round trips of one build with the most common count, in order: <c>get+eval+hmget|eval|zrem</c>.</param>
public sealed record RedisProfile(long Commands, long BuildCommands, int Builds, long BuildRoundTrips, int MaxBuildRoundTrips, string Spread, string Breakdown,
    string SharedBreakdown, int SharedExchanges, string Sample)
{
    public long SharedCommands => Commands - BuildCommands;

    /// <summary>Mean round trips within a build span (NaN without any).</summary>
    public double MeanBuildRoundTrips => Builds == 0 ? double.NaN : BuildRoundTrips / (double)Builds;

    /// <summary>
    /// Round trips a build costs: its own round trips plus the shared commands spread over the builds, each shared call
    /// counted as an exchange of its own (they are not pipelined with a build's commands).
    /// </summary>
    public double RoundTripsPerBuild(int builds) => (BuildRoundTrips + SharedCommands) / (double)builds;

    /// <summary>One line, fields separated by spaces (none of them holds one).</summary>
    public string Format() => string.Create(CultureInfo.InvariantCulture,
        $"REDIS {Commands} {BuildCommands} {Builds} {BuildRoundTrips} {MaxBuildRoundTrips} {Field(Spread)} {Field(Breakdown)} {Field(SharedBreakdown)} {SharedExchanges} {Field(Sample)}");

    public static RedisProfile Parse(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var f = line.Split(' ');
        if (f is not ["REDIS", _, _, _, _, _, _, _, _, _, _])
        {
            throw new InvalidOperationException($"the worker child's Redis profile is not understood: '{line}'");
        }
        return new RedisProfile(L(f[1]), L(f[2]), (int)L(f[3]), L(f[4]), (int)L(f[5]), Unfield(f[6]), Unfield(f[7]), Unfield(f[8]), (int)L(f[9]),
            Unfield(f[10]));

        static long L(string s) => long.Parse(s, CultureInfo.InvariantCulture);
    }

    /// <summary>Commands per build of the burst.</summary>
    public double CommandsPerBuild(int builds) => Commands / (double)builds;

    /// <summary>The shared commands per build of the burst.</summary>
    public double SharedPerBuild(int builds) => SharedCommands / (double)builds;

    /// <summary>What <see cref="RoundTripsPerBuild"/> is made of, for a table.</summary>
    public string RoundTripsDetail(int builds) => string.Create(CultureInfo.InvariantCulture,
        $"within a build mean {MeanBuildRoundTrips:F2}, max {MaxBuildRoundTrips} over {Builds} build spans ({Spread}); " +
        $"+ shared {SharedPerBuild(builds):F2} ({(SharedBreakdown.Length == 0 ? "none" : PerBuild(SharedBreakdown, builds))}; " +
        $"{SharedExchanges} exchanges at the fewest, {SharedExchanges / (double)builds:F2} per build); a build's round trips: {Sample}");

    /// <summary><c>eval=5000,get=1000</c> as per build figures: <c>eval: 5, get: 1</c>.</summary>
    public static string PerBuild(string counts, int builds)
    {
        ArgumentNullException.ThrowIfNull(counts);
        return string.Join(", ", counts.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(c => c.Split('='))
            .Select(p => string.Create(CultureInfo.InvariantCulture, $"{p[0]}: {long.Parse(p[1], CultureInfo.InvariantCulture) / (double)builds:0.##}")));
    }

    /// <summary>Counts by command name, most first: <c>eval=5000,get=1000</c>.</summary>
    public static string CountByName(IEnumerable<IProfiledCommand> commands) =>
        string.Join(",", commands.GroupBy(c => c.Command.ToLowerInvariant(), StringComparer.Ordinal).OrderByDescending(g => g.Count())
            .Select(g => $"{g.Key}={g.Count().ToString(CultureInfo.InvariantCulture)}"));

    /// <summary>The summary of the sessions: one per build span, and the shared one.</summary>
    public static RedisProfile From(IReadOnlyList<IReadOnlyList<IProfiledCommand>> builds, IReadOnlyList<IProfiledCommand> shared)
    {
        ArgumentNullException.ThrowIfNull(builds);
        ArgumentNullException.ThrowIfNull(shared);
        var spans = builds.Where(b => b.Count > 0).ToList();
        var grouped = spans.Select(b => (Commands: b, Trips: RoundTrips.Group([.. b.Select(RoundTrips.Interval)]))).ToList();
        var trips = grouped.Select(b => b.Trips.Count).ToList();
        var spread = string.Join(",", trips.GroupBy(t => t).OrderBy(g => g.Key)
            .Select(g => string.Create(CultureInfo.InvariantCulture, $"{g.Key}x{g.Count()}")));
        var buildCommands = spans.Sum(b => (long)b.Count);
        var modal = trips.GroupBy(t => t).OrderByDescending(g => g.Count()).Select(g => g.Key).FirstOrDefault();
        var sample = grouped.FirstOrDefault(b => b.Trips.Count == modal);
        var sampleText = sample.Commands is null ? "" : string.Join("|", sample.Trips.Select(t => string.Join("+", t.Select(i => sample.Commands[i].Command.ToLowerInvariant()))));
        return new RedisProfile(buildCommands + shared.Count, buildCommands, spans.Count, trips.Sum(t => (long)t), trips.DefaultIfEmpty(0).Max(), spread,
            CountByName(spans.SelectMany(b => b).Concat(shared)), CountByName(shared), RoundTrips.Count(shared.Select(RoundTrips.Interval)), sampleText);
    }

    private static string Field(string value) => value.Length == 0 ? "-" : value;

    private static string Unfield(string value) => value == "-" ? "" : value;
}

/// <summary>
/// The worker child's Redis profiler: while on, each command goes to the profiling session of the build it serves —
/// the worker's build span current on the caller's async context when StackExchange.Redis asks for a session, and not
/// yet stopped (a loop started from within a build keeps that span as its context after the build ended: its commands
/// are shared) — or to the shared session. Only the build span is sampled (propagation only, nothing recorded), so that
/// it is <see cref="Activity.Current"/> for the build's flow, and only between <see cref="Start"/> and <see cref="Stop"/>:
/// outside them the worker runs as it does unmeasured (a build already running at the start has no span: shared).
/// </summary>
public sealed class BuildRedisProfiler : IDisposable
{
    private Sessions? _sessions;

    public BuildRedisProfiler(IConnectionMultiplexer redis)
    {
        ArgumentNullException.ThrowIfNull(redis);
        redis.RegisterProfiler(Session);
    }

    public void Start()
    {
        var sessions = new Sessions();
        ActivitySource.AddActivityListener(sessions.Listener);
        Interlocked.Exchange(ref _sessions, sessions)?.Listener.Dispose();
    }

    /// <summary>Stops profiling and summarises what was profiled since <see cref="Start"/> (nothing when it was not started).</summary>
    public RedisProfile Stop()
    {
        var sessions = Interlocked.Exchange(ref _sessions, null);
        if (sessions is null)
        {
            return RedisProfile.From([], []);
        }
        sessions.Listener.Dispose();
        var builds = sessions.Builds.Values.Select(s => (IReadOnlyList<IProfiledCommand>)[.. s.FinishProfiling()]).ToList();
        return RedisProfile.From(builds, [.. sessions.Shared.FinishProfiling()]);
    }

    public void Dispose() => Interlocked.Exchange(ref _sessions, null)?.Listener.Dispose();

    private ProfilingSession? Session()
    {
        var sessions = Volatile.Read(ref _sessions);
        if (sessions is null)
        {
            return null;
        }
        for (var span = Activity.Current; span is not null; span = span.Parent)
        {
            if (span.OperationName == TraceNames.BuildSpan && span.Source.Name == TraceNames.SourceName)
            {
                return span.IsStopped ? sessions.Shared : sessions.Builds.GetOrAdd(span, static _ => new ProfilingSession());
            }
        }
        return sessions.Shared;
    }

    private sealed class Sessions
    {
        public ActivityListener Listener { get; } = new()
        {
            ShouldListenTo = source => source.Name == TraceNames.SourceName,
            Sample = (ref o) => o.Name == TraceNames.BuildSpan ? ActivitySamplingResult.PropagationData : ActivitySamplingResult.None,
        };

        public ConcurrentDictionary<Activity, ProfilingSession> Builds { get; } = new();
        public ProfilingSession Shared { get; } = new();
    }
}
