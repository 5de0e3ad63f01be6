using BuildFarm.Contracts;
using BuildFarm.Status.Hosting;
using BuildFarm.Status.Scheduling;
using BuildFarm.Status.Stores;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace BuildFarm.Status.Tests;

/// <summary>
/// How many records the projector and the orchestrator read over a whole batch's life, counted by a store wrapper:
/// large batches run end to end on the MassTransit test harness, with a stand-in worker that answers each
/// <c>BuildImage</c> with its outcome. The bound is linear in images + dependency edges; a whole-batch read per event
/// (N reads per end event) is far above it.
/// </summary>
public sealed class BatchScaleTests(ITestOutputHelper output)
{
    /// <summary>Reads allowed per (image + dependency edge): the submit's one whole-batch read, then per image its end event
    /// (projector + orchestrator writes, one read of the build), its dependents and each claim.</summary>
    private const int ReadsPerImageAndEdge = 5;

    private static string Unique() => $"scale{Guid.NewGuid().ToString("N")[..8]}";

    private static BatchImage Image(string batch, string name, params string[] dependsOn) => new()
    {
        Name = name,
        BuildId = $"{batch}-{name}",
        Spec = Records.Spec(name),
        DependsOn = [.. dependsOn.Select(d => new BatchDependency(d, "BASE_IMAGE"))],
    };

    private static async Task<(ServiceProvider Provider, ITestHarness Harness, CountingStatusStore Store, InMemoryBuildStatusStore Inner)> StartAsync(
        params string[] failing)
    {
        var inner = new InMemoryBuildStatusStore(TimeProvider.System);
        var counting = new CountingStatusStore(inner);
        var services = new ServiceCollection();
        services.AddLogging();
        // Every host has a configuration; the orchestrator's dispatch reads its Scheduling section (admission off here).
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddBuildFarmBuildDispatch();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<IBuildStatusStore>(counting);
        services.AddSingleton<BuildFarm.Coordination.Scheduling.IImageDurations>(
            new BuildFarm.Coordination.Scheduling.InMemoryImageDurations(new BuildFarm.Coordination.Scheduling.ImageDurationOptions(), TimeProvider.System));
        services.AddSingleton(new StandInWorker.Script(failing));
        services.AddMassTransitTestHarness(x =>
        {
            x.AddBuildFarmStatusConsumers();
            x.AddConsumer<StandInWorker>();
            x.SetTestTimeouts(testTimeout: TimeSpan.FromMinutes(5), testInactivityTimeout: TimeSpan.FromSeconds(1));
        });
        var provider = services.BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        return (provider, harness, counting, inner);
    }

    /// <summary>Runs <paramref name="submit"/> until every build ended and the bus went quiet; the records read meanwhile.</summary>
    private async Task<(long Reads, IReadOnlyList<BuildRecord> Records)> RunAsync(ITestHarness harness, CountingStatusStore store,
        InMemoryBuildStatusStore inner, SubmitBatch submit)
    {
        await harness.Bus.Publish(submit);
        await Eventually.UntilAsync(async () =>
        {
            var records = await inner.GetBatchBuildsAsync(submit.BatchId, CancellationToken.None);
            return records.Count == submit.Images.Count && records.All(r => r.State.IsFinal());
        }, "every build of the batch to end", TimeSpan.FromSeconds(240));
        await harness.InactivityTask;
        var fault = harness.Consumed.Select(m => m.Exception is not null).FirstOrDefault();
        Assert.True(fault is null, $"a consumer faulted on {fault?.MessageType.Name}: {fault?.Exception}");
        output.WriteLine($"{submit.Images.Count} images: {store.RecordsRead} records read");
        return (store.RecordsRead, await inner.GetBatchBuildsAsync(submit.BatchId, CancellationToken.None));
    }

