using System.Net;
using System.Text.Json;
using BuildFarm.Client;
using BuildFarm.Contracts;
using BuildFarm.Status;

namespace BuildFarm.Api.Tests;

/// <summary>
/// <c>POST /v1/builds/{id}/rerun</c> and <c>POST /v1/batches/{id}/rerun</c> on the API alone (in-memory bus and store,
/// records changed by the test): what is published, the link to the original, tenants, scopes, conflicts and
/// Idempotency-Key. End to end over RabbitMQ and Redis: BuildFarm.Cli.Tests ControlEndToEndTests.
/// </summary>
public sealed class RerunTests
{
    private const string TeamB = "team-b-key-0123456789abcdef";

    private static ApiFactory Api() => new(new()
    {
        ["Api:Keys:team-b:Key"] = TeamB,
        ["Api:Keys:team-b:Scopes"] = "submit,read,cancel",
    });

    private static string Json(BuildSpec spec) => JsonSerializer.Serialize(spec, BuildFarmJson.Options);

    private static async Task<BuildRecord> FailedBuildAsync(ApiFactory api)
    {
        var build = await api.Client(ApiFactory.SubmitterKey).SubmitBuildAsync(Samples.Build() with { Priority = 2, Deadline = DateTimeOffset.UtcNow.AddMinutes(5) });
        await api.Store.UpdateBuildAsync(build.BuildId, r => new BuildChange(r with
        {
            State = BuildState.Failed, Reason = FailureReasons.StepFailed, Version = r.Version + 1, EndedAt = DateTimeOffset.UtcNow,
        }, "failed"), CancellationToken.None);
        return build;
    }

    [Fact]
    public async Task RerunBuild_Failed_Is202WithLocation_NewBuildLinkedToTheOriginal_Published()
    {
        await using var api = Api();
        var original = await FailedBuildAsync(api);
        using var http = api.Http(ApiFactory.SubmitterKey);

        using var response = await http.PostAsync(new Uri($"/v1/builds/{original.BuildId}/rerun?failed=true", UriKind.Relative), null);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var again = JsonSerializer.Deserialize<BuildRecord>(await response.Content.ReadAsStringAsync(), BuildFarmJson.Options)!;
        Assert.Equal($"/v1/builds/{again.BuildId}", response.Headers.Location?.OriginalString);
        Assert.NotEqual(original.BuildId, again.BuildId);
        Assert.Equal((original.BuildId, BuildState.Queued, 2, (DateTimeOffset?)null), (again.RerunOf, again.State, again.Priority, again.Deadline));
        Assert.Equal(Json(original.Spec), Json(again.Spec));
        Assert.Equal(ApiFactory.Tenant, again.Tenant);
        Assert.Equal(original.BuildId, (await api.Store.GetBuildAsync(again.BuildId, CancellationToken.None))!.RerunOf);
        var published = Assert.Single(api.Published.Of<BuildImage>(), b => b.BuildId == again.BuildId);
        Assert.Equal(Json(original.Spec), Json(published.Spec));
    }

