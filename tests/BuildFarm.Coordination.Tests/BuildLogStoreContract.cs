using BuildFarm.Coordination.Logs;
using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Coordination.Tests;

/// <summary>The behaviour every <see cref="IBuildLogStore"/> must have; run against Redis and in process.</summary>
public abstract class BuildLogStoreContract
{
    protected static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);

    protected abstract (IBuildLogStore Store, IExpiry Expiry) Create(TimeSpan ttl);

    private IBuildLogStore Store() => Create(TimeSpan.FromMinutes(5)).Store;

    [Fact]
    public async Task Read_NothingStored_EmptyWithoutState()
    {
        var store = Store();

        var page = await store.ReadAsync("build-a", 1, 0, 100, CancellationToken.None);

        Assert.Empty(page.Lines);
        Assert.Null(page.State);
        Assert.Null(await store.GetStateAsync("build-a", 1, CancellationToken.None));
    }

    [Fact]
    public async Task Append_InBatches_ReadsInOrder_ByOffset_PerBuildAndAttempt()
    {
        var store = Store();
        var state1 = new BuildLogState(2, 20, 100, 1, 0, 0, false);
        var state2 = new BuildLogState(3, 30, 200, 2, 0, 0, true);

        await store.AppendAsync("build-a", 1, ["a", "b"], state1, CancellationToken.None);
        await store.AppendAsync("build-a", 1, ["c"], state2, CancellationToken.None);
        await store.AppendAsync("build-a", 2, ["other attempt"], state1, CancellationToken.None);

        var all = await store.ReadAsync("build-a", 1, 0, 100, CancellationToken.None);
        Assert.Equal(["a", "b", "c"], all.Lines);
        Assert.Equal(state2, all.State);
        Assert.Equal(3, all.Next);
        var page = await store.ReadAsync("build-a", 1, 1, 1, CancellationToken.None);
        Assert.Equal(["b"], page.Lines);
        Assert.Equal(2, page.Next);
        Assert.Empty((await store.ReadAsync("build-a", 1, 3, 10, CancellationToken.None)).Lines);
        Assert.Equal(["other attempt"], (await store.ReadAsync("build-a", 2, 0, 10, CancellationToken.None)).Lines);
        Assert.Null((await store.ReadAsync("build-b", 1, 0, 10, CancellationToken.None)).State);
        Assert.Equal(state2, await store.GetStateAsync("build-a", 1, CancellationToken.None));
    }

    [Fact]
    public async Task Append_StateOnly_NullTimestampKept()
    {
        var store = Store();
        var state = new BuildLogState(0, 0, null, 0, 0, 0, true);

        await store.AppendAsync("build-a", 1, [], state, CancellationToken.None);

        Assert.Equal(state, await store.GetStateAsync("build-a", 1, CancellationToken.None));
    }

    [Theory]
    [InlineData("", 1)]
    [InlineData("has space", 1)]
    [InlineData("{tag}", 1)]
    [InlineData("build-a", 0)]
    [InlineData("build-a", 1001)]
    public async Task BadIdOrAttempt_Refused(string buildId, int attempt)
    {
        var store = Store();

        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.ReadAsync(buildId, attempt, 0, 10, CancellationToken.None));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => store.AppendAsync(buildId, attempt, ["x"], BuildLogState.Empty, CancellationToken.None));
    }

    [Theory]
    [InlineData(-1, 10)]
    [InlineData(0, 0)]
    [InlineData(0, 10_001)]
    public async Task Read_OutOfBounds_Refused(long offset, int maxLines)
    {
        await Assert.ThrowsAnyAsync<ArgumentOutOfRangeException>(() => Store().ReadAsync("build-a", 1, offset, maxLines, CancellationToken.None));
    }

    [Fact]
    public async Task Append_AfterTtl_Expires()
    {
        var (store, expiry) = Create(Ttl);

        await store.AppendAsync("build-a", 1, ["a"], new BuildLogState(1, 2, null, 0, 0, 0, false), CancellationToken.None);

        await expiry.AssertAfterAsync(Ttl, async () => (await store.ReadAsync("build-a", 1, 0, 10, CancellationToken.None)).State is null);
    }
}

[NeedsServer(Server.Redis)]
public sealed class RedisBuildLogStoreTests : BuildLogStoreContract
{
    protected override (IBuildLogStore, IExpiry) Create(TimeSpan ttl) =>
        (new RedisBuildLogStore(TestRedis.Multiplexer, TestRedis.UniquePrefix("bflogtest"), ttl), new RealExpiry());
}

public sealed class InMemoryBuildLogStoreTests : BuildLogStoreContract
{
    protected override (IBuildLogStore, IExpiry) Create(TimeSpan ttl)
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-05T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        return (new InMemoryBuildLogStore(time, ttl), new FakeExpiry(time));
    }
}
