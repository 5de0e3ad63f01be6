using BuildFarm.Coordination.Redis;
using BuildFarm.Coordination.Scheduling;
using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Coordination.Tests;

/// <summary>What every <see cref="IImageDurations"/> does: a weighted mean per image, shared, defaulted, forgotten.</summary>
public abstract class ImageDurationsContract
{
    protected static readonly TimeSpan ShortTtl = TimeSpan.FromMilliseconds(400);

    protected static ImageDurationOptions Options(TimeSpan? ttl = null) => new() { DefaultSeconds = 90, Alpha = 0.5, Ttl = ttl ?? TimeSpan.FromDays(1) };

    /// <summary>Two workers' views of one store.</summary>
    protected abstract (IImageDurations First, IImageDurations Second, IExpiry Expiry) Create(ImageDurationOptions options);

    private static async Task<double> ExpectedAsync(IImageDurations durations, string image) =>
        (await durations.ExpectedAsync([image], CancellationToken.None))[image];

    [Fact]
    public async Task UnknownImage_ExpectsTheDefault()
    {
        var (durations, _, _) = Create(Options());
        Assert.Equal(90, await ExpectedAsync(durations, "ghcr.io/team/app"));
    }

    [Fact]
    public async Task FirstSampleIsTheMean_LaterOnesAreWeighted_InOrder_AcrossWorkers()
    {
        var (first, second, _) = Create(Options());
        await first.RecordAsync([new("ghcr.io/team/app", 100)], CancellationToken.None);
        Assert.Equal(100, await ExpectedAsync(second, "ghcr.io/team/app"));
        // 0.5·300 + 0.5·100 = 200, then 0.5·0 + 0.5·200 = 100: in the window's order.
        await second.RecordAsync([new("ghcr.io/team/app", 300), new("ghcr.io/team/app", 0)], CancellationToken.None);
        Assert.Equal(100, await ExpectedAsync(first, "ghcr.io/team/app"), 6);
    }

    [Fact]
    public async Task OneRead_AnswersEveryImageAsked()
    {
        var (durations, _, _) = Create(Options());
        await durations.RecordAsync([new("a", 10), new("b", 20), new("c", 1e9)], CancellationToken.None);
        var expected = await durations.ExpectedAsync(["a", "b", "c", "unknown", "a"], CancellationToken.None);
        Assert.Equal(4, expected.Count);
        Assert.Equal(10, expected["a"]);
        Assert.Equal(20, expected["b"]);
        Assert.Equal(ImageDurations.MaxSeconds, expected["c"]);
        Assert.Equal(90, expected["unknown"]);
    }

    [Fact]
    public async Task ConcurrentWindows_OfTwoWorkers_AllCount()
    {
        var (first, second, _) = Create(Options());
        await first.RecordAsync([new("app", 64)], CancellationToken.None);
        // Forty samples of 64 keep the mean at 64 only if none is lost or garbled; one sample of 0 would halve it.
        await Task.WhenAll(Enumerable.Range(0, 20).SelectMany(_ => new[]
        {
            first.RecordAsync([new("app", 64), new("other", 1)], CancellationToken.None),
            second.RecordAsync([new("app", 64)], CancellationToken.None),
        }));
        Assert.Equal(64, await ExpectedAsync(first, "app"), 6);
        Assert.Equal(1, await ExpectedAsync(second, "other"), 6);
    }

    [Fact]
    public async Task AMean_IsForgotten_TheTtlAfterItsLastSample()
    {
        var (durations, _, expiry) = Create(Options(ShortTtl));
        await durations.RecordAsync([new("app", 10)], CancellationToken.None);
        await expiry.AssertAfterAsync(ShortTtl, async () => await ExpectedAsync(durations, "app") == 90);
    }

    [Fact]
    public async Task TooManyImages_AreRejected()
    {
        var (durations, _, _) = Create(Options());
        var many = Enumerable.Range(0, ImageDurations.MaxImages + 1).Select(i => $"i{i}").ToList();
        await Assert.ThrowsAsync<ArgumentException>(() => durations.ExpectedAsync(many, CancellationToken.None));
    }
}

[NeedsServer(Server.Redis)]
public sealed class RedisImageDurationsTests : ImageDurationsContract
{
    protected override (IImageDurations First, IImageDurations Second, IExpiry Expiry) Create(ImageDurationOptions options)
    {
        var keys = new RedisKeys(TestRedis.UniquePrefix());
        return (new RedisImageDurations(TestRedis.Multiplexer, keys, options), new RedisImageDurations(TestRedis.Multiplexer, keys, options), new RealExpiry());
    }

    [Fact]
    public async Task AGarbledStoredValue_ReadsAsTheDefault()
    {
        var keys = new RedisKeys(TestRedis.UniquePrefix());
        await TestRedis.Multiplexer.GetDatabase().StringSetAsync($"{keys.Prefix}duration:{{app}}", "slow");
        var durations = new RedisImageDurations(TestRedis.Multiplexer, keys, Options());
        Assert.Equal(90, (await durations.ExpectedAsync(["app"], CancellationToken.None))["app"]);
    }
}

public sealed class InMemoryImageDurationsTests : ImageDurationsContract
{
    protected override (IImageDurations First, IImageDurations Second, IExpiry Expiry) Create(ImageDurationOptions options)
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-05T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var durations = new InMemoryImageDurations(options, time);
        return (durations, durations, new FakeExpiry(time));
    }
}

/// <summary>The pure parts: image keys, the mean, the options' bounds.</summary>
public sealed class ImageDurationsTests
{
    [Theory]
    [InlineData("ghcr.io/team/app:1.2", "ghcr.io/team/app")]
    [InlineData("GHCR.io/Team/App@sha256:abc", "ghcr.io/team/app")]
    [InlineData("registry:5000/team/app", "registry:5000/team/app")]
    [InlineData("registry:5000/team/app:v1@sha256:abc", "registry:5000/team/app")]
    [InlineData("  ghcr.io/a  ", "ghcr.io/a")]
    public void KeyOf_IsTheFirstDestinationsRepository(string destination, string key) =>
        Assert.Equal(key, ImageDurations.KeyOf([destination, "other.io/x:1"]));

    [Fact]
    public void KeyOf_IsBounded_AndDistinctForDistinctLongNames()
    {
        var a = ImageDurations.KeyOf(["ghcr.io/" + new string('a', 600) + "/x"]);
        var b = ImageDurations.KeyOf(["ghcr.io/" + new string('a', 600) + "/y"]);
        Assert.Equal(ImageDurations.MaxKeyLength, a.Length);
        Assert.NotEqual(a, b);
        Assert.Equal("", ImageDurations.KeyOf([]));
    }

    [Fact]
    public void Fold_IsAnExponentiallyWeightedMean()
    {
        Assert.Equal(40, ImageDurations.Fold(null, 40, 0.3));
        Assert.Equal((0.3 * 100) + (0.7 * 40), ImageDurations.Fold(40, 100, 0.3), 9);
        Assert.Equal(0, ImageDurations.Fold(null, -3, 0.3));
    }

    [Fact]
    public void Options_AreBounded()
    {
        Assert.Empty(new ImageDurationOptions().Validate());
        var bad = new ImageDurationOptions { DefaultSeconds = 0, Alpha = 0, Ttl = TimeSpan.Zero, Window = TimeSpan.FromHours(1) }.Validate();
        Assert.Equal(4, bad.Count);
        Assert.Contains(bad, e => e.StartsWith("Scheduling:Durations:Alpha", StringComparison.Ordinal));
    }
}
