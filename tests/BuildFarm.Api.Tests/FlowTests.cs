using System.Collections.Concurrent;
using BuildFarm.Client;
using BuildFarm.Contracts;
using BuildFarm.Status;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace BuildFarm.Api.Tests;

/// <summary>
/// The API host as deployed: with the status projector and batch orchestrator (BuildFarm.Status) on its in-memory bus.
/// The test plays the worker: it consumes nothing and publishes the events a worker would.
/// </summary>
public sealed class FlowTests
{
    [Fact]
    public async Task Batch_WithHostedConsumers_ReleasesDependentsWithPinnedReferenceAndEndsOnFailure()
    {
        await using var api = new ApiFactory(new() { ["Api:HostStatusConsumers"] = "true" });
        var client = api.Client();
        var bus = api.Services.GetRequiredService<IBus>();
        var batch = await client.SubmitBatchAsync(Samples.Batch());
        var id = batch.Images.ToDictionary(i => i.Name, i => i.BuildId);
        var events = new ConcurrentQueue<BuildEvent>();
        var reading = Task.Run(async () =>
        {
            await foreach (var e in client.StreamBatchEventsAsync(batch.BatchId))
            {
                events.Enqueue(e);
            }
        });

        // The orchestrator publishes the images without dependencies at once.
        await Eventually.UntilAsync(() => Released(api).Contains(id["base"]) && Released(api).Contains(id["tool"]), "base and tool published");
        Assert.DoesNotContain(id["app"], Released(api));

        var digest = "sha256:" + new string('b', 64);
        await bus.Publish(new BuildStarted { BuildId = id["base"], BatchId = batch.BatchId, Attempt = 1, Pod = $"bf-{id["base"]}-1", At = DateTimeOffset.UtcNow });
        await bus.Publish(new BuildSucceeded
        {
            BuildId = id["base"], BatchId = batch.BatchId, Digest = digest, Pushed = [$"registry.example.com/team/base@{digest}"], Attempts = 1, At = DateTimeOffset.UtcNow,
        });

        // base succeeded → app goes out with BASE_IMAGE pinned to exactly what base pushed.
        await Eventually.UntilAsync(() => Released(api).Contains(id["app"]), "app published after base succeeded");
        var app = api.Published.Of<BuildImage>().Single(b => b.BuildId == id["app"]);
        Assert.Equal($"registry.example.com/team/base@{digest}", app.Spec.BuildArgs["BASE_IMAGE"]);
        var baseRecord = await client.GetBuildAsync(id["base"]);
        Assert.Equal(BuildState.Succeeded, baseRecord.State);
        Assert.Equal(digest, baseRecord.Digest);

        await bus.Publish(new BuildFailed { BuildId = id["app"], BatchId = batch.BatchId, Reason = FailureReasons.StepFailed, Attempts = 1, At = DateTimeOffset.UtcNow });
        await bus.Publish(new BuildSucceeded { BuildId = id["tool"], BatchId = batch.BatchId, Digest = "sha256:" + new string('c', 64), Attempts = 1, At = DateTimeOffset.UtcNow });
        await reading.WaitAsync(TimeSpan.FromSeconds(20));

        var status = await client.GetBatchAsync(batch.BatchId);
        Assert.True(status.Done);
        Assert.False(status.Succeeded);
        Assert.Equal("dependency_failed", status.Images.Single(i => i.Name == "web").Reason);
        Assert.DoesNotContain(id["web"], Released(api));
        Assert.Equal(BuildEvent.End, events.Last().Event);
        Assert.Contains(events, e => e.Record?.BuildId == id["web"] && e.Record.State == BuildState.Failed);
    }

    [Fact]
    public async Task Batch_OrchestratorState_StoredButNeverAnswered()
    {
        await using var api = new ApiFactory(new() { ["Api:HostStatusConsumers"] = "true" });
        var batch = await api.Client().SubmitBatchAsync(Samples.Batch());
        var id = batch.Images.ToDictionary(i => i.Name, i => i.BuildId);
        await Eventually.UntilAsync(() => Released(api).Contains(id["base"]), "base published");

        // The orchestrator's own state is in the store: the claim and the reverse edges of base, the build arg of app.
        var stored = Assert.IsType<StoredBuildRecord>(await api.Store.GetBuildAsync(id["base"], CancellationToken.None));
        Assert.NotNull(stored.ReleasedBy);
        Assert.Contains(id["app"], stored.Dependents!);
        Assert.NotNull(stored.PathSeconds);
        Assert.NotEmpty(Assert.IsType<StoredBuildRecord>(await api.Store.GetBuildAsync(id["app"], CancellationToken.None)).DependencyBuildArgs);

        // ...and in none of the API's answers: one build, the list, a cancel.
        using var http = api.Http();
        string[] answers =
        [
            await http.GetStringAsync($"/v1/builds/{id["base"]}"),
            await http.GetStringAsync($"/v1/builds/{id["app"]}"),
            await http.GetStringAsync($"/v1/builds?batch={batch.BatchId}"),
            await (await http.DeleteAsync($"/v1/builds/{id["app"]}")).Content.ReadAsStringAsync(),
        ];
        foreach (var json in answers)
        {
            Assert.Contains(id["base"][..8], json, StringComparison.Ordinal);
            foreach (var field in new[] { "dependents", "releasedBy", "dependencyBuildArgs", "pathSeconds" })
            {
                Assert.DoesNotContain($"\"{field}\"", json, StringComparison.OrdinalIgnoreCase);
            }
        }
    }

