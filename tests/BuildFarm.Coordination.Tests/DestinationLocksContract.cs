using BuildFarm.Coordination.InMemory;
using BuildFarm.Coordination.Redis;
using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Coordination.Tests;

/// <summary>The behaviour every <see cref="IDestinationLocks"/> must have; run against Redis and in process.</summary>
public abstract class DestinationLocksContract
{
    private static readonly TimeSpan Ttl = TimeSpan.FromMilliseconds(400);
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);

    protected abstract (IDestinationLocks Locks, IExpiry Expiry) Create();

    [Fact]
    public async Task Acquire_WhileHeldByAnother_ReturnsNull()
    {
        var (locks, _) = Create();
        var first = await locks.TryAcquireAsync("reg.example/app:1", "build-a", Long, CancellationToken.None);
        var second = await locks.TryAcquireAsync("reg.example/app:1", "build-b", Long, CancellationToken.None);

        Assert.NotNull(first);
        Assert.Null(second);
        Assert.NotNull(await locks.TryAcquireAsync("reg.example/app:2", "build-b", Long, CancellationToken.None));
    }

    [Fact]
    public async Task Acquire_BySameHolder_ReentersWithNewerTokenAndFencesOldLease()
    {
        var (locks, _) = Create();
        var first = await locks.TryAcquireAsync("reg.example/app:1", "build-a", Long, CancellationToken.None);
        var again = await locks.TryAcquireAsync("reg.example/app:1", "build-a", Long, CancellationToken.None);

        Assert.NotNull(first);
        Assert.NotNull(again);
        Assert.True(again.FencingToken > first.FencingToken);
        Assert.False(await locks.IsCurrentAsync(first, CancellationToken.None));
        Assert.True(await locks.IsCurrentAsync(again, CancellationToken.None));
        Assert.False(await locks.RenewAsync(first, Long, CancellationToken.None));
        Assert.False(await locks.ReleaseAsync(first, CancellationToken.None));
        Assert.True(await locks.IsCurrentAsync(again, CancellationToken.None));
    }

    [Fact]
    public async Task Release_LetsAnotherHolderIn_AndStaleReleaseIsANoOp()
    {
        var (locks, _) = Create();
        var first = await locks.TryAcquireAsync("reg.example/app:1", "build-a", Long, CancellationToken.None);
        Assert.NotNull(first);
        Assert.True(await locks.ReleaseAsync(first, CancellationToken.None));

        var second = await locks.TryAcquireAsync("reg.example/app:1", "build-b", Long, CancellationToken.None);
        Assert.NotNull(second);
        Assert.False(await locks.ReleaseAsync(first, CancellationToken.None));

        Assert.True(await locks.IsCurrentAsync(second, CancellationToken.None));
        Assert.True(second.FencingToken > first.FencingToken);
    }

    [Fact]
    public async Task Lease_NotRenewed_ExpiresAndFencesTheDeadHolder()
    {
        var (locks, expiry) = Create();
        var dead = await locks.TryAcquireAsync("reg.example/app:1", "build-a", Ttl, CancellationToken.None);
        Assert.NotNull(dead);
        Lease? next = null;

        await expiry.AssertAfterAsync(Ttl, async () =>
            (next = await locks.TryAcquireAsync("reg.example/app:1", "build-b", Long, CancellationToken.None)) is not null);

        Assert.False(await locks.IsCurrentAsync(dead, CancellationToken.None));
        Assert.False(await locks.RenewAsync(dead, Long, CancellationToken.None));
        Assert.True(next!.FencingToken > dead.FencingToken);
        // The dead holder's release is its fencing check: it fails and leaves the new holder's lock alone.
        Assert.False(await locks.ReleaseAsync(dead, CancellationToken.None));
        Assert.True(await locks.IsCurrentAsync(next, CancellationToken.None));
    }

    [Fact]
    public async Task Renew_BeforeExpiry_KeepsTheLock()
    {
        var (locks, _) = Create();
        var lease = await locks.TryAcquireAsync("reg.example/app:1", "build-a", Long, CancellationToken.None);
        Assert.NotNull(lease);

        Assert.True(await locks.RenewAsync(lease, Long, CancellationToken.None));
        Assert.True(await locks.IsCurrentAsync(lease, CancellationToken.None));
        Assert.Null(await locks.TryAcquireAsync("reg.example/app:1", "build-b", Long, CancellationToken.None));
    }

    [Fact]
    public async Task Acquire_RacingHolders_ExactlyOneWins()
    {
        var (locks, _) = Create();
        var attempts = Enumerable.Range(0, 40)
            .Select(i => locks.TryAcquireAsync("reg.example/app:race", $"build-{i}", Long, CancellationToken.None));

        var results = await Task.WhenAll(attempts);

        Assert.Single(results, r => r is not null);
    }
}

[NeedsServer(Server.Redis)]
public sealed class RedisDestinationLocksTests : DestinationLocksContract
{
    protected override (IDestinationLocks, IExpiry) Create() =>
        (new RedisDestinationLocks(TestRedis.Multiplexer, new RedisKeys(TestRedis.UniquePrefix())), new RealExpiry());
}

public sealed class InMemoryDestinationLocksTests : DestinationLocksContract
{
    protected override (IDestinationLocks, IExpiry) Create()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-28T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        return (new InMemoryDestinationLocks(time), new FakeExpiry(time));
    }
}
