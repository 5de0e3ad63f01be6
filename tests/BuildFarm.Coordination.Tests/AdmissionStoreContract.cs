using BuildFarm.Coordination.Redis;
using BuildFarm.Coordination.Scheduling;
using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Coordination.Tests;

/// <summary>The behaviour every <see cref="IAdmissionStore"/> must have; run against Redis and in process.</summary>
public abstract class AdmissionStoreContract
{
    private static readonly TimeSpan Ttl = TimeSpan.FromMilliseconds(400);
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(5);
    private static readonly CancellationToken None = CancellationToken.None;

    protected abstract (IAdmissionStore Store, IExpiry Expiry) Create();

    private static AdmissionEntry Entry(string id, string tenant = "team-a", string group = "", int priority = 5, double path = 0) =>
        new(new ReadyBuild(id, tenant, group, priority, path, 0), "payload-of-" + id);

    private static async Task<IAdmissionStore> WithSlotsAsync(IAdmissionStore store, int slots)
    {
        await store.HeartbeatAsync("worker-1", slots, Long, None);
        return store;
    }

    [Fact]
    public async Task AnEnqueueThatLeavesBuildsWaitingWithASlotFree_WakesTheDispatchers()
    {
        var (store, _) = Create();
        await WithSlotsAsync(store, 1);
        var wakes = 0;
        await using (await store.OnWaitingAsync(() => Interlocked.Increment(ref wakes), None))
        {
            // Admitted at once (the fast path), then queued with no slot free: nothing for a dispatcher to do.
            Assert.Equal(["b1"], (await store.EnqueueAsync([Entry("b1")], "producer-1", None)).Admitted);
            Assert.Empty((await store.EnqueueAsync([Entry("b2")], "producer-1", None)).Admitted);
            Assert.Equal(0, Volatile.Read(ref wakes));

            // b1 ends: a slot is free and b2 waits, so b3 is not admitted at once (b2 is first in line); the dispatchers must look.
            await store.EndAsync(["b1"], None);
            Assert.Empty((await store.EnqueueAsync([Entry("b3")], "producer-1", None)).Admitted);
            await Eventually.UntilAsync(() => Volatile.Read(ref wakes) == 1, "the dispatchers were not woken", TimeSpan.FromSeconds(10));
        }

        // Unsubscribed: no more wakes.
        await store.EnqueueAsync([Entry("b4")], "producer-1", None);
        Assert.Equal(1, (await store.SnapshotAsync(10, 10, None)).FreeSlots);
        Assert.Equal(1, Volatile.Read(ref wakes));
    }

    [Fact]
    public async Task Enqueue_IsIdempotentPerBuild()
    {
        var (store, _) = Create();
        await WithSlotsAsync(store, 4);

        Assert.Equal(2, await store.EnqueueAsync([Entry("b1"), Entry("b2")], None));
        Assert.Equal(1, await store.EnqueueAsync([Entry("b1"), Entry("b3")], None));

        var snapshot = await store.SnapshotAsync(10, 10, None);
        Assert.Equal(3, snapshot.ReadyCount);
        Assert.Equal(["b1", "b2", "b3"], snapshot.Scheduling.Ready.Select(r => r.BuildId));
        Assert.Equal(3, snapshot.ReadyByTenant["team-a"]);
    }

    [Fact]
    public async Task Snapshot_OffersEachGroupsFirstInWithinGroupOrder_BoundedByPerGroupAndFreeSlots()
    {
        var (store, _) = Create();
        await WithSlotsAsync(store, 2);
        await store.EnqueueAsync(
        [
            Entry("low", priority: 1), Entry("short", priority: 5, path: 10), Entry("long", priority: 5, path: 600), Entry("urgent", priority: 9),
            Entry("other", tenant: "team-b", group: "batch-1"),
        ], None);

        var snapshot = await store.SnapshotAsync(perGroup: 3, maxGroups: 10, None);

        Assert.Equal(2, snapshot.FreeSlots);
        Assert.Equal(5, snapshot.ReadyCount);
        var teamA = snapshot.Scheduling.Ready.Where(r => r.Tenant == "team-a").ToList();
        Assert.Equal(["urgent", "long"], teamA.Select(r => r.BuildId));
        Assert.Equal(600, teamA[1].PathSeconds);
        Assert.Equal(5, teamA[1].Priority);
        Assert.True(teamA[0].Sequence > teamA[1].Sequence);
        var teamB = Assert.Single(snapshot.Scheduling.Ready, r => r.Tenant == "team-b");
        Assert.Equal(("other", "batch-1"), (teamB.BuildId, teamB.Group));
    }