    [Fact]
    public async Task Build_WithHostedConsumers_RecordFollowsTheWorkerEvents()
    {
        await using var api = new ApiFactory(new() { ["Api:HostStatusConsumers"] = "true" });
        var client = api.Client();
        var bus = api.Services.GetRequiredService<IBus>();
        var build = await client.SubmitBuildAsync(Samples.Build());

        await bus.Publish(new BuildStarted { BuildId = build.BuildId, Attempt = 1, Pod = $"bf-{build.BuildId}-1", At = DateTimeOffset.UtcNow });
        await bus.Publish(new BuildAttemptFailed
        {
            BuildId = build.BuildId, Attempt = 1, Reason = FailureReasons.ConnectionReset, Transient = true, RetryAt = DateTimeOffset.UtcNow.AddSeconds(2), At = DateTimeOffset.UtcNow,
        });
        var retrying = await client.StreamBuildEventsAsync(build.BuildId).FirstAsync(e => e.Record?.State == BuildState.Retrying)
            .AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        await bus.Publish(new BuildCancelled { BuildId = build.BuildId, RequestedBy = "admin", Attempts = 1, At = DateTimeOffset.UtcNow });
        await Eventually.UntilAsync(() => client.GetBuildAsync(build.BuildId).GetAwaiter().GetResult().State == BuildState.Cancelled, "the cancelled record");

        var record = await client.GetBuildAsync(build.BuildId);
        Assert.Equal("connection_reset", Assert.Single(record.Attempts).Reason);
        Assert.Equal(FailureReasons.ConnectionReset, Assert.Single(retrying.Record!.Attempts).Reason);
    }

    [Fact]
    public async Task Cancel_WaitingBatchImage_EndsItCancelledWithoutAWorker()
    {
        await using var api = new ApiFactory(new() { ["Api:HostStatusConsumers"] = "true" });
        var client = api.Client();
        var batch = await client.SubmitBatchAsync(Samples.Batch());
        var web = batch.Images.Single(i => i.Name == "web").BuildId;

        await client.CancelBuildAsync(web);
        await Eventually.UntilAsync(() => client.GetBuildAsync(web).GetAwaiter().GetResult().State == BuildState.Cancelled, "web cancelled");

        Assert.Equal(web, Assert.Single(api.Published.Of<CancelBuild>()).BuildId);
        Assert.DoesNotContain(web, Released(api));
        Assert.NotEqual(BuildState.Cancelled, (await client.GetBuildAsync(batch.Images.Single(i => i.Name == "base").BuildId)).State);
    }

    [Fact]
    public async Task Cancel_WaitingBatchImage_AnswersTheRecordAfterTheCancel()
    {
        // No status consumers: only the API itself can have recorded the cancel by the time it answers.
        await using var api = new ApiFactory();
        var client = api.Client();
        var batch = await client.SubmitBatchAsync(Samples.Batch());
        var web = batch.Images.Single(i => i.Name == "web").BuildId;
        Assert.Equal(BuildState.Waiting, (await client.GetBuildAsync(web)).State);

        var answer = await client.CancelBuildAsync(web);
        var stored = await client.GetBuildAsync(web);

        Assert.Equal(BuildState.Cancelled, answer.State);
        Assert.Equal(FailureReasons.Cancelled, answer.Reason);
        Assert.Equal(2, answer.Version);
        Assert.Equal(stored.Version, answer.Version);
        Assert.Equal(BuildState.Cancelled, stored.State);
        Assert.Equal(web, Assert.Single(api.Published.Of<BuildCancelled>()).BuildId);
        var again = await Assert.ThrowsAsync<BuildFarmApiException>(() => client.CancelBuildAsync(web));
        Assert.Equal(System.Net.HttpStatusCode.Conflict, again.StatusCode);
    }

    [Fact]
    public async Task Cancel_QueuedBuild_AnswersTheStoredRecordWhileTheWorkerStopsIt()
    {
        await using var api = new ApiFactory();
        var client = api.Client();
        var build = await client.SubmitBuildAsync(Samples.Build());

        var answer = await client.CancelBuildAsync(build.BuildId);

        Assert.Equal(BuildState.Queued, answer.State);
        Assert.Equal((await client.GetBuildAsync(build.BuildId)).Version, answer.Version);
        Assert.Empty(api.Published.Of<BuildCancelled>());
    }

    private static HashSet<string> Released(ApiFactory api) => [.. api.Published.Of<BuildImage>().Select(b => b.BuildId)];
}

public sealed class SchedulerHostingTests
{
    [Fact]
    public async Task Scheduler_EnabledByConfig_RunsInTheApiHost_OtherwiseAbsent()
    {
        await using var with = new ApiFactory(new()
        {
            ["Scheduler:Enabled"] = "true",
            ["Scheduler:ManifestYaml"] = "images:\n  - name: base\n    context: git://github.com/acme/m.git\n    destinations: [registry.example.com/acme/base:nightly]\n    schedule: \"0 3 * * *\"\n",
        });
        await using var without = new ApiFactory();

        var running = with.Services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().OfType<BuildFarm.Manifests.Scheduling.ManifestScheduler>();
        var absent = without.Services.GetService<BuildFarm.Manifests.Scheduling.ManifestScheduler>();

        Assert.Single(running);
        Assert.Null(absent);
    }
}
