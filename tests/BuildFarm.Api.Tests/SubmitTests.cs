using System.Net;
using System.Net.Http.Json;
using BuildFarm.Client;
using BuildFarm.Contracts;
using BuildFarm.Status;

namespace BuildFarm.Api.Tests;

public sealed class SubmitTests
{
    [Fact]
    public async Task SubmitBuild_Valid_Is202WithLocationStoresQueuedAndPublishesBuildImageAndBuildQueued()
    {
        await using var api = new ApiFactory();
        using var http = api.Http();
        var deadline = DateTimeOffset.UtcNow.AddHours(1);

        using var response = await http.PostAsJsonAsync(new Uri("/v1/builds", UriKind.Relative), Samples.Build() with { Deadline = deadline, Priority = 3 }, BuildFarmJson.Options);
        var record = await response.Content.ReadFromJsonAsync<BuildRecord>(BuildFarmJson.Options);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal($"/v1/builds/{record!.BuildId}", response.Headers.Location?.ToString());
        Assert.Equal(BuildState.Queued, record.State);
        Assert.Equal(1, record.Version);
        Assert.Equal(BuildState.Queued, (await api.Store.GetBuildAsync(record.BuildId, CancellationToken.None))!.State);
        await Eventually.UntilAsync(() => api.Published.Of<BuildQueued>().Count == 1, "BuildQueued");
        var command = Assert.Single(api.Published.Of<BuildImage>());
        Assert.Equal(record.BuildId, command.BuildId);
        Assert.Equal(3, command.Priority);
        Assert.Equal(deadline, command.Deadline);
        Assert.Equal("admin", command.RequestedBy);
        Assert.Equal(64, Assert.Single(api.Published.Of<BuildQueued>()).BuildKey.Length);
    }

    [Fact]
    public async Task SubmitBatch_Valid_StoresWaitingAndQueuedMembersAndPublishesOneSubmitBatch()
    {
        await using var api = new ApiFactory();
        var client = api.Client();

        var status = await client.SubmitBatchAsync(Samples.Batch());

        Assert.Equal(4, status.Total);
        Assert.Equal(2, status.Counts["queued"]);
        Assert.Equal(2, status.Counts["waiting"]);
        Assert.False(status.Done);
        var message = Assert.Single(api.Published.Messages);
        var batch = Assert.IsType<SubmitBatch>(message);
        Assert.Equal(status.BatchId, batch.BatchId);
        Assert.Equal(["base", "app", "web", "tool"], batch.Images.Select(i => i.Name));
        Assert.Equal(status.Images.Select(i => i.BuildId), batch.Images.Select(i => i.BuildId));
        Assert.Equal(new BatchDependency("base", "BASE_IMAGE"), Assert.Single(batch.Images[1].DependsOn));
        var app = await client.GetBuildAsync(status.Images[1].BuildId);
        Assert.Equal(BuildState.Waiting, app.State);
        Assert.Equal([status.Images[0].BuildId], app.DependsOn);
        Assert.Equal(status.BatchId, app.BatchId);
        Assert.Equal("app", app.Name);
    }

    [Fact]
    public async Task GetBatch_AfterChanges_CountsByStateWithDigestAndAttempt()
    {
        await using var api = new ApiFactory();
        var client = api.Client();
        var status = await client.SubmitBatchAsync(Samples.Batch());
        var baseId = status.Images[0].BuildId;
        await api.Store.UpdateBuildAsync(baseId, r => new BuildChange(r with
        {
            State = BuildState.Succeeded,
            Digest = "sha256:" + new string('1', 64),
            Attempts = [new AttemptRecord { Attempt = 1, Pod = "bf-x-1" }],
        }, "succeeded"), CancellationToken.None);

        var after = await client.GetBatchAsync(status.BatchId);

        Assert.Equal(1, after.Counts["succeeded"]);
        Assert.Equal(1, after.Counts["queued"]);
        var image = after.Images.Single(i => i.Name == "base");
        Assert.Equal(BuildState.Succeeded, image.State);
        Assert.Equal(1, image.Attempt);
        Assert.Equal("sha256:" + new string('1', 64), image.Digest);
    }

    [Fact]
    public async Task ListBuilds_ByStateAndBatchWithPaging_ReturnsEachBuildOnce()
    {
        await using var api = new ApiFactory();
        var client = api.Client();
        var batch = await client.SubmitBatchAsync(Samples.Batch());
        var single = await client.SubmitBuildAsync(Samples.Build());

        var waiting = await client.ListBuildsAsync(state: BuildState.Waiting);
        var seen = new List<string>();
        string? next = null;
        do
        {
            var page = await client.ListBuildsAsync(batchId: batch.BatchId, limit: 3, continueToken: next);
            Assert.True(page.Items.Count <= 3);
            seen.AddRange(page.Items.Select(b => b.BuildId));
            next = page.Continue;
        }
        while (next is not null);

        Assert.Equal(2, waiting.Items.Count);
        Assert.All(waiting.Items, b => Assert.Equal(BuildState.Waiting, b.State));
        Assert.Equal(batch.Images.Select(i => i.BuildId).Order(), seen.Order());
        Assert.DoesNotContain(single.BuildId, seen);
    }

    [Fact]
    public async Task ListBuilds_BadStateOrLimit_Is400NamingTheParameter()
    {
        await using var api = new ApiFactory();

        using var http = api.Http();
        using var response = await http.GetAsync(new Uri("/v1/builds?state=done&limit=0", UriKind.Relative));
        var problem = await response.Content.ReadFromJsonAsync<ApiProblem>(BuildFarmJson.Options);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("state", problem!.Errors.Keys);
        Assert.Contains("limit", problem.Errors.Keys);
    }

    [Fact]
    public async Task GetBuild_Unknown_Is404Problem()
    {
        await using var api = new ApiFactory();

        var error = await Assert.ThrowsAsync<BuildFarmApiException>(() => api.Client().GetBuildAsync("b-unknown"));

        Assert.Equal(HttpStatusCode.NotFound, error.StatusCode);
        Assert.Contains("b-unknown", error.Problem.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancel_RunningBuild_Is202AndPublishesCancelBuild()
    {
        await using var api = new ApiFactory();
        var client = api.Client();
        var build = await client.SubmitBuildAsync(Samples.Build());

        var answer = await client.CancelBuildAsync(build.BuildId);

        Assert.Equal(build.BuildId, answer.BuildId);
        var cancel = Assert.Single(api.Published.Of<CancelBuild>());
        Assert.Equal(build.BuildId, cancel.BuildId);
        Assert.Equal("admin", cancel.RequestedBy);
    }

    [Fact]
    public async Task Cancel_UnknownIs404_FinalIs409()
    {
        await using var api = new ApiFactory();
        var client = api.Client();
        var build = await client.SubmitBuildAsync(Samples.Build());
        await Samples.ChangeAsync(api.Store, build.BuildId, BuildState.Succeeded, "succeeded");

        var unknown = await Assert.ThrowsAsync<BuildFarmApiException>(() => client.CancelBuildAsync("b-nope"));
        var final = await Assert.ThrowsAsync<BuildFarmApiException>(() => client.CancelBuildAsync(build.BuildId));

        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, final.StatusCode);
        Assert.Empty(api.Published.Of<CancelBuild>());
    }
}
