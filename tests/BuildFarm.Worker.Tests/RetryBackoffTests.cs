using BuildFarm.Worker.Builds;

namespace BuildFarm.Worker.Tests;

public sealed class RetryBackoffTests
{
    [Theory]
    [InlineData(1, 0.0, 1000)]
    [InlineData(1, 0.999, 1999)]
    [InlineData(2, 0.0, 2000)]
    [InlineData(3, 0.5, 6000)]
    [InlineData(6, 0.0, 30000)]   // 64 s capped at 60 s, half fixed
    [InlineData(30, 0.0, 30000)]
    public void Delay_ExponentialCappedWithEqualJitter_Expected(int attempt, double jitter, int expectedMilliseconds)
    {
        var delay = RetryBackoff.Delay(attempt, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(60), jitter);
        Assert.Equal(expectedMilliseconds, delay.TotalMilliseconds, 0);
    }

    [Fact]
    public void Delay_NeverBelowHalfNorAboveCap()
    {
        var random = new Random(3);
        for (var attempt = 1; attempt <= 12; attempt++)
        {
            var exponential = Math.Min(2000 * Math.Pow(2, attempt - 1), 60000);
            var delay = RetryBackoff.Delay(attempt, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(60), random.NextDouble()).TotalMilliseconds;
            Assert.InRange(delay, exponential / 2, exponential);
        }
    }

    [Theory]
    [InlineData(0, 0.5)]
    [InlineData(1, 1.0)]
    [InlineData(1, -0.1)]
    public void Delay_BadArguments_Throw(int attempt, double jitter) =>
        Assert.ThrowsAny<ArgumentOutOfRangeException>(() => RetryBackoff.Delay(attempt, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), jitter));
}
