using BuildFarm.Coordination.Adaptive;
using BuildFarm.Coordination.Redis;
using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Coordination.Tests;

/// <summary>What every <see cref="IRegistryLimits"/> does: shared between workers, atomic per window.</summary>
public abstract class RegistryLimitsContract
{
    protected static readonly AdaptiveLimitSettings Settings = new() { Floor = 2, Max = 16, DecreaseFactor = 0.5, Cooldown = TimeSpan.FromSeconds(30) };

    /// <summary>Two workers' views of one store.</summary>
    protected abstract (IRegistryLimits First, IRegistryLimits Second) Create();

    private static Dictionary<string, LimitReports> Reports(params (string Registry, int Clean, int Congested)[] reports) =>
        reports.ToDictionary(r => r.Registry, r => new LimitReports(r.Clean, r.Congested));

    [Fact]
    public async Task UnknownRegistry_ReadsTheMaximum()
    {
        var (limits, _) = Create();
        var states = await limits.ApplyAsync(Reports(("ghcr.io", 0, 0)), Settings, CancellationToken.None);
        Assert.Equal(16, states["ghcr.io"].Slots);
    }

    [Fact]
    public async Task CongestionReportedByOneWorker_IsTheLimitTheOtherReads()
    {
        var (first, second) = Create();
        var after = await first.ApplyAsync(Reports(("ghcr.io", 3, 1), ("quay.io", 2, 0)), Settings, CancellationToken.None);
        // The pure rule from a registry nothing is known about (share 1): 16 × (1 − 0.5 × 0.83) = 9.4.
        var expected = AdaptiveLimit.Next(AdaptiveLimit.Initial(Settings), 3, 1, DateTimeOffset.UnixEpoch, Settings);
        Assert.Equal(9, expected.Slots);
        Assert.Equal(expected.Slots, after["ghcr.io"].Slots);
        Assert.Equal(16, after["quay.io"].Slots);

        var read = await second.ApplyAsync(Reports(("ghcr.io", 0, 0)), Settings, CancellationToken.None);
        Assert.Equal(expected.Limit, read["ghcr.io"].Limit, 6);
        Assert.Equal(expected.Congestion, read["ghcr.io"].Congestion, 6);
        Assert.NotNull(read["ghcr.io"].LastDecrease);
    }

    [Fact]
    public async Task TheCongestedShare_IsSharedBetweenWorkers_AndScalesTheNextDecrease()
    {
        var (first, second) = Create();
        // Mostly clean traffic brings the share down; the next congestion then takes off only a little.
        await first.ApplyAsync(Reports(("ghcr.io", 40, 0)), Settings, CancellationToken.None);
        var after = await second.ApplyAsync(Reports(("ghcr.io", 0, 1)), Settings, CancellationToken.None);
        var expected = AdaptiveLimit.Next(AdaptiveLimit.Next(AdaptiveLimit.Initial(Settings), 40, 0, DateTimeOffset.UnixEpoch, Settings),
            0, 1, DateTimeOffset.UnixEpoch, Settings);
        Assert.Equal(expected.Congestion, after["ghcr.io"].Congestion, 6);
        Assert.Equal(expected.Limit, after["ghcr.io"].Limit, 6);
        Assert.InRange(after["ghcr.io"].Limit, 14, 15.9);
    }

    [Fact]
    public async Task CleanWindows_GrowTheLimitBack()
    {
        var (first, second) = Create();
        await first.ApplyAsync(Reports(("ghcr.io", 0, 1)), Settings, CancellationToken.None);
        await second.ApplyAsync(Reports(("ghcr.io", 8, 0)), Settings, CancellationToken.None);
        var read = await first.ApplyAsync(Reports(("ghcr.io", 0, 0)), Settings, CancellationToken.None);
        Assert.Equal(8, read["ghcr.io"].Slots);
        Assert.True(read["ghcr.io"].Limit > 8.9, $"8 clean builds grow the limit by about one (got {read["ghcr.io"].Limit})");
    }