    [Fact]
    public async Task Snapshot_WithoutLiveWorkers_OffersNothing()
    {
        var (store, _) = Create();
        await store.EnqueueAsync([Entry("b1")], None);

        var snapshot = await store.SnapshotAsync(10, 10, None);

        Assert.Equal(0, snapshot.FreeSlots);
        Assert.Empty(snapshot.Scheduling.Ready);
        Assert.Equal(1, snapshot.ReadyCount);
    }

    [Fact]
    public async Task Claim_AdmitsInTheGivenOrderWhileCapacityRemains_AndCountsThemRunning()
    {
        var (store, _) = Create();
        await WithSlotsAsync(store, 2);
        await store.EnqueueAsync([Entry("b1"), Entry("b2", group: "batch-9"), Entry("b3")], None);

        var admitted = await store.ClaimAsync(["b3", "b2", "b1"], "replica-1", None);

        Assert.Equal([new AdmittedBuild("b3", "payload-of-b3"), new AdmittedBuild("b2", "payload-of-b2")], admitted);
        var snapshot = await store.SnapshotAsync(10, 10, None);
        Assert.Equal(0, snapshot.FreeSlots);
        Assert.Equal(2, snapshot.InFlight);
        Assert.Equal(1, snapshot.ReadyCount);
        Assert.Equal(2, snapshot.Scheduling.RunningByTenant["team-a"]);
        Assert.Equal(1, snapshot.Scheduling.RunningByGroup[SchedulingOrder.GroupKey("team-a", "batch-9")]);
        Assert.Equal(1, snapshot.Scheduling.RunningByGroup[SchedulingOrder.GroupKey("team-a", "")]);
        Assert.Empty(await store.ClaimAsync(["b1"], "replica-1", None));
    }

    [Fact]
    public async Task Claim_RacingReplicas_NeverExceedCapacityNorAdmitABuildTwice()
    {
        var (store, _) = Create();
        await WithSlotsAsync(store, 7);
        var ids = Enumerable.Range(0, 40).Select(i => $"b{i}").ToList();
        await store.EnqueueAsync([.. ids.Select(id => Entry(id))], None);

        var claims = await Task.WhenAll(Enumerable.Range(0, 12).Select(r => store.ClaimAsync([.. ids.Skip(r)], $"replica-{r}", None)))
            .WaitAsync(TimeSpan.FromSeconds(30));

        var admitted = claims.SelectMany(c => c).Select(a => a.BuildId).ToList();
        Assert.Equal(7, admitted.Count);
        Assert.Equal(7, admitted.Distinct().Count());
        Assert.Equal(7, (await store.SnapshotAsync(1, 1, None)).InFlight);
    }

    [Fact]
    public async Task End_SaysWhetherAnyBuildIsStillReady()
    {
        var (store, _) = Create();
        await WithSlotsAsync(store, 2);
        await store.EnqueueAsync([Entry("b1"), Entry("b2")], None);
        Assert.Equal(2, (await store.ClaimAsync(["b1", "b2"], "replica-1", None)).Count);

        Assert.Equal(new AdmissionEnded(1, false), await store.EndAsync(["b1"], None));
        await store.EnqueueAsync([Entry("b3", tenant: "t2")], None);
        Assert.Equal(new AdmissionEnded(1, true), await store.EndAsync(["b2"], None));
        Assert.Single(await store.ClaimAsync(["b3"], "replica-1", None));
        Assert.Equal(new AdmissionEnded(1, false), await store.EndAsync(["b3"], None));
    }

    [Fact]
    public async Task End_FreesTheSlotAndTheCounts_AndIsIdempotent()
    {
        var (store, _) = Create();
        await WithSlotsAsync(store, 1);
        await store.EnqueueAsync([Entry("b1"), Entry("b2")], None);
        Assert.Single(await store.ClaimAsync(["b1"], "replica-1", None));

        // b2 is still ready: the end says a build waits for the slot it freed.
        Assert.Equal(new AdmissionEnded(1, true), await store.EndAsync(["b1", "b2"], None));
        Assert.Equal(new AdmissionEnded(0, true), await store.EndAsync(["b1"], None));

        var snapshot = await store.SnapshotAsync(10, 10, None);
        Assert.Equal(1, snapshot.FreeSlots);
        Assert.Equal(0, snapshot.InFlight);
        Assert.Empty(snapshot.Scheduling.RunningByTenant);
        Assert.Empty(snapshot.Scheduling.RunningByGroup);
        Assert.Equal(0, await store.EnqueueAsync([Entry("b1")], None));
        Assert.Equal("b2", Assert.Single(await store.ClaimAsync(["b1", "b2"], "replica-1", None)).BuildId);
    }

