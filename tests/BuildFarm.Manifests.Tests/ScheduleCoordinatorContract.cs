using BuildFarm.Manifests.Scheduling;
using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Manifests.Tests;

/// <summary>The same behaviour from the Redis and the in-process coordinator.</summary>
public abstract class ScheduleCoordinatorContract
{
    private static readonly DateTimeOffset Occurrence = new(2026, 11, 29, 3, 0, 0, TimeSpan.Zero);

    protected abstract IScheduleCoordinator Create();

    /// <summary>Lets a TTL run out (fake time in process, real expiry in Redis).</summary>
    protected abstract Task ExpireAsync(TimeSpan ttl);

    [Fact]
    public async Task TryLead_OneLeaderAtATime_ReentrantForTheHolder()
    {
        var coordinator = Create();

        Assert.True(await coordinator.TryLeadAsync("a", TimeSpan.FromSeconds(5), CancellationToken.None));
        Assert.False(await coordinator.TryLeadAsync("b", TimeSpan.FromSeconds(5), CancellationToken.None));
        Assert.True(await coordinator.TryLeadAsync("a", TimeSpan.FromSeconds(5), CancellationToken.None));
    }

    [Fact]
    public async Task TryLead_AfterResign_AnotherInstanceLeads()
    {
        var coordinator = Create();
        await coordinator.TryLeadAsync("a", TimeSpan.FromSeconds(30), CancellationToken.None);

        await coordinator.ResignAsync("b", CancellationToken.None); // not the holder: no effect
        Assert.False(await coordinator.TryLeadAsync("b", TimeSpan.FromSeconds(30), CancellationToken.None));
        await coordinator.ResignAsync("a", CancellationToken.None);

        Assert.True(await coordinator.TryLeadAsync("b", TimeSpan.FromSeconds(30), CancellationToken.None));
    }

    [Fact]
    public async Task TryLead_LeaseExpires_AnotherInstanceLeads()
    {
        var coordinator = Create();
        await coordinator.TryLeadAsync("a", TimeSpan.FromMilliseconds(200), CancellationToken.None);

        await ExpireAsync(TimeSpan.FromMilliseconds(200));

        Assert.True(await coordinator.TryLeadAsync("b", TimeSpan.FromSeconds(30), CancellationToken.None));
    }

    [Fact]
    public async Task LastHandled_OnlyMovesForward()
    {
        var coordinator = Create();
        Assert.Null(await coordinator.GetLastHandledAsync("base", CancellationToken.None));

        await coordinator.AdvanceLastHandledAsync("base", Occurrence, CancellationToken.None);
        await coordinator.AdvanceLastHandledAsync("base", Occurrence.AddDays(-1), CancellationToken.None);

        Assert.Equal(Occurrence, await coordinator.GetLastHandledAsync("base", CancellationToken.None));
        Assert.Null(await coordinator.GetLastHandledAsync("other", CancellationToken.None));
    }

    [Fact]
    public async Task TryClaim_OneClaimant_ThenFiredForEveryone()
    {
        var coordinator = Create();
        var ttl = TimeSpan.FromSeconds(30);

        Assert.Equal(OccurrenceClaim.Claimed, await coordinator.TryClaimAsync("base", Occurrence, "a", ttl, CancellationToken.None));
        Assert.Equal(OccurrenceClaim.HeldByOther, await coordinator.TryClaimAsync("base", Occurrence, "b", ttl, CancellationToken.None));
        Assert.Equal(OccurrenceClaim.Claimed, await coordinator.TryClaimAsync("base", Occurrence, "a", ttl, CancellationToken.None));
        Assert.Equal(OccurrenceClaim.Claimed, await coordinator.TryClaimAsync("base", Occurrence.AddDays(1), "b", ttl, CancellationToken.None));
        await coordinator.MarkFiredAsync("base", Occurrence, "a", TimeSpan.FromHours(1), CancellationToken.None);

        Assert.Equal(OccurrenceClaim.AlreadyFired, await coordinator.TryClaimAsync("base", Occurrence, "b", ttl, CancellationToken.None));
        Assert.Equal(OccurrenceClaim.AlreadyFired, await coordinator.TryClaimAsync("base", Occurrence, "a", ttl, CancellationToken.None));
    }

    [Fact]
    public async Task TryClaim_ClaimantDiedBeforeFiring_ClaimExpiresForAnother()
    {
        var coordinator = Create();
        await coordinator.TryClaimAsync("base", Occurrence, "a", TimeSpan.FromMilliseconds(200), CancellationToken.None);

        await ExpireAsync(TimeSpan.FromMilliseconds(200));

        Assert.Equal(OccurrenceClaim.Claimed, await coordinator.TryClaimAsync("base", Occurrence, "b", TimeSpan.FromSeconds(30), CancellationToken.None));
    }
}

public sealed class InMemoryScheduleCoordinatorTests : ScheduleCoordinatorContract
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero));

    protected override IScheduleCoordinator Create() => new InMemoryScheduleCoordinator(_time);

    protected override Task ExpireAsync(TimeSpan ttl)
    {
        _time.Advance(ttl + TimeSpan.FromMilliseconds(1));
        return Task.CompletedTask;
    }
}

[NeedsServer(Server.Redis)]
public sealed class RedisScheduleCoordinatorTests : ScheduleCoordinatorContract
{
    private readonly string _prefix = TestRedis.UniquePrefix();

    protected override IScheduleCoordinator Create() => new RedisScheduleCoordinator(TestRedis.Multiplexer, _prefix);

    protected override async Task ExpireAsync(TimeSpan ttl)
    {
        // Redis expires keys on its own clock: wait until no key of this test has a TTL left.
        var deadline = DateTime.UtcNow + ttl + TimeSpan.FromSeconds(10);
        var server = TestRedis.Multiplexer.GetServers()[0];
        while (true)
        {
            var live = false;
            await foreach (var key in server.KeysAsync(pattern: _prefix + "*"))
            {
                var left = await TestRedis.Multiplexer.GetDatabase().KeyTimeToLiveAsync(key);
                live |= left is not null;
            }
            if (!live)
            {
                return;
            }
            Assert.True(DateTime.UtcNow < deadline, "keys did not expire in time");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Keys_UseThePrefix()
    {
        var coordinator = new RedisScheduleCoordinator(TestRedis.Multiplexer, _prefix);
        await coordinator.TryLeadAsync("a", TimeSpan.FromSeconds(5), CancellationToken.None);

        Assert.Equal("a", (string?)await TestRedis.Multiplexer.GetDatabase().StringGetAsync(_prefix + "scheduler:leader"));
    }
}
