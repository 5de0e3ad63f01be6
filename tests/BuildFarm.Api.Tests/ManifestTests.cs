using System.Net;
using System.Text;
using System.Text.Json;
using BuildFarm.Client;
using BuildFarm.Contracts;

namespace BuildFarm.Api.Tests;

public sealed class ManifestTests
{
    private const string Sha = "0123456789abcdef0123456789abcdef01234567";

    private const string Manifest = """
        defaults:
          context: git://github.com/acme/monorepo.git#refs/heads/main
          destinations:
            - registry.example.com/acme/{name}:{short_sha}
        images:
          - name: base
            contextSubPath: images/base
          - name: python
            contextSubPath: images/python
            dependsOn:
              - { image: base, buildArg: BASE_IMAGE }
          - name: api
            contextSubPath: services/api
            dependsOn: [python]
          - name: tool
            contextSubPath: tools/tool
        """;

    [Fact]
    public async Task SubmitManifest_All_PlansOneSubmitBatchWithTemplatesExpanded()
    {
        await using var api = new ApiFactory();

        var status = await api.Client().SubmitManifestAsync(Manifest, new ManifestSubmitOptions { Sha = Sha });

        Assert.Equal(["base", "python", "api", "tool"], status.Images.Select(i => i.Name));
        Assert.Equal(2, status.Counts["queued"]);
        Assert.Equal(2, status.Counts["waiting"]);
        var batch = Assert.IsType<SubmitBatch>(Assert.Single(api.Published.Messages));
        Assert.Equal(status.BatchId, batch.BatchId);
        Assert.Equal("registry.example.com/acme/python:0123456789ab", Assert.Single(batch.Images[1].Spec.Destinations));
        Assert.Equal(new BatchDependency("base", "BASE_IMAGE"), Assert.Single(batch.Images[1].DependsOn));
        Assert.Equal(status.Images.Select(i => i.BuildId), batch.Images.Select(i => i.BuildId));
    }

    [Fact]
    public async Task SubmitManifest_Only_BuildsTheImageAndWhatItDependsOn()
    {
        await using var api = new ApiFactory();

        var status = await api.Client().SubmitManifestAsync(Manifest, new ManifestSubmitOptions { Sha = Sha, Only = ["python"] });

        Assert.Equal(["base", "python"], status.Images.Select(i => i.Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task SubmitManifest_Changed_BuildsTheChangedImageAndItsDependents()
    {
        await using var api = new ApiFactory();

        var status = await api.Client().SubmitManifestAsync(Manifest, new ManifestSubmitOptions { Sha = Sha, Changed = ["images/python/requirements.txt"] });

        Assert.Equal(["api", "python"], status.Images.Select(i => i.Name).Order(StringComparer.Ordinal));
        var python = await api.Client().GetBuildAsync(status.Images.Single(i => i.Name == "python").BuildId);
        Assert.Equal(BuildState.Queued, python.State);
    }

    [Fact]
    public async Task SubmitManifest_Cycle_Is400WithTheLineAndNothingSubmitted()
    {
        await using var api = new ApiFactory();
        var cyclic = Manifest.Replace("contextSubPath: images/base", "contextSubPath: images/base\n    dependsOn: [api]", StringComparison.Ordinal);

        var error = await Assert.ThrowsAsync<BuildFarmApiException>(() => api.Client().SubmitManifestAsync(cyclic, new ManifestSubmitOptions { Sha = Sha }));

        Assert.Equal(HttpStatusCode.BadRequest, error.StatusCode);
        var message = string.Join("\n", error.Problem.Errors.SelectMany(e => e.Value));
        Assert.Contains("line ", message, StringComparison.Ordinal);
        Assert.Contains("cycle", message, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(api.Published.Messages);
        Assert.Empty((await api.Store.ListBuildsAsync(new(), CancellationToken.None)).Items);
    }

    [Fact]
    public async Task SubmitManifest_WithoutShaOrWithUnknownOnly_Is400NamingTheParameter()
    {
        await using var api = new ApiFactory();
        var client = api.Client();

        var noSha = await Assert.ThrowsAsync<BuildFarmApiException>(() => client.SubmitManifestAsync(Manifest));
        var unknown = await Assert.ThrowsAsync<BuildFarmApiException>(() => client.SubmitManifestAsync(Manifest, new ManifestSubmitOptions { Sha = Sha, Only = ["nope"] }));

        Assert.Contains("sha", noSha.Problem.Errors.Keys);
        Assert.Contains("only", unknown.Problem.Errors.Keys);
        Assert.Empty(api.Published.Messages);
    }

    [Fact]
    public async Task SubmitManifest_BadDestinationInAnImage_NamesTheImageField()
    {
        await using var api = new ApiFactory(new() { ["Api:AllowedDestinations:0"] = "registry.example.com/acme/*" });
        var outside = Manifest + "\n  - name: rogue\n    contextSubPath: rogue\n    destinations: [evil.example.com/x:1]\n";
        using var http = api.Http();

        using var response = await http.PostAsync(new Uri($"/v1/batches?sha={Sha}", UriKind.Relative), new StringContent(outside, Encoding.UTF8, "application/yaml"));
        var problem = JsonSerializer.Deserialize<ApiProblem>(await response.Content.ReadAsStringAsync(), BuildFarmJson.Options)!;

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(problem.Errors.Keys, k => k.StartsWith("manifest.images[rogue].destinations", StringComparison.Ordinal));
        Assert.Empty(api.Published.Messages);
    }

    [Theory]
    [InlineData("application/yaml")]
    [InlineData("application/x-yaml")]
    [InlineData("text/yaml")]
    [InlineData("text/x-yaml")]
    [InlineData("Text/YAML; charset=utf-8")]
    public async Task SubmitManifest_EveryDocumentedYamlMediaType_IsAccepted(string mediaType)
    {
        await using var api = new ApiFactory();
        using var http = api.Http();
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes(Manifest));
        content.Headers.TryAddWithoutValidation("Content-Type", mediaType);

        using var response = await http.PostAsync(new Uri($"/v1/batches?sha={Sha}", UriKind.Relative), content);

        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{mediaType}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        Assert.IsType<SubmitBatch>(Assert.Single(api.Published.Messages));
    }

    [Fact]
    public async Task SubmitBatch_OtherMediaType_Is415ProblemNamingTheAcceptedTypes()
    {
        await using var api = new ApiFactory();
        using var http = api.Http();

        using var response = await http.PostAsync(new Uri($"/v1/batches?sha={Sha}", UriKind.Relative), new StringContent(Manifest, Encoding.UTF8, "text/plain"));

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("application/yaml", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Empty(api.Published.Messages);
    }
}
