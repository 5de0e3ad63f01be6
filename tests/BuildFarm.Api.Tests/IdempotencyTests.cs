using System.Net;
using System.Net.Http.Json;
using BuildFarm.Client;
using BuildFarm.Contracts;

namespace BuildFarm.Api.Tests;

public sealed class IdempotencyTests
{
    [Fact]
    public async Task SubmitBuild_RetryWithSameKeyAndBody_Is200WithTheSameBuildAndPublishesOnce()
    {
        await using var api = new ApiFactory();
        using var http = api.Http();

        using var first = await PostAsync(http, "/v1/builds", Samples.Build(), "retry-1");
        using var second = await PostAsync(http, "/v1/builds", Samples.Build(), "retry-1");
        var a = await first.Content.ReadFromJsonAsync<BuildRecord>(BuildFarmJson.Options);
        var b = await second.Content.ReadFromJsonAsync<BuildRecord>(BuildFarmJson.Options);

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(a!.BuildId, b!.BuildId);
        Assert.Single(api.Published.Of<BuildImage>());
        Assert.Single((await api.Store.ListBuildsAsync(new(), CancellationToken.None)).Items);
    }

    [Fact]
    public async Task SubmitBuild_SameKeyDifferentBody_Is422AndPublishesNothingNew()
    {
        await using var api = new ApiFactory();
        using var http = api.Http();

        using var first = await PostAsync(http, "/v1/builds", Samples.Build(), "key-a");
        using var second = await PostAsync(http, "/v1/builds", Samples.Build("registry.example.com/team/other:2"), "key-a");

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal((HttpStatusCode)422, second.StatusCode);
        Assert.Equal("application/problem+json", second.Content.Headers.ContentType?.MediaType);
        Assert.Single(api.Published.Of<BuildImage>());
    }

    [Fact]
    public async Task SubmitBuild_SameKeyFromAnotherApiKeyOfTheTenant_ReplaysTheBuild()
    {
        // Idempotency keys are scoped per tenant (another tenant's same key is a new build: TenantTests).
        await using var api = new ApiFactory();

        var a = await api.Client(ApiFactory.AdminKey).SubmitBuildAsync(Samples.Build(), "shared");
        var b = await api.Client(ApiFactory.SubmitterKey).SubmitBuildAsync(Samples.Build(), "shared");

        Assert.Equal(a.BuildId, b.BuildId);
        Assert.Equal("admin", b.RequestedBy);
        Assert.Single(api.Published.Of<BuildImage>());
    }

    [Fact]
    public async Task SubmitBatch_Retry_ReturnsTheSameBatchAndPublishesOneSubmitBatch()
    {
        await using var api = new ApiFactory();
        var client = api.Client();

        var a = await client.SubmitBatchAsync(Samples.Batch(), "batch-retry");
        var b = await client.SubmitBatchAsync(Samples.Batch(), "batch-retry");

        Assert.Equal(a.BatchId, b.BatchId);
        Assert.Equal(a.Images.Select(i => i.BuildId), b.Images.Select(i => i.BuildId));
        Assert.Single(api.Published.Of<SubmitBatch>());
    }

    [Fact]
    public async Task SubmitBatch_KeyUsedForABuild_Is422()
    {
        await using var api = new ApiFactory();
        var client = api.Client();
        await client.SubmitBuildAsync(Samples.Build(), "one-key");

        var error = await Assert.ThrowsAsync<BuildFarmApiException>(() => client.SubmitBatchAsync(Samples.Batch(), "one-key"));

        Assert.Equal((HttpStatusCode)422, error.StatusCode);
        Assert.Empty(api.Published.Of<SubmitBatch>());
    }

    private static Task<HttpResponseMessage> PostAsync<T>(HttpClient http, string path, T body, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body, options: BuildFarmJson.Options) };
        request.Headers.Add("Idempotency-Key", key);
        return http.SendAsync(request);
    }
}
