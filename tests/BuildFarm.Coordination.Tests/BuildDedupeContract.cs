using BuildFarm.Coordination.InMemory;
using BuildFarm.Coordination.Redis;
using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Coordination.Tests;

/// <summary>The behaviour every <see cref="IBuildDedupe"/> must have; run against Redis and in process.</summary>
public abstract class BuildDedupeContract
{
    private const string Key = "6f1c0e5b2d9a8c7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f";
    private const string Digest = "sha256:9f2e4d6c8b0a1f3e5d7c9b1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e";
    private static readonly TimeSpan Ttl = TimeSpan.FromMilliseconds(400);
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);

    protected abstract (IBuildDedupe Dedupe, IExpiry Expiry) Create();

    [Fact]
    public async Task Claim_FirstBuild_ClaimsAndLaterBuildsSeeItInFlight()
    {
        var (dedupe, _) = Create();

        var first = await dedupe.ClaimAsync(Key, "build-a", Long, CancellationToken.None);
        var second = await dedupe.ClaimAsync(Key, "build-b", Long, CancellationToken.None);

        Assert.Equal(new DedupeClaim(DedupeState.Claimed, "build-a", null), first);
        Assert.Equal(new DedupeClaim(DedupeState.InFlight, "build-a", null), second);
    }

    [Fact]
    public async Task Claim_RedeliveredSameBuild_KeepsItsClaim()
    {
        var (dedupe, _) = Create();
        await dedupe.ClaimAsync(Key, "build-a", Long, CancellationToken.None);

        var again = await dedupe.ClaimAsync(Key, "build-a", Long, CancellationToken.None);

        Assert.Equal(DedupeState.Claimed, again.State);
    }

    [Fact]
    public async Task Complete_ThenClaim_ReturnsTheKnownDigest()
    {
        var (dedupe, _) = Create();
        await dedupe.ClaimAsync(Key, "build-a", Long, CancellationToken.None);

        Assert.True(await dedupe.CompleteAsync(Key, "build-a", Digest, Long, CancellationToken.None));
        var later = await dedupe.ClaimAsync(Key, "build-b", Long, CancellationToken.None);

        Assert.Equal(new DedupeClaim(DedupeState.Completed, "build-a", Digest), later);
    }

    [Fact]
    public async Task Complete_ByABuildThatLostItsClaim_DoesNotOverwrite()
    {
        var (dedupe, _) = Create();
        await dedupe.ClaimAsync(Key, "build-a", Long, CancellationToken.None);

        Assert.False(await dedupe.CompleteAsync(Key, "build-b", Digest, Long, CancellationToken.None));
        Assert.Equal(DedupeState.InFlight, (await dedupe.ClaimAsync(Key, "build-c", Long, CancellationToken.None)).State);
    }

    [Fact]
    public async Task Abandon_LetsTheNextIdenticalBuildRun()
    {
        var (dedupe, _) = Create();
        await dedupe.ClaimAsync(Key, "build-a", Long, CancellationToken.None);
        await dedupe.AbandonAsync(Key, "build-b", CancellationToken.None);
        Assert.Equal(DedupeState.InFlight, (await dedupe.ClaimAsync(Key, "build-c", Long, CancellationToken.None)).State);

        await dedupe.AbandonAsync(Key, "build-a", CancellationToken.None);

        Assert.Equal(DedupeState.Claimed, (await dedupe.ClaimAsync(Key, "build-c", Long, CancellationToken.None)).State);
    }

    [Fact]
    public async Task InFlightClaim_OfADeadWorker_Expires()
    {
        var (dedupe, expiry) = Create();
        await dedupe.ClaimAsync(Key, "build-dead", Ttl, CancellationToken.None);

        await expiry.AssertAfterAsync(Ttl, async () =>
            (await dedupe.ClaimAsync(Key, "build-next", Long, CancellationToken.None)).State == DedupeState.Claimed);

        Assert.False(await dedupe.RenewAsync(Key, "build-dead", Long, CancellationToken.None));
        Assert.True(await dedupe.RenewAsync(Key, "build-next", Long, CancellationToken.None));
    }

    [Fact]
    public async Task Claim_RacingIdenticalBuilds_ExactlyOneClaims()
    {
        var (dedupe, _) = Create();

        var claims = await Task.WhenAll(Enumerable.Range(0, 20)
            .Select(i => dedupe.ClaimAsync(Key, $"build-{i}", Long, CancellationToken.None)));

        var winner = Assert.Single(claims, c => c.State == DedupeState.Claimed);
        Assert.All(claims.Where(c => c.State != DedupeState.Claimed), c => Assert.Equal(winner.BuildId, c.BuildId));
    }
}

[NeedsServer(Server.Redis)]
public sealed class RedisBuildDedupeTests : BuildDedupeContract
{
    protected override (IBuildDedupe, IExpiry) Create() =>
        (new RedisBuildDedupe(TestRedis.Multiplexer, new RedisKeys(TestRedis.UniquePrefix())), new RealExpiry());
}

public sealed class InMemoryBuildDedupeTests : BuildDedupeContract
{
    protected override (IBuildDedupe, IExpiry) Create()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-28T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        return (new InMemoryBuildDedupe(time), new FakeExpiry(time));
    }
}