    [Fact]
    public async Task RerunBuild_IdempotencyKey_ReplaysTheSameBuild_AnotherRequestWithItIs422()
    {
        await using var api = Api();
        var original = await FailedBuildAsync(api);
        var client = api.Client(ApiFactory.SubmitterKey);

        var first = await client.RerunBuildAsync(original.BuildId, idempotencyKey: "again-1");
        var replay = await client.RerunBuildAsync(original.BuildId, idempotencyKey: "again-1");
        var other = await Assert.ThrowsAsync<BuildFarmApiException>(() => client.RerunBuildAsync(original.BuildId, failedOnly: true, idempotencyKey: "again-1"));

        Assert.Equal(first.BuildId, replay.BuildId);
        Assert.Single(api.Published.Of<BuildImage>(), b => b.BuildId == first.BuildId);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, other.StatusCode);
    }

    [Fact]
    public async Task RerunBuild_Refusals_NotEnded409_Succeeded409WithFailed_BadFailed400_Reader403_OtherTenant404()
    {
        await using var api = Api();
        var open = await api.Client(ApiFactory.SubmitterKey).SubmitBuildAsync(Samples.Build());
        var done = await api.Client(ApiFactory.SubmitterKey).SubmitBuildAsync(Samples.Build());
        await Samples.ChangeAsync(api.Store, done.BuildId, BuildState.Succeeded, "succeeded", "sha256:" + new string('1', 64));
        var failed = await FailedBuildAsync(api);
        using var http = api.Http(ApiFactory.SubmitterKey);

        var notEnded = await Assert.ThrowsAsync<BuildFarmApiException>(() => api.Client().RerunBuildAsync(open.BuildId));
        var nothingFailed = await Assert.ThrowsAsync<BuildFarmApiException>(() => api.Client().RerunBuildAsync(done.BuildId, failedOnly: true));
        using var badFailed = await http.PostAsync(new Uri($"/v1/builds/{failed.BuildId}/rerun?failed=maybe", UriKind.Relative), null);
        var reader = await Assert.ThrowsAsync<BuildFarmApiException>(() => api.Client(ApiFactory.ReaderKey).RerunBuildAsync(failed.BuildId));
        var otherTenant = await Assert.ThrowsAsync<BuildFarmApiException>(() => api.Client(TeamB).RerunBuildAsync(failed.BuildId));

        Assert.Equal(HttpStatusCode.Conflict, notEnded.StatusCode);
        Assert.Contains("is queued; a build can be run again once it has ended", notEnded.Problem.Detail, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Conflict, nothingFailed.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, badFailed.StatusCode);
        Assert.Contains("\"failed\":[\"'maybe' must be true or false\"]", await badFailed.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, reader.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, otherTenant.StatusCode);
        // A succeeded build may be run again whole; nothing was published for the refusals.
        Assert.Equal(done.BuildId, (await api.Client().RerunBuildAsync(done.BuildId)).RerunOf);
        Assert.Equal(4, api.Published.Of<BuildImage>().Count);
    }

    [Fact]
    public async Task RerunBatch_FailedOnly_PublishesTheFailedPartOnTheReusedDigests_LinkedToTheOriginal()
    {
        await using var api = Api();
        var digest = "sha256:" + new string('b', 64);
        var batch = new BatchRecord
        {
            BatchId = "batch-original",
            Source = "commit abc123",
            Tenant = ApiFactory.Tenant,
            Members = [new BatchMember("base", "base-1"), new BatchMember("app", "app-1"), new BatchMember("tool", "tool-1")],
        };
        StoredBuildRecord Member(string name, BuildState state) => new()
        {
            BuildId = $"{name}-1", BatchId = batch.BatchId, Name = name, Spec = Samples.Spec($"registry.example.com/team/{name}:1"), State = state,
            Tenant = ApiFactory.Tenant, Version = 1,
        };
        await api.Store.CreateBatchAsync(batch,
        [
            Member("base", BuildState.Succeeded) with { Digest = digest },
            Member("app", BuildState.Failed) with
            {
                Reason = FailureReasons.StepFailed, DependsOn = ["base-1"], DependencyBuildArgs = new Dictionary<string, string> { ["BASE_IMAGE"] = "base-1" },
            },
            Member("tool", BuildState.Cancelled),
        ], CancellationToken.None);

        var again = await api.Client(ApiFactory.SubmitterKey).RerunBatchAsync(batch.BatchId, failedOnly: true);
        var replay = await api.Client(ApiFactory.SubmitterKey).RerunBatchAsync(batch.BatchId, failedOnly: true, idempotencyKey: null);

        Assert.Equal(batch.BatchId, again.RerunOf);
        Assert.Equal(["app", "tool"], again.Images.Select(i => i.Name));
        Assert.Equal([new ReusedImage { Name = "base", BuildId = "base-1", Digest = digest }], again.Reused);
        Assert.Equal(ApiFactory.Tenant, again.Tenant);
        var submit = Assert.Single(api.Published.Of<SubmitBatch>(), s => s.BatchId == again.BatchId);
        Assert.Equal(batch.BatchId, (await api.Store.GetBatchAsync(again.BatchId, CancellationToken.None))!.RerunOf);
        var app = submit.Images.Single(i => i.Name == "app");
        Assert.Empty(app.DependsOn);
        Assert.Equal($"registry.example.com/team/base@{digest}", app.Spec.BuildArgs["BASE_IMAGE"]);
        Assert.Equal(BuildState.Queued, again.Images[0].State); // no dependency left to wait for
        Assert.NotEqual(again.BatchId, replay.BatchId); // no Idempotency-Key: a second re-run
        var nothing = await Assert.ThrowsAsync<BuildFarmApiException>(() => api.Client().RerunBatchAsync("batch-unknown"));
        Assert.Equal(HttpStatusCode.NotFound, nothing.StatusCode);
    }
}
