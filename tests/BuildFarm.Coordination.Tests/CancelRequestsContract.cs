using BuildFarm.Coordination.InMemory;
using BuildFarm.Coordination.Redis;
using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Coordination.Tests;

/// <summary>The behaviour every <see cref="ICancelRequests"/> must have; run against Redis and in process.</summary>
public abstract class CancelRequestsContract
{
    private static readonly TimeSpan Ttl = TimeSpan.FromMilliseconds(400);
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);

    protected abstract (ICancelRequests Requests, IExpiry Expiry) Create();

    [Fact]
    public async Task Find_NothingRequested_Null()
    {
        var (requests, _) = Create();

        Assert.Null(await requests.FindAsync("build-a", CancellationToken.None));
    }

    [Fact]
    public async Task Request_ThenFind_ReturnsTheRequester_OnlyForThatBuild()
    {
        var (requests, _) = Create();

        await requests.RequestAsync("build-a", "alice", Long, CancellationToken.None);

        Assert.Equal(new CancelRequest("alice"), await requests.FindAsync("build-a", CancellationToken.None));
        Assert.Null(await requests.FindAsync("build-b", CancellationToken.None));
    }

    [Fact]
    public async Task Request_Twice_FirstRequesterKept_NullRequesterAllowed()
    {
        var (requests, _) = Create();

        await requests.RequestAsync("build-a", "alice", Long, CancellationToken.None);
        await requests.RequestAsync("build-a", "bob", Long, CancellationToken.None);
        await requests.RequestAsync("build-b", null, Long, CancellationToken.None);

        Assert.Equal(new CancelRequest("alice"), await requests.FindAsync("build-a", CancellationToken.None));
        Assert.Equal(new CancelRequest(null), await requests.FindAsync("build-b", CancellationToken.None));
    }

    [Fact]
    public async Task Request_AfterTtl_Expires()
    {
        var (requests, expiry) = Create();

        await requests.RequestAsync("build-a", "alice", Ttl, CancellationToken.None);

        await expiry.AssertAfterAsync(Ttl, async () => await requests.FindAsync("build-a", CancellationToken.None) is null);
    }
}

[NeedsServer(Server.Redis)]
public sealed class RedisCancelRequestsTests : CancelRequestsContract
{
    protected override (ICancelRequests, IExpiry) Create() =>
        (new RedisCancelRequests(TestRedis.Multiplexer, new RedisKeys(TestRedis.UniquePrefix())), new RealExpiry());
}

public sealed class InMemoryCancelRequestsTests : CancelRequestsContract
{
    protected override (ICancelRequests, IExpiry) Create()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-28T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        return (new InMemoryCancelRequests(time), new FakeExpiry(time));
    }
}