    private static void AssertEachPublishedOnce(ITestHarness harness, IEnumerable<string> buildIds)
    {
        var counts = harness.Published.Select<BuildImage>().GroupBy(m => m.Context.Message.BuildId).ToDictionary(g => g.Key, g => g.Count());
        foreach (var id in buildIds)
        {
            Assert.True(counts.GetValueOrDefault(id) == 1, $"{id} published {counts.GetValueOrDefault(id)} times");
        }
    }

    [Fact]
    public async Task FanOut_OneBaseTwoThousandChildren_ReadsLinearInImagesAndEdges()
    {
        var (provider, harness, store, inner) = await StartAsync();
        await using var _ = provider;
        var batch = Unique();
        var children = Enumerable.Range(0, 2000).Select(i => Image(batch, $"child{i}", "base")).ToList();
        var submit = new SubmitBatch { BatchId = batch, SubmittedAt = Records.T0, Images = [Image(batch, "base"), .. children] };

        var (reads, records) = await RunAsync(harness, store, inner, submit);

        Assert.All(records, r => Assert.Equal(BuildState.Succeeded, r.State));
        AssertEachPublishedOnce(harness, records.Select(r => r.BuildId));
        var pinned = harness.Published.Select<BuildImage>().First(m => m.Context.Message.BuildId == $"{batch}-child1999").Context.Message;
        Assert.Equal($"registry.example.com/team/base@{StandInWorker.DigestOf($"{batch}-base")}", pinned.Spec.BuildArgs["BASE_IMAGE"]);
        long bound = ReadsPerImageAndEdge * (2001 + 2000);
        Assert.True(reads <= bound, $"{reads} records read for 2001 images and 2000 edges; at most {bound} allowed");
    }

    [Fact]
    public async Task Chain_TwoHundredLinks_ReadsLinearInImagesAndEdges()
    {
        var (provider, harness, store, inner) = await StartAsync();
        await using var _ = provider;
        var batch = Unique();
        var submit = new SubmitBatch
        {
            BatchId = batch, SubmittedAt = Records.T0,
            Images = [.. Enumerable.Range(0, 200).Select(i => i == 0 ? Image(batch, "c0") : Image(batch, $"c{i}", $"c{i - 1}"))],
        };

        var (reads, records) = await RunAsync(harness, store, inner, submit);

        Assert.All(records, r => Assert.Equal(BuildState.Succeeded, r.State));
        AssertEachPublishedOnce(harness, records.Select(r => r.BuildId));
        long bound = ReadsPerImageAndEdge * (200 + 199);
        Assert.True(reads <= bound, $"{reads} records read for 200 images and 199 edges; at most {bound} allowed");
    }

    [Fact]
    public async Task Chain_FailsInTheMiddle_RestEndsDependencyFailedNamingIt_ReadsLinear()
    {
        var batch = Unique();
        var (provider, harness, store, inner) = await StartAsync($"{batch}-c100");
        await using var _ = provider;
        var submit = new SubmitBatch
        {
            BatchId = batch, SubmittedAt = Records.T0,
            Images = [.. Enumerable.Range(0, 200).Select(i => i == 0 ? Image(batch, "c0") : Image(batch, $"c{i}", $"c{i - 1}"))],
        };

        var (reads, records) = await RunAsync(harness, store, inner, submit);

        var byName = records.ToDictionary(r => r.Name!);
        Assert.All(Enumerable.Range(0, 100), i => Assert.Equal(BuildState.Succeeded, byName[$"c{i}"].State));
        Assert.Equal(FailureReasons.StepFailed, byName["c100"].Reason);
        Assert.All(Enumerable.Range(101, 99), i => Assert.Equal(
            (BuildState.Failed, FailureReasons.DependencyFailed, $"dependency 'c100' (build {batch}-c100) failed: step_failed"),
            (byName[$"c{i}"].State, byName[$"c{i}"].Reason, byName[$"c{i}"].Detail)));
        Assert.DoesNotContain(harness.Published.Select<BuildImage>(), m => m.Context.Message.BuildId == $"{batch}-c101");
        Assert.All(Enumerable.Range(101, 99), i => Assert.Single(harness.Published.Select<BuildFailed>(), m => m.Context.Message.BuildId == $"{batch}-c{i}"));
        long bound = ReadsPerImageAndEdge * (200 + 199);
        Assert.True(reads <= bound, $"{reads} records read for 200 images and 199 edges; at most {bound} allowed");
    }
}

