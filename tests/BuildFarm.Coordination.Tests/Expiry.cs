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

/// <summary>Real time against Redis. Created with its store, before the test sets its lease: the lower bound is
/// measured from then, so a slow machine (a stall between setting the lease and this wait) cannot fail the test.</summary>
public sealed class RealExpiry : IExpiry
{
    private readonly DateTimeOffset _createdBeforeTheLease = DateTimeOffset.UtcNow;

    public async Task AssertAfterAsync(TimeSpan ttl, Func<Task<bool>> condition)
    {
        var deadline = DateTimeOffset.UtcNow + ttl + TimeSpan.FromSeconds(5);
        while (!await condition())
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, $"the condition did not hold within {ttl} + 5 s");
            await Task.Delay(20);
        }
        // The lease was set after this object was created, so it cannot have expired sooner than ttl after that;
        // Redis expires keys with millisecond precision: allow a little clock granularity.
        Assert.True(DateTimeOffset.UtcNow - _createdBeforeTheLease >= ttl - TimeSpan.FromMilliseconds(50),
            "the condition held before the lease could have expired");
    }
}
