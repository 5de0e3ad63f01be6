using BuildFarm.Contracts;
using BuildFarm.Kaniko.Pods;

namespace BuildFarm.Kaniko.Tests.Pods;

public sealed class PodMemoryTests
{
    private const long Mi = 1024L * 1024;
    private const long Gi = 1024 * Mi;
    private static readonly BuildResources Defaults = new() { MemoryLimit = "4Gi", MemoryRequest = "1Gi" };

    [Theory]
    [InlineData("512Mi", 512 * Mi)]
    [InlineData("2Gi", 2 * Gi)]
    [InlineData("1.5Gi", 1536 * Mi)]
    [InlineData("1G", 1_000_000_000)]
    [InlineData("1500M", 1_500_000_000)]
    [InlineData("1073741824", Gi)]
    [InlineData(" 8Gi ", 8 * Gi)]
    [InlineData("1Pi", PodMemory.MaxBytes)]
    [InlineData("0.5", 1)] // rounded up to a whole byte
    public void TryParseBytes_Quantities(string text, long expected)
    {
        Assert.True(PodMemory.TryParseBytes(text, out var bytes));
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("-1Gi")]
    [InlineData("lots")]
    [InlineData("2Ei")] // above 1Pi: refused, so doubling never overflows
    [InlineData("99999999999999999999Ei")]
    [InlineData("1Xi")]
    public void TryParseBytes_NotAPositiveBoundedQuantity_False(string? text)
    {
        Assert.False(PodMemory.TryParseBytes(text, out _));
    }

    [Theory]
    [InlineData(2 * Gi, "2Gi")]
    [InlineData(1536 * Mi, "1536Mi")]
    [InlineData(3 * 1024, "3Ki")]
    [InlineData(1_000_000_000, "1000000000")]
    [InlineData(1001, "1001")]
    [InlineData(4 * 1024 * Gi, "4Ti")]
    public void Format_ShortestExactBinaryQuantity(long bytes, string expected)
    {
        Assert.Equal(expected, PodMemory.Format(bytes));
        Assert.True(PodMemory.TryParseBytes(expected, out var back));
        Assert.Equal(bytes, back);
    }

    [Fact]
    public void Of_SpecFiguresElseDefaults_NullWithoutALimit()
    {
        Assert.Equal(new PodMemory(4 * Gi, Gi), PodMemory.Of(null, Defaults));
        Assert.Equal(new PodMemory(Gi, Gi), PodMemory.Of(new BuildResources { MemoryLimit = "1Gi" }, Defaults));
        Assert.Equal(new PodMemory(4 * Gi, null), PodMemory.Of(null, new BuildResources { MemoryLimit = "4Gi" }));
        Assert.Null(PodMemory.Of(null, new BuildResources()));
    }

    [Fact]
    public void Doubled_TwiceLimitAndRequest_CappedAndRequestAtMostLimit()
    {
        Assert.Equal(new PodMemory(2 * Gi, Gi), new PodMemory(Gi, 512 * Mi).Doubled(16 * Gi));
        Assert.Equal(new PodMemory(16 * Gi, 16 * Gi), new PodMemory(12 * Gi, 10 * Gi).Doubled(16 * Gi));
        Assert.Equal(new PodMemory(2 * Gi, null), new PodMemory(Gi, null).Doubled(16 * Gi));
        Assert.Equal(new PodMemory(PodMemory.MaxBytes, PodMemory.MaxBytes), new PodMemory(PodMemory.MaxBytes - 1, PodMemory.MaxBytes - 1).Doubled(PodMemory.MaxBytes));
    }

    [Fact]
    public void Doubled_AtOrAboveTheCap_Null()
    {
        Assert.Null(new PodMemory(16 * Gi, Gi).Doubled(16 * Gi));
        Assert.Null(new PodMemory(32 * Gi, Gi).Doubled(16 * Gi));
    }

    [Fact]
    public void Starting_LearnedAboveOwn_LearnedCappedWithTheLargerRequest()
    {
        var own = new PodMemory(Gi, 512 * Mi);

        Assert.Equal(new PodMemory(2 * Gi, Gi), PodMemory.Starting(own, new PodMemory(2 * Gi, Gi), 16 * Gi));
        Assert.Equal(new PodMemory(16 * Gi, Gi), PodMemory.Starting(own, new PodMemory(64 * Gi, Gi), 16 * Gi));
        Assert.Equal(new PodMemory(2 * Gi, 512 * Mi), PodMemory.Starting(own, new PodMemory(2 * Gi, null), 16 * Gi));
        // The spec's own request above the learned limit is brought down to it.
        Assert.Equal(new PodMemory(2 * Gi, 2 * Gi), PodMemory.Starting(new PodMemory(Gi, null), new PodMemory(2 * Gi, 2 * Gi), 16 * Gi));
    }

    [Fact]
    public void Starting_OwnAtOrAboveLearned_NothingLearned_OrNoLimit_KeepsItsOwn()
    {
        Assert.Null(PodMemory.Starting(new PodMemory(8 * Gi, Gi), new PodMemory(2 * Gi, Gi), 16 * Gi));
        Assert.Null(PodMemory.Starting(new PodMemory(2 * Gi, Gi), new PodMemory(2 * Gi, Gi), 16 * Gi));
        Assert.Null(PodMemory.Starting(new PodMemory(Gi, Gi), null, 16 * Gi));
        Assert.Null(PodMemory.Starting(null, new PodMemory(2 * Gi, Gi), 16 * Gi));
        // A cap below the own limit: never lowers it.
        Assert.Null(PodMemory.Starting(new PodMemory(8 * Gi, Gi), new PodMemory(32 * Gi, Gi), 4 * Gi));
    }
}
