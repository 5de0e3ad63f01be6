using System.Reflection;
using BuildFarm.Contracts;
using BuildFarm.Manifests.Scheduling;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Manifests.Tests;

/// <summary>
/// A scheduler leader that dies at an exact point (issue 21 window 3): it claimed an occurrence, its publish failed
/// (the broker call faulted), and it never polled again. Two schedulers share one in-process coordinator on fake time
/// and are polled by hand, so the point of death is exact.
/// </summary>
public sealed class SchedulerCrashWindowTests
{
    // Every minute: the claim's TTL (1 min) runs out just as the next occurrence is due.
    private const string Yaml = """
        defaults:
          context: git://github.com/acme/mono.git#main
          destinations: ["registry.example.com/acme/{name}:{short_sha}"]
        images:
          - name: base
            contextSubPath: images/base
            schedule: "* * * * *"
        """;

    private static readonly DateTimeOffset Start = new(2026, 11, 29, 2, 59, 30, TimeSpan.Zero);

    [Fact]
    public async Task LeaderClaimsThenCannotPublishThenDies_SurvivorPublishesTheClaimedOccurrenceOnce_NotFoldedIntoTheNext()
    {
        var time = new FakeTimeProvider(Start);
        var coordinator = new InMemoryScheduleCoordinator(time);
        var brokerA = new PublishRecorder { Fail = true };
        var brokerB = new PublishRecorder();
        var a = Scheduler("a", coordinator, time, brokerA);
        var b = Scheduler("b", coordinator, time, brokerB);
        await a.PollAsync(CancellationToken.None); // a leads; first start: occurrences count from now
        await b.PollAsync(CancellationToken.None);
        Assert.True(a.IsLeading);

        time.Advance(TimeSpan.FromSeconds(30)); // 03:00:00
        // a claims 03:00 and its publish fails (broker down); then a dies: it never polls again.
        await Assert.ThrowsAsync<InvalidOperationException>(() => a.PollAsync(CancellationToken.None));
        Assert.Empty(brokerA.Published);

        // b polls every 10 s: it leads once a's lease lapses (03:00:30), finds a's claim, and once the claim expires
        // (03:01:00, when 03:01 is due as well) publishes both.
        while (time.GetUtcNow() < Start.AddSeconds(120))
        {
            time.Advance(TimeSpan.FromSeconds(10));
            await b.PollAsync(CancellationToken.None);
        }

        Assert.True(b.IsLeading);
        Assert.Equal(["sched-base-202611290300", "sched-base-202611290301"], brokerB.Published.Select(p => p.BatchId));
        Assert.Equal([0, 0], b.Fired.Select(f => f.Coalesced));
    }

    [Fact]
    public async Task LeaderCannotPublishForLongerThanTheClaimTtl_PublishesTheClaimedOccurrenceWhenTheBrokerReturns()
    {
        var time = new FakeTimeProvider(Start);
        var broker = new PublishRecorder { Fail = true };
        var a = Scheduler("a", new InMemoryScheduleCoordinator(time), time, broker);
        await a.PollAsync(CancellationToken.None);

        // The broker is down from 03:00 to 03:02:30; a keeps polling (each poll fails).
        while (time.GetUtcNow() < Start.AddSeconds(180))
        {
            time.Advance(TimeSpan.FromSeconds(10));
            try
            {
                await a.PollAsync(CancellationToken.None);
            }
            catch (InvalidOperationException e) when (e.Message.StartsWith("broker unreachable", StringComparison.Ordinal))
            {
                // The poll fails; the service would log it and poll again.
            }
        }
        Assert.Empty(broker.Published);
        broker.Fail = false;
        time.Advance(TimeSpan.FromSeconds(10));
        await a.PollAsync(CancellationToken.None);

        // 03:00 on its own (claimed before the outage), then the latest, 03:02, with 03:01 coalesced.
        Assert.Equal(["sched-base-202611290300", "sched-base-202611290302"], broker.Published.Select(p => p.BatchId));
    }

    private static ManifestScheduler Scheduler(string instance, IScheduleCoordinator coordinator, TimeProvider time, PublishRecorder broker)
    {
        var services = new ServiceCollection();
        services.AddScoped(_ => broker.Endpoint);
        var options = Microsoft.Extensions.Options.Options.Create(new ManifestSchedulerOptions { ManifestYaml = Yaml, InstanceId = instance });
        return new ManifestScheduler(coordinator, services.BuildServiceProvider().GetRequiredService<IServiceScopeFactory>(), time, options,
            NullLogger<ManifestScheduler>.Instance);
    }

    /// <summary>The broker as the scheduler sees it (<see cref="IPublishEndpoint"/>): records each batch, or faults while <see cref="Fail"/>.</summary>
    private sealed class PublishRecorder
    {
        public PublishRecorder()
        {
            Endpoint = DispatchProxy.Create<IPublishEndpoint, EndpointProxy>();
            ((EndpointProxy)(object)Endpoint).Owner = this;
        }

        public IPublishEndpoint Endpoint { get; }

        public bool Fail { get; set; }

        public List<SubmitBatch> Published { get; } = [];
    }

    /// <summary>Every <c>Publish</c> overload lands here; its first argument is the message.</summary>
    public class EndpointProxy : DispatchProxy
    {
        internal object? Owner { get; set; }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            var owner = (PublishRecorder)Owner!;
            if (targetMethod?.Name != nameof(IPublishEndpoint.Publish) || args is not [SubmitBatch batch, ..])
            {
                throw new NotSupportedException($"the scheduler called {targetMethod?.Name}");
            }
            if (owner.Fail)
            {
                return Task.FromException(new InvalidOperationException("broker unreachable (fault injected by the test)"));
            }
            owner.Published.Add(batch);
            return Task.CompletedTask;
        }
    }
}
