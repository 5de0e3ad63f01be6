using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Coordination.Tests;

/// <summary>How a contract test lets a lease run out: fake time in process, real time against Redis.</summary>
public interface IExpiry
{
    /// <summary>Lets <paramref name="ttl"/> pass, then asserts that <paramref name="condition"/> holds (within a deadline for real time).</summary>
    Task AssertAfterAsync(TimeSpan ttl, Func<Task<bool>> condition);
}

public sealed class FakeExpiry(FakeTimeProvider time) : IExpiry
{
    public async Task AssertAfterAsync(TimeSpan ttl, Func<Task<bool>> condition)
    {
        Assert.False(await condition(), "the condition held before the lease expired");
        time.Advance(ttl + TimeSpan.FromMilliseconds(1));
        Assert.True(await condition(), "the condition did not hold after the lease expired");
    }
}

public sealed class RealExpiry : IExpiry
{
    public async Task AssertAfterAsync(TimeSpan ttl, Func<Task<bool>> condition)
    {
        var started = DateTimeOffset.UtcNow;
        var deadline = started + ttl + TimeSpan.FromSeconds(5);
        while (!await condition())
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, $"the condition did not hold within {ttl} + 5 s");
            await Task.Delay(20);
        }
        // Redis expires keys with millisecond precision; allow a little clock granularity.
        Assert.True(DateTimeOffset.UtcNow - started >= ttl - TimeSpan.FromMilliseconds(50),
            "the condition held before the lease could have expired");
    }
}
