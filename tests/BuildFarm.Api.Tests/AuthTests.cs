using System.Net;
using System.Net.Http.Json;
using BuildFarm.Client;

namespace BuildFarm.Api.Tests;

public sealed class AuthTests
{
    [Fact]
    public async Task Request_WithoutKey_Is401WithWwwAuthenticate()
    {
        await using var api = new ApiFactory();
        using var http = api.Http(apiKey: null);

        using var response = await http.GetAsync(new Uri("/v1/builds", UriKind.Relative));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", Assert.Single(response.Headers.WwwAuthenticate).Scheme);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Request_WithUnknownKey_Is401InvalidToken()
    {
        await using var api = new ApiFactory();
        using var http = api.Http("not-a-configured-key-at-all");

        using var response = await http.GetAsync(new Uri("/v1/builds", UriKind.Relative));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("invalid_token", Assert.Single(response.Headers.WwwAuthenticate).Parameter, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Request_WithKeyPrefixOnly_Is401()
    {
        await using var api = new ApiFactory();
        using var http = api.Http(ApiFactory.AdminKey[..^1]);

        using var response = await http.GetAsync(new Uri("/v1/builds", UriKind.Relative));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Submit_WithReadOnlyKey_Is403AndPublishesNothing()
    {
        await using var api = new ApiFactory();
        using var http = api.Http(ApiFactory.ReaderKey);

        using var response = await http.PostAsJsonAsync(new Uri("/v1/builds", UriKind.Relative), Samples.Build(), BuildFarmJson.Options);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("'submit'", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Empty(api.Published.Messages);
        Assert.Empty((await api.Store.ListBuildsAsync(new(), CancellationToken.None)).Items);
    }

    [Fact]
    public async Task Cancel_WithoutCancelScope_Is403()
    {
        await using var api = new ApiFactory();
        var build = await api.Client().SubmitBuildAsync(Samples.Build());
        using var http = api.Http(ApiFactory.SubmitterKey);

        using var response = await http.DeleteAsync(new Uri($"/v1/builds/{build.BuildId}", UriKind.Relative));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("'cancel'", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Read_WithReadOnlyKey_Is200AndSubmitRecordsKeyNameNotKey()
    {
        await using var api = new ApiFactory();
        var submitted = await api.Client(ApiFactory.SubmitterKey).SubmitBuildAsync(Samples.Build());

        var read = await api.Client(ApiFactory.ReaderKey).GetBuildAsync(submitted.BuildId);

        Assert.Equal("ci", read.RequestedBy);
        Assert.DoesNotContain(api.Logs.Lines, l => l.Contains(ApiFactory.SubmitterKey, StringComparison.Ordinal) || l.Contains(ApiFactory.AdminKey, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Keys_FromSecretDirectory_AuthenticateWithConfiguredOrDefaultScopes()
    {
        var dir = Directory.CreateTempSubdirectory("api-keys-");
        try
        {
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "pipeline"), "pipeline-secret-0123456789\n");
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "dashboard"), "dashboard-secret-0123456789");
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "..data"), "ignored-hidden-0123456789");
            await using var api = new ApiFactory(new()
            {
                ["Api:KeysDirectory"] = dir.FullName,
                ["Api:Keys:pipeline:Scopes"] = "submit,read",
                // Scopes from Api:DefaultScopes, the tenant from configuration: the dashboard reads the pipeline's builds.
                ["Api:Keys:dashboard:Tenant"] = "pipeline",
            });

            var build = await api.Client("pipeline-secret-0123456789").SubmitBuildAsync(Samples.Build());
            var read = await api.Client("dashboard-secret-0123456789").GetBuildAsync(build.BuildId);
            var denied = await Assert.ThrowsAsync<BuildFarmApiException>(() => api.Client("dashboard-secret-0123456789").SubmitBuildAsync(Samples.Build()));
            var hidden = await Assert.ThrowsAsync<BuildFarmApiException>(() => api.Client("ignored-hidden-0123456789").GetBuildAsync(build.BuildId));

            Assert.Equal("pipeline", read.RequestedBy);
            Assert.Equal("pipeline", read.Tenant); // the key's own name: the default tenant
            Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, hidden.StatusCode);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task DisableAuth_AcceptsRequestsWithoutKeyAsAnonymousAndLogsIt()
    {
        await using var api = new ApiFactory(new() { ["Api:DisableAuth"] = "true" });

        var build = await api.Client(apiKey: null).SubmitBuildAsync(Samples.Build());

        Assert.Equal("anonymous", build.RequestedBy);
        Assert.Contains(api.Logs.Lines, l => l.StartsWith("Critical", StringComparison.Ordinal) && l.Contains("AUTHENTICATION IS DISABLED", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Health_And_Metrics_And_OpenApi_NeedNoKey()
    {
        await using var api = new ApiFactory();
        using var http = api.Http(apiKey: null);

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/healthz", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/readyz", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/metrics", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/openapi/v1.json", UriKind.Relative))).StatusCode);
    }
}