    [Fact]
    public async Task Start_FirstMessageRuns_ItsRedeliveryRuns_AnotherCopyIsADuplicate()
    {
        var (store, _) = Create();
        await WithSlotsAsync(store, 2);
        await store.EnqueueAsync([Entry("b1")], None);
        await store.ClaimAsync(["b1"], "replica-1", None);

        Assert.Equal(AdmissionStart.Started, await store.StartAsync("b1", "message-1", None));
        Assert.Equal(AdmissionStart.Started, await store.StartAsync("b1", "message-1", None));
        Assert.Equal(AdmissionStart.Duplicate, await store.StartAsync("b1", "message-2", None));
        Assert.Equal(AdmissionStart.NotAdmitted, await store.StartAsync("published-without-admission", "message-3", None));

        await store.EndAsync(["b1"], None);
        Assert.Equal(AdmissionStart.Ended, await store.StartAsync("b1", "message-1", None));
    }

    [Fact]
    public async Task RemoveReady_TakesAReadyBuildOut_ButNotAnAdmittedOne()
    {
        var (store, _) = Create();
        await WithSlotsAsync(store, 1);
        await store.EnqueueAsync([Entry("b1"), Entry("b2")], None);

        Assert.Equal("payload-of-b2", await store.RemoveReadyAsync("b2", None));
        Assert.Null(await store.RemoveReadyAsync("b2", None));
        Assert.Single(await store.ClaimAsync(["b1"], "replica-1", None));
        Assert.Null(await store.RemoveReadyAsync("b1", None));

        var snapshot = await store.SnapshotAsync(10, 10, None);
        Assert.Equal(0, snapshot.ReadyCount);
        Assert.Empty(snapshot.ReadyByTenant);
        Assert.Equal(AdmissionStart.NotAdmitted, await store.StartAsync("b2", "message-1", None));
    }

    [Fact]
    public async Task Heartbeat_OfADeadWorker_Expires_AndItsSlotsLeaveTheCapacity()
    {
        var (store, expiry) = Create();
        await store.HeartbeatAsync("worker-live", 2, Long, None);
        await store.HeartbeatAsync("worker-dead", 3, Ttl, None);
        Assert.Equal(5, (await store.SnapshotAsync(1, 1, None)).FreeSlots);

        await expiry.AssertAfterAsync(Ttl, async () => (await store.SnapshotAsync(1, 1, None)).FreeSlots == 2);

        await store.LeaveAsync("worker-live", None);
        Assert.Equal(0, (await store.SnapshotAsync(1, 1, None)).FreeSlots);
    }

    [Fact]
    public async Task Sweep_HandsOutClaimedButNeverStartedBuilds_AfterTheBound()
    {
        var (store, expiry) = Create();
        await WithSlotsAsync(store, 2);
        await store.EnqueueAsync([Entry("lost"), Entry("running")], None);
        await store.ClaimAsync(["lost", "running"], "replica-1", None);
        await store.StartAsync("running", "message-1", None);

        IReadOnlyList<AdmittedBuild> swept = [];
        await expiry.AssertAfterAsync(Ttl, async () => (swept = await store.SweepAsync(Ttl, 10, None)).Count > 0);

        Assert.Equal([new AdmittedBuild("lost", "payload-of-lost")], swept);
        Assert.Empty(await store.SweepAsync(Ttl, 10, None));
        Assert.Equal(2, (await store.SnapshotAsync(1, 1, None)).InFlight);
    }

