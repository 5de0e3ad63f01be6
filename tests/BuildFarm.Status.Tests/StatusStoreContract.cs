using BuildFarm.Status.Stores;
using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Status.Tests;

/// <summary>The behaviour every <see cref="IBuildStatusStore"/> must have; run in process and against the real Redis.</summary>
public abstract class StatusStoreContract
{
    // Real time for the Redis store (its TTLs are Redis's own): long enough that a loaded machine's late wake-ups stay inside it.
    protected static readonly TimeSpan ShortTtl = TimeSpan.FromSeconds(2);

    /// <summary>A store whose records live <paramref name="ttl"/>; <c>Elapse</c> lets that much time pass (fake or real).</summary>
    protected abstract (IBuildStatusStore Store, Func<TimeSpan, Task> Elapse) Create(TimeSpan ttl);

    private IBuildStatusStore Create() => Create(TimeSpan.FromHours(1)).Store;

    private static string Id(string name) => $"{name}-{Guid.NewGuid().ToString("N")[..8]}";

    private static BuildChange Change(BuildRecord record, string name) => new(record, name);

    [Fact]
    public async Task CreateBuild_New_StoredAsVersion1()
    {
        var store = Create();
        var id = Id("b");

        Assert.True(await store.CreateBuildAsync(Records.Build(id), CancellationToken.None));

        var read = await store.GetBuildAsync(id, CancellationToken.None);
        Assert.NotNull(read);
        Assert.Equal(1, read.Version);
        Assert.Equal((Records.Spec(id).Context, Records.Spec(id).ContextSubPath), (read.Spec.Context, read.Spec.ContextSubPath));
        Assert.Equal(Records.Spec(id).Destinations, read.Spec.Destinations);
        Assert.Equal(BuildState.Queued, read.State);
        Assert.Equal(Records.T0, read.SubmittedAt);
    }

    [Fact]
    public async Task CreateBuild_Existing_FalseAndKeepsTheFirst()
    {
        var store = Create();
        var id = Id("b");
        await store.CreateBuildAsync(Records.Build(id), CancellationToken.None);

        Assert.False(await store.CreateBuildAsync(Records.Build(id, BuildState.Running), CancellationToken.None));

        Assert.Equal(BuildState.Queued, (await store.GetBuildAsync(id, CancellationToken.None))!.State);
    }

    [Fact]
    public async Task CreateBatch_New_BatchAndBuildsInMemberOrder()
    {
        var store = Create();
        var batch = Id("batch");
        var (a, b, c) = (Id("a"), Id("b"), Id("c"));
        var members = new[] { new BatchMember("c", c), new BatchMember("a", a), new BatchMember("b", b) };

        Assert.True(await store.CreateBatchAsync(new BatchRecord { BatchId = batch, Members = members, Source = "manifest.yaml" },
            [Records.Build(a, batch: batch), Records.Build(b, BuildState.Waiting, batch, dependsOn: [a]), Records.Build(c, batch: batch)],
            CancellationToken.None));

        var read = await store.GetBatchAsync(batch, CancellationToken.None);
        Assert.Equal(members, read!.Members);
        Assert.Equal("manifest.yaml", read.Source);
        var builds = await store.GetBatchBuildsAsync(batch, CancellationToken.None);
        Assert.Equal([c, a, b], builds.Select(x => x.BuildId));
        Assert.Equal([a], builds[2].DependsOn);
        Assert.Equal(BuildState.Waiting, builds[2].State);
    }

    [Fact]
    public async Task CreateBatch_Existing_FalseAndWritesNothing()
    {
        var store = Create();
        var batch = Id("batch");
        var (a, b) = (Id("a"), Id("b"));
        await store.CreateBatchAsync(new BatchRecord { BatchId = batch, Members = [new("a", a)] }, [Records.Build(a, batch: batch)], CancellationToken.None);

        Assert.False(await store.CreateBatchAsync(new BatchRecord { BatchId = batch, Members = [new("b", b)] },
            [Records.Build(b, batch: batch)], CancellationToken.None));

        Assert.Null(await store.GetBuildAsync(b, CancellationToken.None));
        Assert.Equal([a], (await store.GetBatchAsync(batch, CancellationToken.None))!.Members.Select(m => m.BuildId));
    }