    [Fact]
    public async Task ConcurrentWindowsOfTwoWorkers_AllCount()
    {
        var (first, second) = Create();
        await first.ApplyAsync(Reports(("ghcr.io", 0, 1)), Settings, CancellationToken.None);
        // Two workers each sending 20 windows of one clean build, at the same time: every window lands (no lost update).
        async Task Send(IRegistryLimits worker)
        {
            for (var i = 0; i < 20; i++)
            {
                await worker.ApplyAsync(Reports(("ghcr.io", 1, 0)), Settings, CancellationToken.None);
            }
        }
        await Task.WhenAll(Task.Run(() => Send(first)), Task.Run(() => Send(second)));
        var expected = new AdaptiveLimitState(8, null);
        expected = AdaptiveLimit.Next(expected, 40, 0, DateTimeOffset.UnixEpoch, Settings);
        var read = await second.ApplyAsync(Reports(("ghcr.io", 0, 0)), Settings, CancellationToken.None);
        Assert.Equal(expected.Limit, read["ghcr.io"].Limit, 6);
    }
}

[NeedsServer(Server.Redis)]
public sealed class RedisRegistryLimitsTests : RegistryLimitsContract
{
    protected override (IRegistryLimits First, IRegistryLimits Second) Create()
    {
        var keys = new RedisKeys(TestRedis.UniquePrefix());
        return (new RedisRegistryLimits(TestRedis.Multiplexer, keys, TimeProvider.System), new RedisRegistryLimits(TestRedis.Multiplexer, keys, TimeProvider.System));
    }

    /// <summary>One congested build reported for ghcr.io over what <paramref name="stored"/> puts in its hash first.</summary>
    private static async Task<(RedisKeys Keys, IReadOnlyDictionary<string, AdaptiveLimitState> States)> CongestionOverAsync(params StackExchange.Redis.HashEntry[] stored)
    {
        var keys = new RedisKeys(TestRedis.UniquePrefix());
        await TestRedis.Multiplexer.GetDatabase().HashSetAsync(keys.Limit("ghcr.io"), stored);
        var limits = new RedisRegistryLimits(TestRedis.Multiplexer, keys, TimeProvider.System);
        return (keys, await limits.ApplyAsync(new Dictionary<string, LimitReports> { ["ghcr.io"] = new(0, 1) }, Settings, CancellationToken.None));
    }

    [Fact]
    public async Task AGarbledStoredValue_ReadsAsTheMaximum()
    {
        var (_, states) = await CongestionOverAsync(new("limit", "lots"), new("v", "x"));
        Assert.Equal(8, states["ghcr.io"].Slots);
    }

    [Fact]
    public async Task AnEmptyStoredVersion_IsComparedAsRead_AndOverwritten()
    {
        var (keys, states) = await CongestionOverAsync(new("limit", "10"), new("v", ""));
        Assert.Equal(5, states["ghcr.io"].Slots);
        var stored = await TestRedis.Multiplexer.GetDatabase().HashGetAsync(keys.Limit("ghcr.io"), "v");
        Assert.Equal("1", stored.ToString());
        Assert.InRange((await TestRedis.Multiplexer.GetDatabase().KeyTimeToLiveAsync(keys.Limit("ghcr.io")))!.Value, TimeSpan.FromHours(23), TimeSpan.FromDays(1));
    }

    [Fact]
    public async Task AWindow_IsWrittenWithoutAConditionedTransaction()
    {
        // StackExchange.Redis waits for a transaction condition's replies synchronously while holding the connection's
        // write lock: every other command of the process queued behind it (the worker's 0.5–1 s latency stalls).
        await using var connection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(TestRedis.ConnectionString);
        var session = new StackExchange.Redis.Profiling.ProfilingSession();
        connection.RegisterProfiler(() => session);
        var limits = new RedisRegistryLimits(connection, new RedisKeys(TestRedis.UniquePrefix()), TimeProvider.System);
        await limits.ApplyAsync(new Dictionary<string, LimitReports> { ["ghcr.io"] = new(0, 1), ["quay.io"] = new(3, 0) }, Settings, CancellationToken.None);
        var commands = session.FinishProfiling().Select(c => c.Command).ToList();
        Assert.Contains(commands, c => c is "EVAL" or "EVALSHA");
        Assert.DoesNotContain(commands, c => c is "WATCH" or "MULTI" or "EXEC");
    }
}

public sealed class InMemoryRegistryLimitsTests : RegistryLimitsContract
{
    protected override (IRegistryLimits First, IRegistryLimits Second) Create()
    {
        var limits = new InMemoryRegistryLimits(new FakeTimeProvider(DateTimeOffset.Parse("2026-12-05T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture)));
        return (limits, limits);
    }
}