    [Fact]
    public async Task EnqueueFast_IdleStoreAndAllFit_AdmitsThemAtOnce_CountedInFlight_AndSweptIfNeverStarted()
    {
        var (store, expiry) = Create();
        await WithSlotsAsync(store, 3);

        var enqueued = await store.EnqueueAsync([Entry("b1"), Entry("b2", group: "batch-9")], "producer-1", None);

        Assert.Equal(2, enqueued.Added);
        Assert.Equal(["b1", "b2"], enqueued.Admitted);
        var snapshot = await store.SnapshotAsync(10, 10, None);
        Assert.Equal((1, 2, 0), (snapshot.FreeSlots, snapshot.InFlight, snapshot.ReadyCount));
        Assert.Empty(snapshot.Scheduling.Ready);
        Assert.Empty(snapshot.ReadyByTenant);
        Assert.Equal(2, snapshot.Scheduling.RunningByTenant["team-a"]);
        Assert.Equal(1, snapshot.Scheduling.RunningByGroup[SchedulingOrder.GroupKey("team-a", "batch-9")]);
        Assert.Empty(await store.ClaimAsync(["b1", "b2"], "replica-1", None));
        Assert.Null(await store.RemoveReadyAsync("b1", None));
        // The same ids again: neither added nor admitted a second time.
        var again = await store.EnqueueAsync([Entry("b1"), Entry("b2")], "producer-2", None);
        Assert.Equal(0, again.Added);
        Assert.Empty(again.Admitted);
        Assert.Equal(2, (await store.SnapshotAsync(1, 1, None)).InFlight);

        Assert.Equal(AdmissionStart.Started, await store.StartAsync("b1", "message-1", None));
        IReadOnlyList<AdmittedBuild> swept = [];
        await expiry.AssertAfterAsync(Ttl, async () => (swept = await store.SweepAsync(Ttl, 10, None)).Count > 0);
        Assert.Equal([new AdmittedBuild("b2", "payload-of-b2")], swept);
        Assert.Equal(1, (await store.EndAsync(["b1"], None)).Ended);
        Assert.Equal(2, (await store.SnapshotAsync(1, 1, None)).FreeSlots);
    }

    [Fact]
    public async Task EnqueueFast_NotAllFit_NoneAdmitted_AndNeverPastCapacity()
    {
        var (store, _) = Create();
        await WithSlotsAsync(store, 2);

        var tooMany = await store.EnqueueAsync([Entry("b1"), Entry("b2"), Entry("b3")], "producer-1", None);

        Assert.Equal(3, tooMany.Added);
        Assert.Empty(tooMany.Admitted);
        var snapshot = await store.SnapshotAsync(10, 10, None);
        Assert.Equal((2, 0, 3), (snapshot.FreeSlots, snapshot.InFlight, snapshot.ReadyCount));

        var (other, _) = Create();
        await WithSlotsAsync(other, 2);
        Assert.Equal(["c1"], (await other.EnqueueAsync([Entry("c1")], "producer-1", None)).Admitted);
        Assert.Equal(["c2"], (await other.EnqueueAsync([Entry("c2")], "producer-1", None)).Admitted);
        Assert.Empty((await other.EnqueueAsync([Entry("c3")], "producer-1", None)).Admitted);
        snapshot = await other.SnapshotAsync(10, 10, None);
        Assert.Equal((0, 2, 1), (snapshot.FreeSlots, snapshot.InFlight, snapshot.ReadyCount));
    }

