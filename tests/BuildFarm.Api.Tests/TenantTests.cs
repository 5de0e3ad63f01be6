using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using BuildFarm.Client;
using BuildFarm.Contracts;

namespace BuildFarm.Api.Tests;

/// <summary>
/// Two tenants' keys on one API: a key of team-a never reads, lists, streams or cancels team-b's builds and batches
/// (404, as for an unknown id), an admin key does, and idempotency keys are per tenant.
/// </summary>
public sealed class TenantTests
{
    private const string A1 = "team-a-one-0123456789abcdef";
    private const string A2 = "team-a-two-0123456789abcdef";
    private const string B = "team-b-key-0123456789abcdef";
    private const string Ops = "ops-admin-0123456789abcdef";

    private static ApiFactory Api(Dictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["Api:Keys:a1:Key"] = A1,
            ["Api:Keys:a1:Scopes"] = "submit,read,cancel",
            ["Api:Keys:a1:Tenant"] = "team-a",
            ["Api:Keys:a2:Key"] = A2,
            ["Api:Keys:a2:Scopes"] = "submit,read",
            ["Api:Keys:a2:Tenant"] = "team-a",
            // No Tenant: the key's name is its tenant.
            ["Api:Keys:team-b:Key"] = B,
            ["Api:Keys:team-b:Scopes"] = "submit,read,cancel",
            ["Api:Keys:ops:Key"] = Ops,
            ["Api:Keys:ops:Scopes"] = "read,cancel,admin",
        };
        foreach (var (key, value) in more ?? [])
        {
            settings[key] = value;
        }
        return new ApiFactory(settings);
    }

    [Fact]
    public async Task Read_AnotherTenantsBuild_Is404LikeAnUnknownId_OwnTenantAndAdminRead()
    {
        await using var api = Api();
        var theirs = await api.Client(B).SubmitBuildAsync(Samples.Build());
        var ours = await api.Client(A1).SubmitBuildAsync(Samples.Build());

        var foreign = await Assert.ThrowsAsync<BuildFarmApiException>(() => api.Client(A1).GetBuildAsync(theirs.BuildId));
        var unknown = await Assert.ThrowsAsync<BuildFarmApiException>(() => api.Client(A1).GetBuildAsync("build-000000000000"));
        var sameTenant = await api.Client(A2).GetBuildAsync(ours.BuildId);
        var admin = await api.Client(Ops).GetBuildAsync(theirs.BuildId);

        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
        Assert.Equal(unknown.Problem.Title, foreign.Problem.Title);
        Assert.Equal(unknown.Problem.Detail!.Replace("build-000000000000", theirs.BuildId, StringComparison.Ordinal), foreign.Problem.Detail);
        Assert.Equal(("team-a", "a1"), (sameTenant.Tenant, sameTenant.RequestedBy));
        Assert.Equal(("team-b", "team-b"), (admin.Tenant, admin.RequestedBy));
    }

    [Fact]
    public async Task Submit_TenantInTheBody_IgnoredTheKeyDecides()
    {
        await using var api = Api();
        using var http = api.Http(A1);
        var body = """{"spec": {"context": "git://github.com/acme/monorepo.git#main", "destinations": ["registry.example.com/team/app:1"]}, "tenant": "team-b"}""";

        using var response = await http.PostAsync(new Uri("/v1/builds", UriKind.Relative), new StringContent(body, Encoding.UTF8, "application/json"));
        var record = JsonSerializer.Deserialize<BuildRecord>(await response.Content.ReadAsStringAsync(), BuildFarmJson.Options)!;

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal("team-a", record.Tenant);
        Assert.Equal("team-a", (await api.Store.GetBuildAsync(record.BuildId, CancellationToken.None))!.Tenant);
        await Assert.ThrowsAsync<BuildFarmApiException>(() => api.Client(B).GetBuildAsync(record.BuildId));
    }

    [Fact]
    public async Task List_OnlyOwnTenant_PagesFull_AdminSeesAllOrOneTenant()
    {
        await using var api = Api();
        var ours = new List<string>();
        var theirs = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            // Interleaved, so that a filter applied after the store's page would leave holes.
            ours.Add((await api.Client(A1).SubmitBuildAsync(Samples.Build())).BuildId);
            theirs.Add((await api.Client(B).SubmitBuildAsync(Samples.Build())).BuildId);
        }

        var pages = new List<IReadOnlyList<BuildRecord>>();
        string? next = null;
        do
        {
            var page = await api.Client(A2).ListBuildsAsync(limit: 2, continueToken: next);
            pages.Add(page.Items);
            next = page.Continue;
        }
        while (next is not null && pages.Count < 10);
        var all = await api.Client(Ops).ListBuildsAsync(limit: 100);
        var onlyB = await api.Client(Ops).ListBuildsAsync(tenant: "team-b", limit: 100);
        var bOwn = await api.Client(B).ListBuildsAsync(tenant: "team-b", limit: 100);
        var denied = await Assert.ThrowsAsync<BuildFarmApiException>(() => api.Client(A1).ListBuildsAsync(tenant: "team-b"));
        var invalid = await Assert.ThrowsAsync<BuildFarmApiException>(() => api.Client(A1).ListBuildsAsync(tenant: "team:b"));

        Assert.Equal([2, 2, 1], pages.Select(p => p.Count));
        Assert.Equal(ours.AsEnumerable().Reverse(), pages.SelectMany(p => p).Select(b => b.BuildId));
        Assert.Equal(10, all.Items.Count);
        Assert.Equal(theirs.AsEnumerable().Reverse(), onlyB.Items.Select(b => b.BuildId));
        Assert.Equal(theirs.AsEnumerable().Reverse(), bOwn.Items.Select(b => b.BuildId));
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        Assert.Contains("tenant", invalid.Problem.Errors.Keys);
    }

    [Fact]
    public async Task Stream_AnotherTenantsBuildOrBatch_Is404_AdminStreams()
    {
        await using var api = Api();
        var build = await api.Client(B).SubmitBuildAsync(Samples.Build());
        var batch = await api.Client(B).SubmitBatchAsync(Samples.Batch());
        using var http = api.Http(A1);

        using var buildStream = await http.GetAsync(new Uri($"/v1/builds/{build.BuildId}/events", UriKind.Relative), HttpCompletionOption.ResponseHeadersRead);
        using var batchStream = await http.GetAsync(new Uri($"/v1/batches/{batch.BatchId}/events", UriKind.Relative), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.NotFound, buildStream.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, batchStream.StatusCode);
        Assert.Equal("application/problem+json", buildStream.Content.Headers.ContentType?.MediaType);

        var events = new ConcurrentQueue<BuildEvent>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var reading = Task.Run(async () =>
        {
            await foreach (var e in api.Client(Ops).StreamBuildEventsAsync(build.BuildId, cts.Token))
            {
                events.Enqueue(e);
            }
        });
        await Eventually.UntilAsync(() => !events.IsEmpty, "the admin's snapshot");
        await Samples.ChangeAsync(api.Store, build.BuildId, BuildState.Succeeded, "succeeded", "sha256:" + new string('3', 64));
        await reading.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["snapshot", "succeeded", "end"], events.Select(e => e.Event));
        Assert.All(events.Where(e => e.Record is not null), e => Assert.Equal("team-b", e.Record!.Tenant));
    }

    [Fact]
    public async Task Cancel_AnotherTenantsBuild_Is404AndPublishesNothing_AdminCancels()
    {
        await using var api = Api();
        var theirs = await api.Client(B).SubmitBuildAsync(Samples.Build());

        var foreign = await Assert.ThrowsAsync<BuildFarmApiException>(() => api.Client(A1).CancelBuildAsync(theirs.BuildId));
        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
        Assert.Empty(api.Published.Of<CancelBuild>());
        Assert.Equal(BuildState.Queued, (await api.Store.GetBuildAsync(theirs.BuildId, CancellationToken.None))!.State);

        await api.Client(Ops).CancelBuildAsync(theirs.BuildId);
        await Eventually.UntilAsync(() => api.Published.Of<CancelBuild>().Count == 1, "the admin's CancelBuild");
        Assert.Equal((theirs.BuildId, "ops"), (api.Published.Of<CancelBuild>()[0].BuildId, api.Published.Of<CancelBuild>()[0].RequestedBy));
    }

    [Fact]
    public async Task Batch_AnotherTenantsBatch_ReadListCancelAre404OrEmpty_OwnerCancelsItsBuilds()
    {
        await using var api = Api();
        var batch = await api.Client(B).SubmitBatchAsync(Samples.Batch());

        var read = await Assert.ThrowsAsync<BuildFarmApiException>(() => api.Client(A1).GetBatchAsync(batch.BatchId));
        var cancel = await Assert.ThrowsAsync<BuildFarmApiException>(() => api.Client(A1).CancelBatchAsync(batch.BatchId));
        var listed = await api.Client(A1).ListBuildsAsync(batchId: batch.BatchId);
        var member = await Assert.ThrowsAsync<BuildFarmApiException>(() => api.Client(A1).GetBuildAsync(batch.Images[0].BuildId));
        Assert.Equal(HttpStatusCode.NotFound, read.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, cancel.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, member.StatusCode);
        Assert.Empty(listed.Items);
        Assert.Empty(api.Published.Of<CancelBuild>());
        Assert.Equal("team-b", batch.Tenant);
        Assert.Equal("team-b", api.Published.Of<SubmitBatch>().Single().Tenant);
        Assert.Equal(4, (await api.Client(B).ListBuildsAsync(batchId: batch.BatchId)).Items.Count);

        var cancelled = await api.Client(B).CancelBatchAsync(batch.BatchId);
        await Eventually.UntilAsync(() => api.Published.Of<CancelBuild>().Count == 4, "a CancelBuild per build of the batch");
        Assert.Equal(batch.BatchId, cancelled.BatchId);
        Assert.Equal(batch.Images.Select(i => i.BuildId).Order(StringComparer.Ordinal),
            api.Published.Of<CancelBuild>().Select(c => c.BuildId).Order(StringComparer.Ordinal));
        // The waiting images (no worker has them) also get their BuildCancelled from the API.
        Assert.Equal(2, api.Published.Of<BuildCancelled>().Count);

        foreach (var image in batch.Images)
        {
            await Samples.ChangeAsync(api.Store, image.BuildId, BuildState.Cancelled, "cancelled");
        }
        var ended = await Assert.ThrowsAsync<BuildFarmApiException>(() => api.Client(B).CancelBatchAsync(batch.BatchId));
        Assert.Equal(HttpStatusCode.Conflict, ended.StatusCode);
    }

    [Fact]
    public async Task Idempotency_SameKeyInTwoTenants_TwoBuilds_SharedWithinATenant()
    {
        await using var api = Api();

        var a = await api.Client(A1).SubmitBuildAsync(Samples.Build(), idempotencyKey: "ci-run-1");
        var b = await api.Client(B).SubmitBuildAsync(Samples.Build(), idempotencyKey: "ci-run-1");
        var aAgain = await api.Client(A2).SubmitBuildAsync(Samples.Build(), idempotencyKey: "ci-run-1");
        var batchA = await api.Client(A1).SubmitBatchAsync(Samples.Batch(), idempotencyKey: "ci-batch-1");
        var batchB = await api.Client(B).SubmitBatchAsync(Samples.Batch(), idempotencyKey: "ci-batch-1");

        Assert.NotEqual(a.BuildId, b.BuildId);
        Assert.Equal(("team-a", "team-b"), (a.Tenant, b.Tenant));
        Assert.Equal(a.BuildId, aAgain.BuildId); // every key of a tenant shares its idempotency keys
        Assert.NotEqual(batchA.BatchId, batchB.BatchId);
        Assert.Equal(("team-a", "team-b"), (batchA.Tenant, batchB.Tenant));
        Assert.Equal(2, api.Published.Of<BuildImage>().Count);
    }

    [Fact]
    public async Task RecordWithoutTenant_FromBeforeTenants_OnlyAdminSeesIt()
    {
        await using var api = Api();
        var legacy = new BuildRecord
        {
            BuildId = "build-legacy00000a",
            Spec = Samples.Spec(),
            State = BuildState.Running,
            RequestedBy = "team-a",
            SubmittedAt = DateTimeOffset.UtcNow,
        };
        await api.Store.CreateBuildAsync(legacy, CancellationToken.None);

        var hidden = await Assert.ThrowsAsync<BuildFarmApiException>(() => api.Client(A1).GetBuildAsync(legacy.BuildId));
        var cancel = await Assert.ThrowsAsync<BuildFarmApiException>(() => api.Client(A1).CancelBuildAsync(legacy.BuildId));

        Assert.Equal(HttpStatusCode.NotFound, hidden.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, cancel.StatusCode);
        Assert.Empty((await api.Client(A1).ListBuildsAsync()).Items);
        Assert.Null((await api.Client(Ops).GetBuildAsync(legacy.BuildId)).Tenant);
        Assert.Single((await api.Client(Ops).ListBuildsAsync()).Items);
    }

    // A bad tenant in the key configuration stops the API at start: ApiStartupTests.Api_UnusableKey_ExitsWithOneLineNamingTheSetting.

    [Fact]
    public async Task Metrics_NoTenantLabelByDefault_OptInAddsIt()
    {
        // Every host in this process exports every "BuildFarm.Api" meter (OpenTelemetry listens by meter name) and no other
        // test turns the label on: until the labelled host counts a submit, no series anywhere has a tenant label.
        await using var plain = Api();
        await using var labelled = Api(new() { ["Api:Metrics:TenantLabel"] = "true" });
        await plain.Client(A1).SubmitBuildAsync(Samples.Build());
        var plainLines = await SubmittedLinesAsync(plain, _ => true);
        Assert.DoesNotContain(plainLines, l => l.Contains("tenant=", StringComparison.Ordinal));

        await labelled.Client(A1).SubmitBuildAsync(Samples.Build());
        var labelledLines = await SubmittedLinesAsync(labelled, l => l.Contains("tenant=\"team-a\"", StringComparison.Ordinal));

        Assert.Contains(labelledLines, l => l.Contains("kind=\"single\"", StringComparison.Ordinal) && l.Contains("tenant=\"team-a\"", StringComparison.Ordinal));
    }

    /// <summary>The <c>buildfarm_api_builds_submitted_total</c> lines of /metrics, once one of them matches <paramref name="wanted"/>.</summary>
    private static async Task<IReadOnlyList<string>> SubmittedLinesAsync(ApiFactory api, Func<string, bool> wanted)
    {
        using var http = api.Http(apiKey: null);
        IReadOnlyList<string> lines = [];
        await Eventually.UntilAsync(() =>
        {
            var text = http.GetStringAsync(new Uri("/metrics", UriKind.Relative)).GetAwaiter().GetResult();
            lines = [.. text.Split('\n').Where(l => l.StartsWith("buildfarm_api_builds_submitted_total{", StringComparison.Ordinal))];
            return lines.Any(wanted);
        }, "buildfarm_api_builds_submitted_total in /metrics");
        return lines;
    }
}
