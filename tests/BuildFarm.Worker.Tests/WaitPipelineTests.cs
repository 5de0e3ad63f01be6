using BuildFarm.Worker.Options;
using BuildFarm.Worker.Resilience;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Polly;
using Polly.Registry;

namespace BuildFarm.Worker.Tests;

/// <summary>The worker's waits (lock, slot, identical build, full quota) run through named Polly pipelines on the
/// worker's <see cref="TimeProvider"/>: driven here by a <see cref="FakeTimeProvider"/>, no simulator, no real waiting.</summary>
public sealed class WaitPipelineTests : IDisposable
{
    private static readonly TimeSpan Min = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan Max = TimeSpan.FromSeconds(1);

    private readonly CountingTime _time = new();
    private readonly ServiceProvider _services;

    public WaitPipelineTests()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<TimeProvider>(_time);
        services.AddOptions<WorkerOptions>().Configure(o =>
        {
            o.WaitPollMin = Min;
            o.WaitPollMax = Max;
        });
        services.AddOptions<KubernetesOptions>();
        services.AddWorkerPipelines();
        _services = services.BuildServiceProvider();
    }

    public void Dispose() => _services.Dispose();

    private ResiliencePipeline Pipeline(string name) => _services.GetRequiredService<ResiliencePipelineProvider<string>>().GetPipeline(name);

    [Theory]
    [InlineData(0, 200)]
    [InlineData(1, 400)]
    [InlineData(2, 800)]
    [InlineData(3, 1000)]
    [InlineData(100, 1000)]
    [InlineData(int.MaxValue, 1000)]
    public void PollDelay_DoublesFromMinUpToMax(int retry, int expectedMilliseconds) =>
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMilliseconds), WorkerPipelines.PollDelay(retry, Min, Max));

    [Fact]
    public async Task Poll_WaitsMinThenDoublesUpToMax_UntilDone()
    {
        var calls = 0;
        // On the thread pool: the test thread blocks in WaitFor/AssertStays, so the pipeline's continuations must not
        // queue behind it on the test framework's synchronisation context.
        var wait = Task.Run(() => Pipeline(WorkerPipelines.Poll).UntilAsync(_ =>
        {
            var call = Interlocked.Increment(ref calls);
            return Task.FromResult(new Polled<int>(call, call == 6));
        }, CancellationToken.None));

        // The first poll at once, then waits of 200, 400, 800, 1000 (capped) and 1000 ms.
        WaitFor(() => Volatile.Read(ref calls) == 1);
        var expected = 1;
        foreach (var gap in new[] { 200, 400, 800, 1000, 1000 })
        {
            WaitFor(() => _time.Timers >= expected); // the wait has begun: advancing now cannot miss it
            _time.Advance(TimeSpan.FromMilliseconds(gap - 1));
            AssertStays(() => Volatile.Read(ref calls) == expected);
            _time.Advance(TimeSpan.FromMilliseconds(1));
            expected++;
            WaitFor(() => Volatile.Read(ref calls) == expected);
        }
        Assert.Equal(6, await wait.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task Poll_CancelledWhileWaiting_ThrowsOperationCanceled_AndPollsNoMore()
    {
        using var cts = new CancellationTokenSource();
        var calls = 0;
        var wait = Task.Run(() => Pipeline(WorkerPipelines.Poll).UntilAsync(_ =>
        {
            Interlocked.Increment(ref calls);
            return Task.FromResult(new Polled<int>(0, false));
        }, cts.Token));
        WaitFor(() => Volatile.Read(ref calls) == 1);

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(1, Volatile.Read(ref calls));
    }

    [Fact]
    public async Task Poll_AnExceptionIsNotRetried()
    {
        var calls = 0;
        var wait = Pipeline(WorkerPipelines.Poll).UntilAsync<int>(_ =>
        {
            Interlocked.Increment(ref calls);
            throw new InvalidOperationException("redis down");
        }, CancellationToken.None);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => wait);
        Assert.Equal("redis down", error.Message);
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task QuotaWait_JittersEachWaitToHalfOrMoreOfThePollDelay()
    {
        var calls = 0;
        var wait = Task.Run(() => Pipeline(WorkerPipelines.QuotaWait).UntilAsync(_ =>
        {
            var call = Interlocked.Increment(ref calls);
            return Task.FromResult(new Polled<int>(call, call == 4));
        }, CancellationToken.None));

        WaitFor(() => Volatile.Read(ref calls) == 1);
        var expected = 1;
        foreach (var gap in new[] { 200, 400, 800 })
        {
            // Never sooner than half the delay, never later than all of it.
            WaitFor(() => _time.Timers >= expected);
            _time.Advance(TimeSpan.FromMilliseconds((gap / 2) - 1));
            AssertStays(() => Volatile.Read(ref calls) == expected);
            _time.Advance(TimeSpan.FromMilliseconds((gap / 2) + 1));
            expected++;
            WaitFor(() => Volatile.Read(ref calls) == expected);
        }
        Assert.Equal(4, await wait.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    /// <summary>A fake clock that counts the timers its waits create, so a test advances only once a wait has begun.</summary>
    private sealed class CountingTime : FakeTimeProvider
    {
        private int _timers;

        public int Timers => Volatile.Read(ref _timers);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            // Counted once the timer exists: counted before, a test could advance the clock in between and the timer,
            // created after the advance, would wait for time that never comes.
            var timer = base.CreateTimer(callback, state, dueTime, period);
            Interlocked.Increment(ref _timers);
            return timer;
        }
    }

    private static void WaitFor(Func<bool> condition) =>
        Assert.True(SpinWait.SpinUntil(condition, TimeSpan.FromSeconds(5)), "condition not reached within 5 s");

    /// <summary>The fake clock fired nothing due: any continuation already queued would run within this short grace.</summary>
    private static void AssertStays(Func<bool> condition) =>
        Assert.False(SpinWait.SpinUntil(() => !condition(), TimeSpan.FromMilliseconds(50)), "changed before its time");
}