/// <summary>Answers each <see cref="BuildImage"/> as a worker would: <c>BuildSucceeded</c> (a digest made from the build id) or, for the scripted ids, <c>BuildFailed</c>.</summary>
public sealed class StandInWorker(StandInWorker.Script script) : IConsumer<BuildImage>
{
    public sealed record Script(IReadOnlyCollection<string> Failing);

    public static string DigestOf(string buildId) => "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(buildId)));

    public Task Consume(ConsumeContext<BuildImage> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var build = context.Message;
        return script.Failing.Contains(build.BuildId)
            ? context.Publish(new BuildFailed { BuildId = build.BuildId, BatchId = build.BatchId, Reason = FailureReasons.StepFailed, Attempts = 1, At = Records.T0 })
            : context.Publish(new BuildSucceeded { BuildId = build.BuildId, BatchId = build.BatchId, Digest = DigestOf(build.BuildId), Attempts = 1, At = Records.T0 });
    }
}

/// <summary>A store that counts the build records read through it (each update reads the record it changes).</summary>
public sealed class CountingStatusStore(IBuildStatusStore inner) : IBuildStatusStore
{
    private long _recordsRead;

    public long RecordsRead => Interlocked.Read(ref _recordsRead);

    public Task<bool> CreateBatchAsync(BatchRecord batch, IReadOnlyList<BuildRecord> builds, CancellationToken cancellationToken) =>
        inner.CreateBatchAsync(batch, builds, cancellationToken);

    public Task<bool> CreateBuildAsync(BuildRecord build, CancellationToken cancellationToken) => inner.CreateBuildAsync(build, cancellationToken);

    public Task<BuildRecord?> GetBuildAsync(string buildId, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _recordsRead);
        return inner.GetBuildAsync(buildId, cancellationToken);
    }

    public Task<IReadOnlyList<BuildRecord?>> GetBuildsAsync(IReadOnlyList<string> buildIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(buildIds);
        Interlocked.Add(ref _recordsRead, buildIds.Count);
        return inner.GetBuildsAsync(buildIds, cancellationToken);
    }

    public Task<BatchRecord?> GetBatchAsync(string batchId, CancellationToken cancellationToken) => inner.GetBatchAsync(batchId, cancellationToken);

    public async Task<IReadOnlyList<BuildRecord>> GetBatchBuildsAsync(string batchId, CancellationToken cancellationToken)
    {
        var records = await inner.GetBatchBuildsAsync(batchId, cancellationToken);
        Interlocked.Add(ref _recordsRead, records.Count);
        return records;
    }

    public async Task<BuildPage> ListBuildsAsync(BuildQuery query, CancellationToken cancellationToken)
    {
        var page = await inner.ListBuildsAsync(query, cancellationToken);
        Interlocked.Add(ref _recordsRead, page.Items.Count);
        return page;
    }

    public Task<BuildChange?> UpdateBuildAsync(string buildId, Func<BuildRecord, BuildChange?> update, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _recordsRead);
        return inner.UpdateBuildAsync(buildId, update, cancellationToken);
    }

    public Task DeleteAsync(string? batchId, IReadOnlyList<string> buildIds, CancellationToken cancellationToken) =>
        inner.DeleteAsync(batchId, buildIds, cancellationToken);

    public IAsyncEnumerable<BuildChange> SubscribeAsync(string? buildId, string? batchId, CancellationToken cancellationToken) =>
        inner.SubscribeAsync(buildId, batchId, cancellationToken);
}
