using BuildFarm.Contracts;
using BuildFarm.Coordination.Adaptive;
using BuildFarm.Kaniko;
using BuildFarm.Kaniko.Logs;
using BuildFarm.Worker.Options;
using BuildFarm.Worker.Scheduling;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Worker.Tests;

/// <summary>The worker's side of the adaptive registry limits: what an attempt reports, the window exchange, and a
/// congested simulated registry bringing its limit down.</summary>
public sealed class RegistryLimitTests : IDisposable
{
    private readonly ServiceProvider _meters = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-12-05T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));

    public void Dispose() => _meters.Dispose();

    private RegistryLimitFeedback Feedback(IRegistryLimits limits, bool adaptive = true) => new(limits,
        Microsoft.Extensions.Options.Options.Create(new WorkerOptions { RegistrySlotLimit = 20, RegistrySlotFloor = 2, AdaptiveRegistryLimit = adaptive }),
        _time, _meters.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), NullLogger<RegistryLimitFeedback>.Instance);

    private static KanikoLogAnalysis PushResets(int n) => new() { Resets = new Dictionary<KanikoPhase, int> { [KanikoPhase.Push] = n } };

    [Fact]
    public async Task PushResets_DecreaseTheLimit_AfterTheWindow_CleanBuildsGrowItBack()
    {
        var feedback = Feedback(new InMemoryRegistryLimits(_time));
        Assert.Equal(20, feedback.Current("ghcr.io"));

        feedback.Report("ghcr.io", PushResets(2), succeeded: true, failureReason: null);
        Assert.Equal(20, feedback.Current("ghcr.io"));
        await feedback.FlushAsync(CancellationToken.None);
        // Nothing known about the registry yet (congested share 1): the full factor, 20 × 0.7.
        Assert.Equal(14, feedback.Current("ghcr.io"));

        for (var i = 0; i < 15; i++)
        {
            feedback.Report("ghcr.io", new KanikoLogAnalysis(), succeeded: true, failureReason: null);
        }
        await feedback.FlushAsync(CancellationToken.None);
        Assert.Equal(15, feedback.Current("ghcr.io"));
        Assert.Contains(new KeyValuePair<string, int>("ghcr.io", 15), feedback.Snapshot());
    }

    [Fact]
    public async Task RetriedPushRefusals_429Or5xx_AreCongestionToo()
    {
        var feedback = Feedback(new InMemoryRegistryLimits(_time));
        feedback.Report("ghcr.io", new KanikoLogAnalysis { Refusals = new Dictionary<KanikoPhase, int> { [KanikoPhase.Push] = 1 } }, succeeded: true, failureReason: null);
        await feedback.FlushAsync(CancellationToken.None);
        Assert.Equal(14, feedback.Current("ghcr.io"));

        // A refusal while pulling is the base image's registry's.
        feedback.Report("quay.io", new KanikoLogAnalysis { Refusals = new Dictionary<KanikoPhase, int> { [KanikoPhase.Pull] = 2 } }, succeeded: true, failureReason: null);
        await feedback.FlushAsync(CancellationToken.None);
        Assert.Equal(20, feedback.Current("quay.io"));
    }

    [Theory]
    [InlineData(FailureReasons.ConnectionReset, 14)]
    [InlineData(FailureReasons.RegistryUnavailable, 14)]
    [InlineData(FailureReasons.StepFailed, 20)]
    [InlineData(FailureReasons.PodEvicted, 20)]
    public async Task FailedAttempts_CountAsCongestionOnlyWhenTheRegistryCausedThem(string reason, int expected)
    {
        var feedback = Feedback(new InMemoryRegistryLimits(_time));
        feedback.Report("ghcr.io", null, succeeded: false, failureReason: reason);
        await feedback.FlushAsync(CancellationToken.None);
        Assert.Equal(expected, feedback.Current("ghcr.io"));
    }

    [Fact]
    public async Task PullResets_AreTheBaseRegistrys_NotTheDestinations()
    {
        var feedback = Feedback(new InMemoryRegistryLimits(_time));
        feedback.Report("ghcr.io", new KanikoLogAnalysis { Resets = new Dictionary<KanikoPhase, int> { [KanikoPhase.Pull] = 3 } }, succeeded: true, failureReason: null);
        await feedback.FlushAsync(CancellationToken.None);
        Assert.Equal(20, feedback.Current("ghcr.io"));
    }

    [Fact]
    public async Task Off_TheConfiguredLimit_NothingSent()
    {
        var store = new InMemoryRegistryLimits(_time);
        var feedback = Feedback(store, adaptive: false);
        feedback.Report("ghcr.io", PushResets(5), succeeded: false, failureReason: FailureReasons.ConnectionReset);
        await feedback.FlushAsync(CancellationToken.None);
        Assert.Equal(20, feedback.Current("ghcr.io"));
        var stored = await store.ApplyAsync(new Dictionary<string, LimitReports> { ["ghcr.io"] = default }, new AdaptiveLimitSettings { Floor = 2, Max = 20 }, CancellationToken.None);
        Assert.Equal(20, stored["ghcr.io"].Slots);
    }

    [Fact]
    public async Task StoreUnreachable_ReportsKeptForTheNextWindow_LimitUnchanged()
    {
        var store = new FlakyLimits(new InMemoryRegistryLimits(_time)) { Down = true };
        var feedback = Feedback(store);
        feedback.Report("ghcr.io", PushResets(1), succeeded: true, failureReason: null);
        await feedback.FlushAsync(CancellationToken.None);
        Assert.Equal(20, feedback.Current("ghcr.io"));

        store.Down = false;
        await feedback.FlushAsync(CancellationToken.None);
        Assert.Equal(14, feedback.Current("ghcr.io"));
    }

    [Fact]
    public void TrackedRegistries_AreBounded()
    {
        var feedback = Feedback(new InMemoryRegistryLimits(_time));
        for (var i = 0; i < RegistryLimitFeedback.MaxRegistries + 50; i++)
        {
            Assert.Equal(20, feedback.Current($"r{i}.example.com"));
        }
        Assert.Equal(RegistryLimitFeedback.MaxRegistries, feedback.Snapshot().Count);
    }

    [Fact]
    public async Task CongestedSimulatedRegistry_TheWorkersLimitComesDown()
    {
        // Capacity 2 against eight worker slots: the simulated registry resets pushes or answers 429 (half of its
        // refusals here); the limit must fall from 8.
        await using var worker = await WorkerHarness.StartAsync("""
            registries: { congested.example.com: { capacity: 2, tooManyRequests: 0.5 } }
            timings: { push: { median: 300, p95: 400 } }
            """, new Dictionary<string, string?>
        {
            ["Worker:RegistrySlotLimit"] = "8",
            ["Worker:RegistryLimitWindow"] = "00:00:00.100",
            ["Worker:RegistryLimitCooldown"] = "00:00:00",
        });
        var ids = Enumerable.Range(1, 12).Select(i => $"congested{i}").ToList();
        await Task.WhenAll(ids.Select(id => worker.PublishAsync(WorkerHarness.Command(id, WorkerHarness.Spec($"congested.example.com/team/{id}:1")))));
        foreach (var id in ids)
        {
            await worker.Events.WaitEndAsync(id, 60);
        }
        var feedback = worker.Host.Services.GetRequiredService<RegistryLimitFeedback>();
        await Eventually.UntilAsync(() => Task.FromResult(feedback.Current("congested.example.com") < 8), "the limit of the congested registry to fall below 8");
        Assert.True((await worker.StatsAsync()).Registries["congested.example.com"].Peak > 2, "the registry was pushed to above its capacity");
    }

    private sealed class FlakyLimits(IRegistryLimits inner) : IRegistryLimits
    {
        public bool Down { get; set; }

        public Task<IReadOnlyDictionary<string, AdaptiveLimitState>> ApplyAsync(IReadOnlyDictionary<string, LimitReports> reports, AdaptiveLimitSettings settings,
            CancellationToken cancellationToken) =>
            Down ? throw new InvalidOperationException("redis down") : inner.ApplyAsync(reports, settings, cancellationToken);
    }
}
