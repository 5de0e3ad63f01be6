using BuildFarm.Contracts;
using BuildFarm.Manifests.Hosting;
using BuildFarm.Manifests.Scheduling;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Manifests.Tests;

/// <summary>
/// The scheduler as a hosted service, on fake time, publishing to the MassTransit test harness. Several hosts share
/// one Redis key prefix (or one in-process coordinator) to model replicas and restarts.
/// </summary>
public sealed class ManifestSchedulerTests
{
    // base every 5 minutes; lib FROM base; app FROM lib; other unrelated.
    private const string Yaml = """
        defaults:
          context: git://github.com/acme/mono.git#main
          destinations: ["registry.example.com/acme/{name}:{short_sha}"]
        images:
          - name: base
            contextSubPath: images/base
            schedule: "*/5 * * * *"
          - name: lib
            contextSubPath: lib
            dependsOn: [{ image: base, buildArg: BASE_IMAGE }]
          - name: app
            contextSubPath: app
            dependsOn: [{ image: lib, buildArg: BASE_IMAGE }]
          - name: other
            contextSubPath: other
        """;

    private static readonly DateTimeOffset Start = new(2026, 11, 29, 2, 58, 0, TimeSpan.Zero);

    private sealed class SchedulerHost(IHost host) : IAsyncDisposable
    {
        public IHost Host { get; } = host;
        public ManifestScheduler Scheduler => Host.Services.GetRequiredService<ManifestScheduler>();
        public ITestHarness Harness => Host.Services.GetRequiredService<ITestHarness>();

        public List<SubmitBatch> Published() => [.. Harness.Published.Select<SubmitBatch>().Select(m => m.Context.Message)];

        public async ValueTask DisposeAsync()
        {
            await Host.StopAsync();
            Host.Dispose();
        }
    }