    [Fact]
    public async Task EnqueueFast_RacingProducers_AdmitNoMoreThanTheFreeSlots()
    {
        var (store, _) = Create();
        await WithSlotsAsync(store, 5);

        var results = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => store.EnqueueAsync([Entry($"b{i}")], $"producer-{i}", None)))
            .WaitAsync(TimeSpan.FromSeconds(30));

        var admitted = results.SelectMany(r => r.Admitted).ToList();
        Assert.Equal(5, admitted.Count);
        Assert.Equal(5, admitted.Distinct().Count());
        var snapshot = await store.SnapshotAsync(10, 10, None);
        Assert.Equal((0, 5, 7), (snapshot.FreeSlots, snapshot.InFlight, snapshot.ReadyCount));
    }

    [Fact]
    public async Task EnqueueFast_SomethingElseReady_WaitsForADispatcher()
    {
        var (store, _) = Create();
        await WithSlotsAsync(store, 4);
        await store.EnqueueAsync([Entry("waiting", tenant: "team-b")], None);

        var enqueued = await store.EnqueueAsync([Entry("b1")], "producer-1", None);

        Assert.Equal(1, enqueued.Added);
        Assert.Empty(enqueued.Admitted);
        var snapshot = await store.SnapshotAsync(10, 10, None);
        Assert.Equal((4, 0, 2), (snapshot.FreeSlots, snapshot.InFlight, snapshot.ReadyCount));
    }

    [Fact]
    public async Task EnqueueFast_WithoutLiveWorkers_OrWithoutAClaimant_AdmitsNothing()
    {
        var (store, _) = Create();

        Assert.Empty((await store.EnqueueAsync([Entry("b1")], "producer-1", None)).Admitted);
        var (other, _) = Create();
        await WithSlotsAsync(other, 4);
        Assert.Empty((await other.EnqueueAsync([Entry("b1")], null, None)).Admitted);

        Assert.Equal(1, (await store.SnapshotAsync(10, 10, None)).ReadyCount);
        Assert.Equal(1, (await other.SnapshotAsync(10, 10, None)).ReadyCount);
    }

    [Fact]
    public async Task EnqueueFast_Mixed_AdmitsOnlyTheNewBuilds_OnceEach()
    {
        var (store, _) = Create();
        await WithSlotsAsync(store, 3);
        Assert.Equal(["b1"], (await store.EnqueueAsync([Entry("b1")], "producer-1", None)).Admitted);

        // b1 is already in flight and b2 is named twice: only b2 and b3 are new, and both fit.
        var enqueued = await store.EnqueueAsync([Entry("b1"), Entry("b2"), Entry("b2"), Entry("b3", tenant: "team-b")], "producer-1", None);

        Assert.Equal(2, enqueued.Added);
        Assert.Equal(["b2", "b3"], enqueued.Admitted);
        var snapshot = await store.SnapshotAsync(10, 10, None);
        Assert.Equal((0, 3, 0), (snapshot.FreeSlots, snapshot.InFlight, snapshot.ReadyCount));
        Assert.Equal(1, snapshot.Scheduling.RunningByTenant["team-b"]);
        Assert.Empty((await store.EnqueueAsync([Entry("b4")], "producer-1", None)).Admitted);
    }

    [Fact]
    public async Task Expire_EndsBuildsInFlightPastTheBound_FreeingTheirSlots()
    {
        var (store, expiry) = Create();
        await WithSlotsAsync(store, 3);
        await store.EnqueueAsync([Entry("started"), Entry("claimed"), Entry("ready")], None);
        await store.ClaimAsync(["started", "claimed"], "replica-1", None);
        await store.StartAsync("started", "message-1", None);
        Assert.Empty(await store.ExpireAsync(Long, 10, None));

        IReadOnlyList<string> expired = [];
        await expiry.AssertAfterAsync(Ttl, async () => (expired = await store.ExpireAsync(Ttl, 10, None)).Count > 0);

        Assert.Equal(["claimed", "started"], expired.Order(StringComparer.Ordinal));
        var snapshot = await store.SnapshotAsync(10, 10, None);
        Assert.Equal((3, 0, 1), (snapshot.FreeSlots, snapshot.InFlight, snapshot.ReadyCount));
        Assert.Empty(snapshot.Scheduling.RunningByTenant);
        Assert.Equal(AdmissionStart.Ended, await store.StartAsync("started", "message-2", None));
        Assert.Equal(0, (await store.EndAsync(["started", "claimed"], None)).Ended);
        Assert.Empty(await store.ExpireAsync(Ttl, 10, None));
        Assert.Empty(await store.SweepAsync(Ttl, 10, None));
    }

    [Fact]
    public async Task Bounds_AreChecked()
    {
        var (store, _) = Create();

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            store.EnqueueAsync([new AdmissionEntry(new ReadyBuild("b1", "", "", 5, 0, 0), new string('x', AdmissionLimits.MaxPayloadChars + 1))], None));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.EnqueueAsync([Entry("b1", priority: 10)], None));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.EnqueueAsync([Entry("b1", tenant: "a\nb")], None));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.EnqueueAsync([Entry("b1")], new string('p', AdmissionLimits.MaxIdLength + 1), None));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.SnapshotAsync(0, 1, None));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.SnapshotAsync(1, AdmissionLimits.MaxGroups + 1, None));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.ClaimAsync([.. Enumerable.Repeat("b", AdmissionLimits.MaxClaim + 1)], "r", None));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.HeartbeatAsync("w", AdmissionLimits.MaxSlotsPerWorker + 1, Long, None));
    }
}

[NeedsServer(Server.Redis)]
public sealed class RedisAdmissionStoreTests : AdmissionStoreContract
{
    protected override (IAdmissionStore, IExpiry) Create() =>
        (new RedisAdmissionStore(TestRedis.Multiplexer, new RedisKeys(TestRedis.UniquePrefix())), new RealExpiry());
}

public sealed class InMemoryAdmissionStoreTests : AdmissionStoreContract
{
    protected override (IAdmissionStore, IExpiry) Create()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-28T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        return (new InMemoryAdmissionStore(time), new FakeExpiry(time));
    }
}
