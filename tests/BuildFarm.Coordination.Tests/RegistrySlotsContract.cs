using BuildFarm.Coordination.InMemory;
using BuildFarm.Coordination.Redis;
using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Coordination.Tests;

/// <summary>The behaviour every <see cref="IRegistrySlots"/> must have; run against Redis and in process.</summary>
public abstract class RegistrySlotsContract
{
    private static readonly TimeSpan Ttl = TimeSpan.FromMilliseconds(400);
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);

    protected abstract (IRegistrySlots Slots, IExpiry Expiry) Create();

    [Fact]
    public async Task Acquire_UpToLimit_ThenRefuses()
    {
        var (slots, _) = Create();
        for (var i = 0; i < 3; i++)
        {
            Assert.NotNull(await slots.TryAcquireAsync("ghcr.io", $"build-{i}", 3, Long, CancellationToken.None));
        }

        Assert.Null(await slots.TryAcquireAsync("ghcr.io", "build-3", 3, Long, CancellationToken.None));
        Assert.Equal(3, await slots.CountAsync("ghcr.io", CancellationToken.None));
        Assert.NotNull(await slots.TryAcquireAsync("quay.io", "build-3", 3, Long, CancellationToken.None));
    }

    [Fact]
    public async Task Acquire_BySameHolder_IsReentrantAndTakesNoSecondSlot()
    {
        var (slots, _) = Create();
        Assert.NotNull(await slots.TryAcquireAsync("ghcr.io", "build-a", 2, Long, CancellationToken.None));
        Assert.NotNull(await slots.TryAcquireAsync("ghcr.io", "build-a", 2, Long, CancellationToken.None));

        Assert.Equal(1, await slots.CountAsync("ghcr.io", CancellationToken.None));
        Assert.NotNull(await slots.TryAcquireAsync("ghcr.io", "build-b", 2, Long, CancellationToken.None));
    }

    [Fact]
    public async Task Release_FreesASlot()
    {
        var (slots, _) = Create();
        var a = await slots.TryAcquireAsync("ghcr.io", "build-a", 1, Long, CancellationToken.None);
        Assert.NotNull(a);
        Assert.Null(await slots.TryAcquireAsync("ghcr.io", "build-b", 1, Long, CancellationToken.None));

        await slots.ReleaseAsync(a, CancellationToken.None);

        Assert.NotNull(await slots.TryAcquireAsync("ghcr.io", "build-b", 1, Long, CancellationToken.None));
        Assert.False(await slots.RenewAsync(a, Long, CancellationToken.None));
    }

    [Fact]
    public async Task Slot_OfADeadHolder_ExpiresAndIsReused()
    {
        var (slots, expiry) = Create();
        var dead = await slots.TryAcquireAsync("ghcr.io", "build-dead", 1, Ttl, CancellationToken.None);
        Assert.NotNull(dead);

        await expiry.AssertAfterAsync(Ttl, async () =>
            await slots.TryAcquireAsync("ghcr.io", "build-next", 1, Long, CancellationToken.None) is not null);

        Assert.False(await slots.RenewAsync(dead, Long, CancellationToken.None));
        Assert.Equal(1, await slots.CountAsync("ghcr.io", CancellationToken.None));
    }

    [Fact]
    public async Task Renew_KeepsTheSlot()
    {
        var (slots, _) = Create();
        var lease = await slots.TryAcquireAsync("ghcr.io", "build-a", 1, Long, CancellationToken.None);
        Assert.NotNull(lease);

        Assert.True(await slots.RenewAsync(lease, Long, CancellationToken.None));
        Assert.Null(await slots.TryAcquireAsync("ghcr.io", "build-b", 1, Long, CancellationToken.None));
    }

    [Fact]
    public async Task Acquire_RacingHolders_NeverExceedsLimit()
    {
        var (slots, _) = Create();
        var attempts = Enumerable.Range(0, 60)
            .Select(i => slots.TryAcquireAsync("docker.io", $"build-{i}", 7, Long, CancellationToken.None));

        var results = await Task.WhenAll(attempts);

        Assert.Equal(7, results.Count(r => r is not null));
        Assert.Equal(7, await slots.CountAsync("docker.io", CancellationToken.None));
    }

    [Fact]
    public async Task Acquire_ZeroLimit_IsRejected()
    {
        var (slots, _) = Create();

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            slots.TryAcquireAsync("ghcr.io", "build-a", 0, Long, CancellationToken.None));
    }
}

[NeedsServer(Server.Redis)]
public sealed class RedisRegistrySlotsTests : RegistrySlotsContract
{
    protected override (IRegistrySlots, IExpiry) Create() =>
        (new RedisRegistrySlots(TestRedis.Multiplexer, new RedisKeys(TestRedis.UniquePrefix())), new RealExpiry());
}

public sealed class InMemoryRegistrySlotsTests : RegistrySlotsContract
{
    protected override (IRegistrySlots, IExpiry) Create()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-28T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        return (new InMemoryRegistrySlots(time), new FakeExpiry(time));
    }
}
