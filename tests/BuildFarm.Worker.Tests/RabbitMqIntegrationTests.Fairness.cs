using System.Globalization;
using BuildFarm.ClusterSim.Hosting;
using BuildFarm.Contracts;
using BuildFarm.Coordination.Redis;
using BuildFarm.Coordination.Scheduling;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace BuildFarm.Worker.Tests;

/// <summary>
/// Issue 17's order and fairness (docs/scheduling.md "The scheduling contract") over the real RabbitMQ and Redis and the
/// simulator: admission on, the default <see cref="WeightedFairSchedulingPolicy"/>, builds enqueued in the admission store
/// as the API's <c>IBuildDispatch</c> does (tenant, group "" for single builds, priority).
/// </summary>
public sealed partial class RabbitMqIntegrationTests
{
    private const string TenantA = "team-a";
    private const string TenantB = "team-b";

    /// <summary>
    /// Both tenants wait with a backlog of six. Every slot goes to the tenant furthest below its weighted share, so while
    /// both have ready builds each holds exactly its share of the slots: one each of two at 1:1, two and one of three at
    /// 2:1. Team-a's backlog is enqueued first, so FIFO would give it every slot.
    /// </summary>
    [Theory]
    [InlineData(1, 2, 1, 1)]
    [InlineData(2, 3, 2, 1)]
    public async Task RabbitMq_Admission_TwoTenantsWithBacklogs_EachHoldsItsWeightedShareOfTheSlots(int weightA, int slots, int shareA, int shareB)
    {
        const int backlog = 6;
        await using var farm = await AdmissionFarm.StartAsync(slots, new Dictionary<string, string?>
        {
            [$"Scheduling:FairShare:TenantWeights:{TenantA}"] = weightA.ToString(CultureInfo.InvariantCulture),
        });
        var idsA = Enumerable.Range(1, backlog).Select(i => Unique($"fair-a{i}")).ToList();
        var idsB = Enumerable.Range(1, backlog).Select(i => Unique($"fair-b{i}")).ToList();
        var tenantOf = idsA.ToDictionary(id => id, _ => TenantA);
        foreach (var id in idsB)
        {
            tenantOf[id] = TenantB;
        }

        // Sampled all along (each snapshot is one atomic step): while both tenants have ready builds, the builds in
        // flight per tenant never exceed its share.
        using var sampling = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var contested = 0;
        var (maxA, maxB) = (0, 0);
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                var snapshot = await farm.Store.SnapshotAsync(1, 1, CancellationToken.None);
                if (snapshot.ReadyByTenant.GetValueOrDefault(TenantA) > 0 && snapshot.ReadyByTenant.GetValueOrDefault(TenantB) > 0)
                {
                    contested++;
                    maxA = Math.Max(maxA, snapshot.Scheduling.RunningByTenant.GetValueOrDefault(TenantA));
                    maxB = Math.Max(maxB, snapshot.Scheduling.RunningByTenant.GetValueOrDefault(TenantB));
                }
                await Task.Delay(20, CancellationToken.None);
            }
        });
        try
        {
            // One atomic enqueue, team-a's backlog first (the lower sequence numbers).
            Assert.Equal(2 * backlog, await farm.EnqueueAsync([.. idsA.Select(id => (id, TenantA, 0)), .. idsB.Select(id => (id, TenantB, 0))]));
            foreach (var id in idsA.Concat(idsB))
            {
                Assert.IsType<BuildSucceeded>(await farm.Client.Events.WaitEndAsync(id, seconds: 120));
            }
        }
        finally
        {
            await sampling.CancelAsync();
            await sampler.WaitAsync(TimeSpan.FromSeconds(30));
        }

        // The first round fills every free slot at once: exactly the shares.
        var starts = farm.StartOrder();
        Assert.Equal(idsA.Count + idsB.Count, starts.Count);
        var firstRound = starts.Take(slots).Select(id => tenantOf[id]).ToList();
        Assert.Equal(shareA, firstRound.Count(t => t == TenantA));
        Assert.Equal(shareB, firstRound.Count(t => t == TenantB));
        Assert.True(contested > 0, "the sampler never saw both tenants waiting");
        Assert.InRange(maxA, 1, shareA);
        Assert.InRange(maxB, 1, shareB);
        await farm.AssertDrainedAsync(slots);
    }

    /// <summary>
    /// Team-a's backlog of five at priority 0 holds the one slot; then team-a submits one build at priority 9. It starts at
    /// the next free slot, before every one of team-a's older builds still waiting.
    /// </summary>
    [Fact]
    public async Task RabbitMq_Admission_PriorityNineBehindTheTenantsOwnBacklog_StartsAtTheNextFreeSlot()
    {
        const int backlog = 5;
        await using var farm = await AdmissionFarm.StartAsync(slots: 1);
        var older = Enumerable.Range(1, backlog).Select(i => Unique($"prio-a{i}")).ToList();
        var urgent = Unique("prio-a9");

        Assert.Equal(backlog, await farm.EnqueueAsync([.. older.Select(id => (id, TenantA, 0))]));
        await farm.Client.Events.WaitAsync<BuildStarted>(older[0], seconds: 60);
        Assert.Equal(1, await farm.EnqueueAsync([(urgent, TenantA, 9)]));
        // Every older build still ready now was ready when the urgent one arrived (nothing else is enqueued). The count
        // includes the urgent one unless it has been claimed already, hence the − 1: a lower bound either way.
        var olderWaiting = (await farm.Store.SnapshotAsync(1, 1, CancellationToken.None)).ReadyByTenant.GetValueOrDefault(TenantA) - 1;
        Assert.True(olderWaiting >= 2, $"only {olderWaiting} older builds still waited: the test proves nothing");

        foreach (var id in older.Append(urgent))
        {
            Assert.IsType<BuildSucceeded>(await farm.Client.Events.WaitEndAsync(id, seconds: 120));
        }
        var starts = farm.StartOrder();
        var olderBefore = starts.IndexOf(urgent);
        Assert.InRange(olderBefore, 1, backlog - olderWaiting);
        // The older builds keep their own order around it.
        Assert.Equal(older, starts.Where(id => id != urgent));
        await farm.AssertDrainedAsync(1);
    }

    /// <summary>One in-process worker with admission on (the default fair policy), the client bus and the admission store.</summary>
    private sealed class AdmissionFarm : IAsyncDisposable
    {
        private readonly ClusterSimulator _sim;
        private readonly RabbitWorker _worker;
        private readonly IConnectionMultiplexer _redis;

        private AdmissionFarm(ClusterSimulator sim, RabbitWorker worker, RabbitClient client, IConnectionMultiplexer redis, IAdmissionStore store)
        {
            _sim = sim;
            _worker = worker;
            Client = client;
            _redis = redis;
            Store = store;
        }

        public RabbitClient Client { get; }
        public IAdmissionStore Store { get; }

        public static async Task<AdmissionFarm> StartAsync(int slots, IDictionary<string, string?>? overrides = null)
        {
            var redisPrefix = $"bfrabbittest:{Guid.NewGuid():N}:";
            var sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions
            {
                Scenario = WorkerHarness.Scenario("timings: { push: { median: 600, p95: 700 } }"),
                Seed = 7,
            });
            var settings = new Dictionary<string, string?>(OneSlotAdmission) { ["Worker:Slots"] = slots.ToString(CultureInfo.InvariantCulture) };
            foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
            {
                settings[key] = value;
            }
            var worker = await RabbitWorker.StartAsync(sim, redisPrefix, settings);
            Assert.IsType<WeightedFairSchedulingPolicy>(worker.Host.Services.GetRequiredService<ISchedulingPolicy>());
            var client = await RabbitClient.StartAsync();
            var redis = await ConnectionMultiplexer.ConnectAsync(Redis());
            var farm = new AdmissionFarm(sim, worker, client, redis, new RedisAdmissionStore(redis, new RedisKeys(redisPrefix)));
            await Eventually.UntilAsync(async () => (await farm.Store.SnapshotAsync(1, 1, CancellationToken.None)).FreeSlots == slots,
                "the worker to offer its slots", TimeSpan.FromSeconds(60));
            return farm;
        }

        /// <summary>Enqueues the builds as single builds (group ""); returns how many were new.</summary>
        public Task<int> EnqueueAsync(IReadOnlyList<(string Id, string Tenant, int Priority)> builds) =>
            Store.EnqueueAsync([.. builds.Select(b => new AdmissionEntry(new ReadyBuild(b.Id, b.Tenant, "", b.Priority, 0, 0),
                BuildImagePayload.Serialize(WorkerHarness.Command(b.Id) with { Priority = b.Priority })))], CancellationToken.None);

        /// <summary>The builds in the order their first <see cref="BuildStarted"/> arrived.</summary>
        public List<string> StartOrder() => [.. Client.Events.All().OfType<BuildStarted>().Select(s => s.BuildId).Distinct()];

        /// <summary>Every build ran once (one pod), and the capacity came back.</summary>
        public async Task AssertDrainedAsync(int slots)
        {
            foreach (var id in StartOrder())
            {
                Assert.Single(Client.Events.Of<BuildSucceeded>(id));
                Assert.Equal([$"bf-{id}-1"], await _worker.PodsOfAsync(id));
            }
            await Eventually.UntilAsync(async () => (await Store.SnapshotAsync(1, 1, CancellationToken.None)) is { InFlight: 0, ReadyCount: 0 } s && s.FreeSlots == slots,
                "every build to end and the slots to come back", TimeSpan.FromSeconds(30));
            await Eventually.UntilAsync(async () => await QueueDepthAsync() == 0, "the build queue to drain");
        }

        public async ValueTask DisposeAsync()
        {
            await Client.DisposeAsync();
            await _worker.DisposeAsync();
            await _redis.DisposeAsync();
            await _sim.DisposeAsync();
        }
    }
}