    [Fact]
    public async Task CreateBatch_BuildOfAnotherBatch_RejectedNamingIt()
    {
        var store = Create();
        var error = await Assert.ThrowsAsync<ArgumentException>(() => store.CreateBatchAsync(
            new BatchRecord { BatchId = "x", Members = [new("a", "a1")] }, [Records.Build("a1", batch: "y")], CancellationToken.None));
        Assert.Contains("'a1'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Update_Change_WrittenWithNextVersion()
    {
        var store = Create();
        var id = Id("b");
        await store.CreateBuildAsync(Records.Build(id), CancellationToken.None);

        var change = await store.UpdateBuildAsync(id, r => Change(r with { State = BuildState.Running, Version = 99 }, "started"), CancellationToken.None);

        Assert.NotNull(change);
        Assert.Equal(2, change.Record.Version); // the store stamps the version, whatever the update said
        Assert.Equal("started", change.Event);
        var read = await store.GetBuildAsync(id, CancellationToken.None);
        Assert.Equal(BuildState.Running, read!.State);
        Assert.Equal(2, read.Version);
    }

    [Fact]
    public async Task Update_ReturnsNull_NothingWritten()
    {
        var store = Create();
        var id = Id("b");
        await store.CreateBuildAsync(Records.Build(id), CancellationToken.None);

        Assert.Null(await store.UpdateBuildAsync(id, _ => null, CancellationToken.None));

        Assert.Equal(1, (await store.GetBuildAsync(id, CancellationToken.None))!.Version);
    }

    [Fact]
    public async Task Update_UnknownBuild_NullWithoutCallingUpdate()
    {
        var store = Create();
        var called = false;

        Assert.Null(await store.UpdateBuildAsync(Id("nobody"), r => { called = true; return Change(r, "x"); }, CancellationToken.None));

        Assert.False(called);
    }

    [Fact]
    public async Task Update_ManyConcurrentWriters_NoUpdateLost()
    {
        var store = Create();
        var id = Id("b");
        await store.CreateBuildAsync(Records.Build(id), CancellationToken.None);

        await Task.WhenAll(Enumerable.Range(0, 24).Select(_ => Task.Run(() =>
            store.UpdateBuildAsync(id, r => Change(r with { Resets = r.Resets + 1 }, "reset"), CancellationToken.None))));

        var read = await store.GetBuildAsync(id, CancellationToken.None);
        Assert.Equal(24, read!.Resets);
        Assert.Equal(25, read.Version);
    }

    [Fact]
    public async Task List_ByState_FollowsUpdates()
    {
        var store = Create();
        var batch = Id("batch");
        var (a, b) = (Id("a"), Id("b"));
        await store.CreateBatchAsync(new BatchRecord { BatchId = batch, Members = [new("a", a), new("b", b)] },
            [Records.Build(a, batch: batch), Records.Build(b, batch: batch)], CancellationToken.None);

        await store.UpdateBuildAsync(a, r => Change(r with { State = BuildState.Succeeded }, "succeeded"), CancellationToken.None);

        var succeeded = await store.ListBuildsAsync(new BuildQuery { State = BuildState.Succeeded, BatchId = batch }, CancellationToken.None);
        var queued = await store.ListBuildsAsync(new BuildQuery { State = BuildState.Queued, BatchId = batch }, CancellationToken.None);
        Assert.Equal([a], succeeded.Items.Select(x => x.BuildId));
        Assert.Equal([b], queued.Items.Select(x => x.BuildId));
        Assert.Null(succeeded.Continue);
    }

    [Fact]
    public async Task List_ByStateWithoutBatch_FindsTheBuildInTheStateIndex()
    {
        var store = Create();
        var id = Id("solo");
        await store.CreateBuildAsync(Records.Build(id, submitted: DateTimeOffset.UtcNow), CancellationToken.None);
        await store.UpdateBuildAsync(id, r => Change(r with { State = BuildState.Cancelled }, "cancelled"), CancellationToken.None);

        var cancelled = await store.ListBuildsAsync(new BuildQuery { State = BuildState.Cancelled, Limit = 1000 }, CancellationToken.None);
        var queued = await store.ListBuildsAsync(new BuildQuery { State = BuildState.Queued, Limit = 1000 }, CancellationToken.None);

        Assert.Contains(cancelled.Items, x => x.BuildId == id);
        Assert.DoesNotContain(queued.Items, x => x.BuildId == id);
    }

    [Fact]
    public async Task List_Pages_NewestFirstWithStableContinueWhileBuildsArrive()
    {
        var store = Create();
        var batch = Id("batch");
        var ids = Enumerable.Range(0, 7).Select(i => $"{batch}-{i}").ToList();
        await store.CreateBatchAsync(new BatchRecord { BatchId = batch, Members = [.. ids.Select(i => new BatchMember(i, i))] },
            [.. ids.Select((id, i) => Records.Build(id, batch: batch, submitted: Records.T0.AddSeconds(i)))], CancellationToken.None);

        var seen = new List<string>();
        var page = await store.ListBuildsAsync(new BuildQuery { BatchId = batch, Limit = 3 }, CancellationToken.None);
        seen.AddRange(page.Items.Select(x => x.BuildId));
        // A newer build and a change to an older one between pages shift nothing.
        await store.CreateBuildAsync(Records.Build($"{batch}-new", batch: batch, submitted: Records.T0.AddHours(1)), CancellationToken.None);
        await store.UpdateBuildAsync(ids[1], r => Change(r with { State = BuildState.Running }, "started"), CancellationToken.None);
        while (page.Continue is not null)
        {
            page = await store.ListBuildsAsync(new BuildQuery { BatchId = batch, Limit = 3, Continue = page.Continue }, CancellationToken.None);
            seen.AddRange(page.Items.Select(x => x.BuildId));
        }

        Assert.Equal(Enumerable.Range(0, 7).Reverse().Select(i => $"{batch}-{i}"), seen);
    }

    [Fact]
    public async Task List_ForeignContinueToken_RejectedNamingIt()
    {
        var store = Create();
        var error = await Assert.ThrowsAsync<ArgumentException>(() =>
            store.ListBuildsAsync(new BuildQuery { Continue = "not-a-token" }, CancellationToken.None));
        Assert.Contains("not-a-token", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1001)]
    public async Task List_LimitOutOfRange_Rejected(int limit)
    {
        var store = Create();
        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            store.ListBuildsAsync(new BuildQuery { Limit = limit }, CancellationToken.None));
        Assert.Contains("limit must be between 1 and 1000", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Subscribe_Build_SeesEachLaterChangeInVersionOrder()
    {
        var store = Create();
        var id = Id("b");
        await store.CreateBuildAsync(Records.Build(id), CancellationToken.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));

        var reader = Follow(store.SubscribeAsync(id, null, cts.Token), last => last.Record.Version == 4, cts.Token);
        await store.UpdateBuildAsync(id, r => Change(r with { State = BuildState.Running }, "started"), CancellationToken.None);
        await store.UpdateBuildAsync(id, r => Change(r with { State = BuildState.Retrying }, "attempt_failed"), CancellationToken.None);
        await store.UpdateBuildAsync(id, r => Change(r with { State = BuildState.Succeeded, Digest = "sha256:ab" }, "succeeded"), CancellationToken.None);

        var changes = await reader;
        Assert.Equal(BuildState.Succeeded, changes[^1].Record.State);
        Assert.Equal("sha256:ab", changes[^1].Record.Digest);
        Assert.Equal("succeeded", changes[^1].Event);
        Assert.True(changes.Select(c => c.Record.Version).SequenceEqual(changes.Select(c => c.Record.Version).Order()), "versions out of order");
        Assert.All(changes, c => Assert.Equal(id, c.Record.BuildId));
    }

    [Fact]
    public async Task Subscribe_Batch_SeesItsBuildsOnly()
    {
        var store = Create();
        var batch = Id("batch");
        var (a, b, other) = (Id("a"), Id("b"), Id("other"));
        await store.CreateBatchAsync(new BatchRecord { BatchId = batch, Members = [new("a", a), new("b", b)] },
            [Records.Build(a, batch: batch), Records.Build(b, batch: batch)], CancellationToken.None);
        await store.CreateBuildAsync(Records.Build(other), CancellationToken.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));

        var reader = Follow(store.SubscribeAsync(null, batch, cts.Token), last => last.Record.BuildId == b && last.Record.Version == 2, cts.Token);
        await store.UpdateBuildAsync(a, r => Change(r with { State = BuildState.Running }, "started"), CancellationToken.None);
        await store.UpdateBuildAsync(other, r => Change(r with { State = BuildState.Running }, "started"), CancellationToken.None);
        await store.UpdateBuildAsync(b, r => Change(r with { State = BuildState.Running }, "started"), CancellationToken.None);

        var changes = await reader;
        Assert.DoesNotContain(changes, c => c.Record.BuildId == other);
        Assert.Contains(changes, c => c.Record.BuildId == a && c.Record.Version == 2 && c.Event == "started");
    }

    [Fact]
    public async Task Subscribe_Cancelled_StreamEnds()
    {
        var store = Create();
        var id = Id("b");
        await store.CreateBuildAsync(Records.Build(id), CancellationToken.None);
        using var cts = new CancellationTokenSource();
        var stream = store.SubscribeAsync(id, null, cts.Token);

        var reading = Task.Run(async () =>
        {
            await foreach (var change in stream.WithCancellation(CancellationToken.None))
            {
                _ = change;
            }
        });
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Subscribe_NeitherBuildNorBatch_Rejected()
    {
        var store = Create();
        Assert.Throws<ArgumentException>(() => store.SubscribeAsync(null, " ", CancellationToken.None));
    }

    [Fact]
    public async Task GetBuilds_KnownAndUnknown_InTheOrderAskedWithNullForUnknown()
    {
        var store = Create();
        var (a, b, missing) = (Id("a"), Id("b"), Id("missing"));
        await store.CreateBuildAsync(Records.Build(a), CancellationToken.None);
        await store.CreateBuildAsync(Records.Build(b, BuildState.Running), CancellationToken.None);

        var read = await store.GetBuildsAsync([b, missing, a, b], CancellationToken.None);

        Assert.Equal([b, null, a, b], read.Select(r => r?.BuildId));
        Assert.Equal(BuildState.Running, read[0]!.State);
        Assert.Empty(await store.GetBuildsAsync([], CancellationToken.None));
    }

    [Fact]
    public async Task GetBuilds_BlankId_RejectedNamingItsPlace()
    {
        var store = Create();
        var error = await Assert.ThrowsAsync<ArgumentException>(() => store.GetBuildsAsync(["a", " "], CancellationToken.None));
        Assert.Contains("buildIds[1]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetBuilds_Expired_Null()
    {
        var (store, elapse) = Create(ShortTtl);
        var id = Id("b");
        await store.CreateBuildAsync(Records.Build(id), CancellationToken.None);

        await elapse(ShortTtl);

        await Eventually.UntilAsync(async () => (await store.GetBuildsAsync([id], CancellationToken.None))[0] is null, "the record to expire");
    }

    [Fact]
    public async Task Dependents_NullEmptyAndList_KeptApartThroughCreateAndUpdate()
    {
        var store = Create();
        var batch = Id("batch");
        var (root, leaf, legacy) = (Id("root"), Id("leaf"), Id("legacy"));
        await store.CreateBatchAsync(new BatchRecord { BatchId = batch, Members = [new("root", root), new("leaf", leaf), new("legacy", legacy)] },
            [
                Records.Build(root, batch: batch).Stored() with { Dependents = [leaf, legacy] },
                Records.Build(leaf, BuildState.Waiting, batch, dependsOn: [root]).Stored() with { Dependents = [] },
                Records.Build(legacy, BuildState.Waiting, batch, dependsOn: [root]),
            ], CancellationToken.None);

        var read = await store.GetBuildsAsync([root, leaf, legacy], CancellationToken.None);

        Assert.Equal([leaf, legacy], read[0]!.Stored().Dependents);
        Assert.Equal([], read[1]!.Stored().Dependents);
        Assert.Null(read[2]!.Stored().Dependents); // "not recorded" stays distinct from "nothing depends on it"
        await store.UpdateBuildAsync(legacy, r => Change(r.Stored() with { Dependents = [root] }, "waiting"), CancellationToken.None);
        Assert.Equal([root], (await store.GetBuildAsync(legacy, CancellationToken.None))!.Stored().Dependents);
    }

    [Fact]
    public async Task Records_AfterTtl_Expire()
    {
        var (store, elapse) = Create(ShortTtl);
        var batch = Id("batch");
        var (a, solo) = (Id("a"), Id("solo"));
        await store.CreateBatchAsync(new BatchRecord { BatchId = batch, Members = [new("a", a)] }, [Records.Build(a, batch: batch)], CancellationToken.None);
        await store.CreateBuildAsync(Records.Build(solo), CancellationToken.None);
        Assert.NotNull(await store.GetBuildAsync(solo, CancellationToken.None));

        await elapse(ShortTtl);

        await Eventually.UntilAsync(async () => await store.GetBuildAsync(solo, CancellationToken.None) is null
            && await store.GetBatchAsync(batch, CancellationToken.None) is null
            && (await store.ListBuildsAsync(new BuildQuery { BatchId = batch }, CancellationToken.None)).Items.Count == 0, "the records to expire");
        Assert.True(await store.CreateBuildAsync(Records.Build(solo), CancellationToken.None), "an expired build id is free again");
    }

    [Fact]
    public async Task Update_RefreshesTheTtl()
    {
        var (store, elapse) = Create(ShortTtl);
        var id = Id("b");
        await store.CreateBuildAsync(Records.Build(id), CancellationToken.None);

        await elapse(ShortTtl / 2);
        Assert.NotNull(await store.UpdateBuildAsync(id, r => Change(r with { State = BuildState.Running }, "started"), CancellationToken.None));
        // Past the first expiry (0.5 + 0.6 of the TTL), inside the refreshed one.
        await elapse(ShortTtl * 0.6);

        Assert.NotNull(await store.GetBuildAsync(id, CancellationToken.None));
    }

    [Fact]
    public async Task Delete_RolledBackSubmit_GoneFromReadsAndLists()
    {
        var store = Create();
        var batch = Id("batch");
        var (a, b) = (Id("a"), Id("b"));
        await store.CreateBatchAsync(new BatchRecord { BatchId = batch, Members = [new("a", a), new("b", b)] },
            [Records.Build(a, batch: batch), Records.Build(b, batch: batch)], CancellationToken.None);

        await store.DeleteAsync(batch, [a, b], CancellationToken.None);

        Assert.Null(await store.GetBatchAsync(batch, CancellationToken.None));
        Assert.Null(await store.GetBuildAsync(a, CancellationToken.None));
        Assert.Empty((await store.ListBuildsAsync(new BuildQuery { BatchId = batch }, CancellationToken.None)).Items);
        Assert.True(await store.CreateBatchAsync(new BatchRecord { BatchId = batch, Members = [new("a", a)] }, [Records.Build(a, batch: batch)],
            CancellationToken.None), "a deleted batch id can be used again");
    }

    [Fact]
    public async Task List_ByTenant_OnlyThatTenantsBuildsAndPagesStayWhole()
    {
        var store = Create();
        var run = Id("t");
        // Two tenants' builds interleaved in submit order, and one record from before tenants (no tenant).
        var ids = Enumerable.Range(0, 10).Select(i => (Id: $"{run}-{i}", Tenant: i % 2 == 0 ? "team-a" : "team-b")).ToList();
        foreach (var (id, i) in ids.Select((x, i) => (x, i)))
        {
            await store.CreateBuildAsync(Records.Build(id.Id, submitted: Records.T0.AddSeconds(i), tenant: id.Tenant), CancellationToken.None);
        }
        await store.CreateBuildAsync(Records.Build($"{run}-legacy", submitted: Records.T0.AddSeconds(20)), CancellationToken.None);

        var seen = new List<string>();
        var pages = 0;
        string? next = null;
        do
        {
            var page = await store.ListBuildsAsync(new BuildQuery { Tenant = "team-a", Limit = 2, Continue = next }, CancellationToken.None);
            Assert.All(page.Items, b => Assert.Equal("team-a", b.Tenant));
            seen.AddRange(page.Items.Select(b => b.BuildId));
            next = page.Continue;
            pages++;
        }
        while (next is not null && pages < 10);

        Assert.Equal(ids.Where(x => x.Tenant == "team-a").Select(x => x.Id).Reverse(), seen);
        Assert.Equal(3, pages); // 2 + 2 + 1: each page is full until the last, so the filter ran in the store
        var everyone = await store.ListBuildsAsync(new BuildQuery { Limit = 1000 }, CancellationToken.None);
        Assert.Equal(11, everyone.Items.Count(b => b.BuildId.StartsWith(run, StringComparison.Ordinal)));
        Assert.Empty((await store.ListBuildsAsync(new BuildQuery { Tenant = "team-c" }, CancellationToken.None)).Items);
    }

    [Fact]
    public async Task List_ByTenantAndState_FollowsUpdates()
    {
        var store = Create();
        var (a1, a2, b1) = (Id("a1"), Id("a2"), Id("b1"));
        await store.CreateBuildAsync(Records.Build(a1, tenant: "team-a"), CancellationToken.None);
        await store.CreateBuildAsync(Records.Build(a2, tenant: "team-a"), CancellationToken.None);
        await store.CreateBuildAsync(Records.Build(b1, tenant: "team-b"), CancellationToken.None);

        await store.UpdateBuildAsync(a1, r => Change(r with { State = BuildState.Running }, "started"), CancellationToken.None);
        await store.UpdateBuildAsync(b1, r => Change(r with { State = BuildState.Running }, "started"), CancellationToken.None);

        var running = await store.ListBuildsAsync(new BuildQuery { Tenant = "team-a", State = BuildState.Running }, CancellationToken.None);
        var queued = await store.ListBuildsAsync(new BuildQuery { Tenant = "team-a", State = BuildState.Queued }, CancellationToken.None);
        Assert.Equal([a1], running.Items.Select(b => b.BuildId));
        Assert.Equal([a2], queued.Items.Select(b => b.BuildId));
    }

    [Fact]
    public async Task Update_NeverChangesTheTenant_ButSetsOneOnARecordWithout()
    {
        var store = Create();
        var (owned, legacy) = (Id("owned"), Id("legacy"));
        await store.CreateBuildAsync(Records.Build(owned, tenant: "team-a"), CancellationToken.None);
        await store.CreateBuildAsync(Records.Build(legacy), CancellationToken.None);

        var moved = await store.UpdateBuildAsync(owned, r => Change(r with { Tenant = "team-b", State = BuildState.Running }, "started"), CancellationToken.None);
        await store.UpdateBuildAsync(legacy, r => Change(r with { Tenant = "team-b" }, "queued"), CancellationToken.None);

        Assert.Equal("team-a", moved!.Record.Tenant);
        Assert.Equal("team-a", (await store.GetBuildAsync(owned, CancellationToken.None))!.Tenant);
        Assert.Empty((await store.ListBuildsAsync(new BuildQuery { Tenant = "team-b", State = BuildState.Running }, CancellationToken.None)).Items);
        Assert.Equal([owned], (await store.ListBuildsAsync(new BuildQuery { Tenant = "team-a", State = BuildState.Running }, CancellationToken.None)).Items.Select(b => b.BuildId));
        Assert.Equal([legacy], (await store.ListBuildsAsync(new BuildQuery { Tenant = "team-b" }, CancellationToken.None)).Items.Select(b => b.BuildId));
    }

    [Fact]
    public async Task CreateBatch_TenantKeptOnBatchAndBuilds_AndListedUnderIt()
    {
        var store = Create();
        var batch = Id("batch");
        var (a, b) = (Id("a"), Id("b"));

        await store.CreateBatchAsync(new BatchRecord { BatchId = batch, Tenant = "team-a", Members = [new("a", a), new("b", b)] },
            [Records.Build(a, batch: batch, tenant: "team-a"), Records.Build(b, BuildState.Waiting, batch, tenant: "team-a")], CancellationToken.None);

        Assert.Equal("team-a", (await store.GetBatchAsync(batch, CancellationToken.None))!.Tenant);
        Assert.Equal(["team-a", "team-a"], (await store.GetBatchBuildsAsync(batch, CancellationToken.None)).Select(r => r.Tenant));
        Assert.Equal([b], (await store.ListBuildsAsync(new BuildQuery { Tenant = "team-a", State = BuildState.Waiting }, CancellationToken.None)).Items.Select(r => r.BuildId));
        Assert.Empty((await store.ListBuildsAsync(new BuildQuery { Tenant = "team-b" }, CancellationToken.None)).Items);

        await store.DeleteAsync(batch, [a, b], CancellationToken.None);
        Assert.Empty((await store.ListBuildsAsync(new BuildQuery { Tenant = "team-a" }, CancellationToken.None)).Items);
    }

    [Fact]
    public async Task CreateBatch_BuildOfAnotherTenant_RejectedNamingIt()
    {
        var store = Create();
        var batch = Id("batch");
        var error = await Assert.ThrowsAsync<ArgumentException>(() => store.CreateBatchAsync(
            new BatchRecord { BatchId = batch, Tenant = "team-a", Members = [new("x", "x1")] },
            [Records.Build("x1", batch: batch, tenant: "team-b")], CancellationToken.None));
        Assert.Contains("tenant 'team-b'", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a:b")]
    [InlineData("")]
    [InlineData("-a")]
    public async Task Tenant_NotATenantName_Rejected(string tenant)
    {
        var store = Create();
        var error = await Assert.ThrowsAsync<ArgumentException>(() => store.ListBuildsAsync(new BuildQuery { Tenant = tenant }, CancellationToken.None));
        Assert.Contains("is not a tenant name", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(() => store.CreateBuildAsync(Records.Build(Id("b"), tenant: tenant), CancellationToken.None));
    }

    /// <summary>Reads changes, skipping versions already seen per build (as the contract tells readers to), until <paramref name="done"/>.</summary>
    private static async Task<List<BuildChange>> Follow(IAsyncEnumerable<BuildChange> stream, Func<BuildChange, bool> done, CancellationToken cancellationToken)
    {
        var changes = new List<BuildChange>();
        var seen = new Dictionary<string, long>(StringComparer.Ordinal);
        await Task.Yield();
        await foreach (var change in stream.WithCancellation(cancellationToken))
        {
            if (seen.TryGetValue(change.Record.BuildId, out var version) && change.Record.Version <= version)
            {
                continue;
            }
            seen[change.Record.BuildId] = change.Record.Version;
            changes.Add(change);
            if (done(change))
            {
                break;
            }
        }
        return changes;
    }
}

public sealed class InMemoryStatusStoreTests : StatusStoreContract
{
    protected override (IBuildStatusStore Store, Func<TimeSpan, Task> Elapse) Create(TimeSpan ttl)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        return (new InMemoryBuildStatusStore(time, ttl), d =>
        {
            time.Advance(d);
            return Task.CompletedTask;
        });
    }

    [Fact]
    public async Task Subscribe_ReaderStops_Unregistered()
    {
        var store = new InMemoryBuildStatusStore(TimeProvider.System);
        await store.CreateBuildAsync(Records.Build("b1"), CancellationToken.None);
        using var cts = new CancellationTokenSource();
        _ = store.SubscribeAsync("b1", null, cts.Token);
        Assert.Equal(1, store.SubscriberCount);

        await cts.CancelAsync();

        Assert.Equal(0, store.SubscriberCount);
    }
}

[NeedsServer(Server.Redis)]
public sealed class RedisStatusStoreTests : StatusStoreContract
{
    protected override (IBuildStatusStore Store, Func<TimeSpan, Task> Elapse) Create(TimeSpan ttl) =>
        (new RedisBuildStatusStore(TestRedis.Multiplexer, TestRedis.UniquePrefix(), ttl, TimeProvider.System), Task.Delay);

    [Fact]
    public async Task Record_StoredAsJsonWithLowerCaseState()
    {
        var prefix = TestRedis.UniquePrefix();
        var store = new RedisBuildStatusStore(TestRedis.Multiplexer, prefix, TimeSpan.FromMinutes(5), TimeProvider.System);
        await store.CreateBuildAsync(Records.Build("b1", BuildState.Retrying), CancellationToken.None);

        var db = TestRedis.Multiplexer.GetDatabase();
        var json = (string)(await db.HashGetAsync($"{prefix}build:b1", "r"))!;
        var ttl = await db.KeyTimeToLiveAsync($"{prefix}build:b1");

        Assert.Contains("\"state\":\"retrying\"", json, StringComparison.Ordinal);
        Assert.Contains("\"buildId\":\"b1\"", json, StringComparison.Ordinal);
        Assert.InRange(ttl!.Value, TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(5));
        Assert.Equal(1, await db.SortedSetLengthAsync($"{prefix}index:state:retrying"));
    }

    [Fact]
    public async Task Subscribe_ChangeWrittenByAnotherReplica_Seen()
    {
        var prefix = TestRedis.UniquePrefix();
        var writer = new RedisBuildStatusStore(TestRedis.Multiplexer, prefix, TimeSpan.FromMinutes(5), TimeProvider.System);
        using var otherConnection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(TestRedis.ConnectionString);
        var reader = new RedisBuildStatusStore(otherConnection, prefix, TimeSpan.FromMinutes(5), TimeProvider.System);
        await writer.CreateBuildAsync(Records.Build("b1"), CancellationToken.None);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var stream = reader.SubscribeAsync("b1", null, cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await stream.MoveNextAsync());
        Assert.Equal(1, stream.Current.Record.Version); // the current record first

        await writer.UpdateBuildAsync("b1", r => new BuildChange(r with { State = BuildState.Running }, "started"), CancellationToken.None);

        Assert.True(await stream.MoveNextAsync());
        Assert.Equal((2L, "started", BuildState.Running), (stream.Current.Record.Version, stream.Current.Event, stream.Current.Record.State));
        await stream.DisposeAsync();
    }
}

/// <summary>The behaviour every <see cref="IIdempotencyStore"/> must have; run in process and against the real Redis.</summary>
public abstract class IdempotencyStoreContract
{
    protected abstract (IIdempotencyStore Store, Func<TimeSpan, Task> Elapse) Create();

    [Fact]
    public async Task Idempotency_KeyUsedTwice_ReturnsTheFirstValue()
    {
        var (store, _) = Create();
        var key = "key-" + Guid.NewGuid().ToString("N");

        var first = await store.GetOrSetIdempotencyAsync("batches", key, "batch-1", TimeSpan.FromMinutes(5), CancellationToken.None);
        var second = await store.GetOrSetIdempotencyAsync("batches", key, "batch-2", TimeSpan.FromMinutes(5), CancellationToken.None);
        var otherScope = await store.GetOrSetIdempotencyAsync("builds", key, "build-9", TimeSpan.FromMinutes(5), CancellationToken.None);

        Assert.Equal("batch-1", first);
        Assert.Equal("batch-1", second);
        Assert.Equal("build-9", otherScope);
    }

    [Fact]
    public async Task Idempotency_KeyExpired_TakesTheNewValue()
    {
        var (store, elapse) = Create();
        var key = "key-" + Guid.NewGuid().ToString("N");

        await store.GetOrSetIdempotencyAsync("builds", key, "build-1", TimeSpan.FromMilliseconds(200), CancellationToken.None);
        await elapse(TimeSpan.FromMilliseconds(400));

        Assert.Equal("build-2", await store.GetOrSetIdempotencyAsync("builds", key, "build-2", TimeSpan.FromMinutes(5), CancellationToken.None));
    }

    [Fact]
    public async Task Idempotency_BadArguments_Rejected()
    {
        var (store, _) = Create();
        await Assert.ThrowsAsync<ArgumentException>(() => store.GetOrSetIdempotencyAsync(" ", "k", "v", TimeSpan.FromMinutes(1), CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.GetOrSetIdempotencyAsync("s", "k", "v", TimeSpan.Zero, CancellationToken.None));
    }
}

public sealed class InMemoryIdempotencyStoreTests : IdempotencyStoreContract
{
    protected override (IIdempotencyStore Store, Func<TimeSpan, Task> Elapse) Create()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        return (new InMemoryIdempotencyStore(time), d =>
        {
            time.Advance(d);
            return Task.CompletedTask;
        });
    }
}

[NeedsServer(Server.Redis)]
public sealed class RedisIdempotencyStoreTests : IdempotencyStoreContract
{
    protected override (IIdempotencyStore Store, Func<TimeSpan, Task> Elapse) Create() =>
        (new RedisIdempotencyStore(TestRedis.Multiplexer, TestRedis.UniquePrefix()), Task.Delay);
}
