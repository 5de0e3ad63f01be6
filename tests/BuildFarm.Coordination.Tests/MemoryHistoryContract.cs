using BuildFarm.Coordination.InMemory;
using BuildFarm.Coordination.Redis;
using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Coordination.Tests;

/// <summary>The behaviour every <see cref="IMemoryHistory"/> must have; run against Redis and in process.</summary>
public abstract class MemoryHistoryContract
{
    private const long Gi = 1024L * 1024 * 1024;
    private static readonly TimeSpan Ttl = TimeSpan.FromMilliseconds(400);
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);

    protected abstract (IMemoryHistory History, IExpiry Expiry) Create();

    [Fact]
    public async Task Find_NothingLearned_Null()
    {
        var (history, _) = Create();

        Assert.Null(await history.FindAsync("registry.example.com/team/app", CancellationToken.None));
    }

    [Fact]
    public async Task Record_ThenFind_ReturnsTheFigure_OnlyForThatRepository()
    {
        var (history, _) = Create();

        await history.RecordAsync("registry.example.com/team/app", new LearnedMemory(2 * Gi, Gi), Long, CancellationToken.None);

        Assert.Equal(new LearnedMemory(2 * Gi, Gi), await history.FindAsync("registry.example.com/team/app", CancellationToken.None));
        Assert.Null(await history.FindAsync("registry.example.com/team/other", CancellationToken.None));
    }

    [Fact]
    public async Task Record_Again_ReplacesTheFigure_ADroppedRequestIsGone()
    {
        var (history, _) = Create();

        await history.RecordAsync("r.example.com/app", new LearnedMemory(2 * Gi, Gi), Long, CancellationToken.None);
        await history.RecordAsync("r.example.com/app", new LearnedMemory(4 * Gi, null), Long, CancellationToken.None);

        Assert.Equal(new LearnedMemory(4 * Gi, null), await history.FindAsync("r.example.com/app", CancellationToken.None));
    }

    [Fact]
    public async Task Record_AfterTtl_Expires()
    {
        var (history, expiry) = Create();

        await history.RecordAsync("r.example.com/app", new LearnedMemory(2 * Gi, Gi), Ttl, CancellationToken.None);

        await expiry.AssertAfterAsync(Ttl, async () => await history.FindAsync("r.example.com/app", CancellationToken.None) is null);
    }

    [Fact]
    public async Task BadArguments_AreRefused_NamingTheProblem()
    {
        var (history, _) = Create();

        var tooLong = new string('a', LearnedMemory.MaxRepositoryLength + 1);
        var e = await Assert.ThrowsAsync<ArgumentException>(() => history.FindAsync(tooLong, CancellationToken.None));
        Assert.Contains("over the limit", e.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => history.RecordAsync("r/app", new LearnedMemory(0, null), Long, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(
            () => history.RecordAsync("r/app", new LearnedMemory(LearnedMemory.MaxBytes + 1, null), Long, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => history.RecordAsync("r/app", new LearnedMemory(Gi, null), TimeSpan.Zero, CancellationToken.None));
    }
}

[NeedsServer(Server.Redis)]
public sealed class RedisMemoryHistoryTests : MemoryHistoryContract
{
    protected override (IMemoryHistory, IExpiry) Create() =>
        (new RedisMemoryHistory(TestRedis.Multiplexer, new RedisKeys(TestRedis.UniquePrefix())), new RealExpiry());

    [Fact]
    public async Task Find_AFieldThatIsNotAFigure_IsIgnored()
    {
        var keys = new RedisKeys(TestRedis.UniquePrefix());
        var history = new RedisMemoryHistory(TestRedis.Multiplexer, keys);
        await TestRedis.Multiplexer.GetDatabase().HashSetAsync(keys.Memory("r/app"), "limit", "lots");

        Assert.Null(await history.FindAsync("r/app", CancellationToken.None));
    }
}

public sealed class InMemoryMemoryHistoryTests : MemoryHistoryContract
{
    protected override (IMemoryHistory, IExpiry) Create()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-28T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        return (new InMemoryMemoryHistory(time), new FakeExpiry(time));
    }
}