    private static async Task<SchedulerHost> StartAsync(
        FakeTimeProvider time, string instance, string? redisPrefix, IScheduleCoordinator? shared = null, MissedSchedulePolicy missed = MissedSchedulePolicy.Skip)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<TimeProvider>(time);
        if (shared is not null)
        {
            builder.Services.AddSingleton(shared);
        }
        builder.Services.AddBuildFarmScheduler(o =>
        {
            o.ManifestYaml = Yaml;
            o.InstanceId = instance;
            o.Missed = missed;
            o.RedisConnectionString = redisPrefix is null ? null : TestRedis.ConnectionString;
            o.KeyPrefix = redisPrefix ?? "unused:";
        });
        builder.Services.AddMassTransitTestHarness(x => x.SetTestTimeouts(testTimeout: TimeSpan.FromMinutes(1), testInactivityTimeout: TimeSpan.FromMilliseconds(200)));
        var host = builder.Build();
        await host.StartAsync();
        return new SchedulerHost(host);
    }

    /// <summary>The scheduler's default poll interval: every service sleeps at most this long, so each step wakes them all.</summary>
    private static readonly TimeSpan Step = new ManifestSchedulerOptions().PollInterval;

    /// <summary>Moves fake time forward a poll interval at a time until <paramref name="until"/>; after each step waits (with a
    /// real deadline) until every scheduler has polled at the new time and gone back to sleep.</summary>
    private static async Task AdvanceAsync(FakeTimeProvider time, DateTimeOffset until, params SchedulerHost[] hosts)
    {
        while (time.GetUtcNow() < until)
        {
            time.Advance(Step);
            await WaitForIdleAsync(time, hosts);
        }
    }

    private static Task WaitForIdleAsync(FakeTimeProvider time, params SchedulerHost[] hosts) =>
        Eventually.UntilAsync(() => hosts.All(h => h.Scheduler.WaitingSince >= time.GetUtcNow()), "every scheduler to poll at " + time.GetUtcNow().ToString("O"),
            TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(5));

    [NeedsServer(Server.Redis)]
    [Fact]
    public async Task TwoInstancesSharingRedis_FireEachOccurrenceExactlyOnce()
    {
        var time = new FakeTimeProvider(Start);
        var prefix = TestRedis.UniquePrefix();
        await using var a = await StartAsync(time, "a", prefix);
        await using var b = await StartAsync(time, "b", prefix);
        await WaitForIdleAsync(time, a, b);

        // 02:58 -> 03:16: occurrences at 03:00, 03:05, 03:10, 03:15.
        await AdvanceAsync(time, Start.AddMinutes(18), a, b);

        var published = a.Published().Concat(b.Published()).ToList();
        Assert.Equal(["sched-base-202611290300", "sched-base-202611290305", "sched-base-202611290310", "sched-base-202611290315"],
            published.Select(p => p.BatchId).Order(StringComparer.Ordinal));
        Assert.True(a.Scheduler.IsLeading ^ b.Scheduler.IsLeading, "exactly one instance leads");
        // A rebuilt base rebuilds what is built on it, and nothing else.
        Assert.All(published, p => Assert.Equal(["base", "lib", "app"], p.Images.Select(i => i.Name)));
        Assert.All(published, p => Assert.Equal([new BatchDependency("base", "BASE_IMAGE")], p.Images[1].DependsOn));
    }

    [NeedsServer(Server.Redis)]
    [Fact]
    public async Task LeaderStops_TheOtherTakesOver_NoOccurrenceTwiceOrLost()
    {
        var time = new FakeTimeProvider(Start);
        var prefix = TestRedis.UniquePrefix();
        var a = await StartAsync(time, "a", prefix);
        await using var b = await StartAsync(time, "b", prefix);
        await WaitForIdleAsync(time, a, b);
        await AdvanceAsync(time, Start.AddMinutes(3), a, b); // fires 03:00
        var firstLeader = a.Scheduler.IsLeading ? a : b;
        var published = a.Published().Concat(b.Published()).Select(p => p.BatchId).ToList();

        if (firstLeader == a)
        {
            await a.DisposeAsync(); // resigns: b leads at its next poll
            await AdvanceAsync(time, Start.AddMinutes(8), b); // fires 03:05
            Assert.True(b.Scheduler.IsLeading);
            published.AddRange(b.Published().Select(p => p.BatchId));
        }
        else
        {
            await AdvanceAsync(time, Start.AddMinutes(8), a, b);
            published = [.. a.Published().Concat(b.Published()).Select(p => p.BatchId)];
            await a.DisposeAsync();
        }

        // Each host has its own harness: together they published each occurrence once.
        Assert.Equal(["sched-base-202611290300", "sched-base-202611290305"], published.Order(StringComparer.Ordinal));
    }

    [NeedsServer(Server.Redis)]
    [Fact]
    public async Task Restart_DoesNotFireAHandledOccurrenceAgain()
    {
        var time = new FakeTimeProvider(Start);
        var prefix = TestRedis.UniquePrefix();
        await using (var first = await StartAsync(time, "a", prefix))
        {
            await WaitForIdleAsync(time, first);
            await AdvanceAsync(time, Start.AddMinutes(3), first);
            Assert.Equal(["sched-base-202611290300"], first.Published().Select(p => p.BatchId));
        }

        await using var restarted = await StartAsync(time, "a-restarted", prefix);
        await AdvanceAsync(time, Start.AddMinutes(4), restarted);
        Assert.Empty(restarted.Published());
        await AdvanceAsync(time, Start.AddMinutes(8), restarted);
        Assert.Equal(["sched-base-202611290305"], restarted.Published().Select(p => p.BatchId));
    }

    [NeedsServer(Server.Redis)]
    [Theory]
    [InlineData(MissedSchedulePolicy.Skip)]
    [InlineData(MissedSchedulePolicy.RunOnce)]
    public async Task Downtime_MissedOccurrencesFollowThePolicy(MissedSchedulePolicy policy)
    {
        var time = new FakeTimeProvider(Start);
        var prefix = TestRedis.UniquePrefix();
        await using (var first = await StartAsync(time, "a", prefix, missed: policy))
        {
            await WaitForIdleAsync(time, first);
            await AdvanceAsync(time, Start.AddMinutes(3), first); // 03:00 fires
        }

        time.Advance(TimeSpan.FromMinutes(22)); // down over 03:05, 03:10, 03:15, 03:20; now 03:23, 03:20 is late
        await using var second = await StartAsync(time, "b", prefix, missed: policy);
        await WaitForIdleAsync(time, second);
        await AdvanceAsync(time, time.GetUtcNow().AddMinutes(1), second);

        if (policy == MissedSchedulePolicy.RunOnce)
        {
            var fired = Assert.Single(second.Scheduler.Fired);
            Assert.Equal(("base", new DateTimeOffset(2026, 11, 29, 3, 20, 0, TimeSpan.Zero), 3), (fired.Image, fired.Occurrence, fired.Coalesced));
            Assert.Equal(["sched-base-202611290320"], second.Published().Select(p => p.BatchId));
        }
        else
        {
            Assert.Empty(second.Published());
        }
        // Either way the schedule goes on with the next occurrence, on time.
        await AdvanceAsync(time, new DateTimeOffset(2026, 11, 29, 3, 26, 0, TimeSpan.Zero), second);
        Assert.Contains("sched-base-202611290325", second.Published().Select(p => p.BatchId));
    }

    [Fact]
    public async Task InMemoryCoordinator_SharedByTwoInstances_FiresOnce()
    {
        var time = new FakeTimeProvider(Start);
        var shared = new InMemoryScheduleCoordinator(time);
        await using var a = await StartAsync(time, "a", redisPrefix: null, shared);
        await using var b = await StartAsync(time, "b", redisPrefix: null, shared);
        await WaitForIdleAsync(time, a, b);

        await AdvanceAsync(time, Start.AddMinutes(8), a, b);

        Assert.Equal(["sched-base-202611290300", "sched-base-202611290305"],
            a.Published().Concat(b.Published()).Select(p => p.BatchId).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task BadOptions_FailAtStart()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddBuildFarmScheduler(o => o.LeaseTtl = TimeSpan.FromSeconds(5));
        builder.Services.AddMassTransitTestHarness();
        using var host = builder.Build();

        var e = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());

        Assert.Contains("ManifestPath", e.Message, StringComparison.Ordinal);
        Assert.Contains("LeaseTtl", e.Message, StringComparison.Ordinal);
    }
}
