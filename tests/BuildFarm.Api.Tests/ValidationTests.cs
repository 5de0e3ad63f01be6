using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using BuildFarm.Client;
using BuildFarm.Contracts;

namespace BuildFarm.Api.Tests;

public sealed class ValidationTests
{
    private static readonly DateTimeOffset Past = DateTimeOffset.UtcNow.AddHours(-1);

    public static TheoryData<string, string> BadBuilds() => new()
    {
        { "context", "spec.context" },
        { "dockerfile", "spec.dockerfile" },
        { "contextSubPath", "spec.contextSubPath" },
        { "noDestinations", "spec.destinations" },
        { "badDestination", "spec.destinations[0]" },
        { "digestDestination", "spec.destinations[1]" },
        { "tooManyDestinations", "spec.destinations" },
        { "buildArgName", "spec.buildArgs[1BAD]" },
        { "tooManyBuildArgs", "spec.buildArgs" },
        { "buildArgTooBig", "spec.buildArgs[BIG]" },
        { "labelKey", "spec.labels[=bad]" },
        { "target", "spec.target" },
        { "platform", "spec.platform" },
        { "platformsRepeated", "spec.platforms[1]" },
        { "platformsMalformed", "spec.platforms[0]" },
        { "platformsWithPlatform", "spec.platforms" },
        { "tooManyPlatforms", "spec.platforms" },
        { "cacheRepo", "spec.cacheRepo" },
        { "deadlineSeconds", "spec.deadlineSeconds" },
        { "resources", "spec.resources.cpuRequest" },
        { "deadline", "deadline" },
        { "priority", "priority" },
    };

    private static SubmitBuildRequest Mutate(string field)
    {
        var spec = Samples.Spec();
        var request = new SubmitBuildRequest { Spec = spec };
        return field switch
        {
            "context" => request with { Spec = spec with { Context = "ftp://example.com/ctx.tar.gz" } },
            "dockerfile" => request with { Spec = spec with { Dockerfile = "../Dockerfile" } },
            "contextSubPath" => request with { Spec = spec with { ContextSubPath = "../outside" } },
            "noDestinations" => request with { Spec = spec with { Destinations = [] } },
            "badDestination" => request with { Spec = spec with { Destinations = ["Not A Reference"] } },
            "digestDestination" => request with { Spec = spec with { Destinations = ["registry.example.com/a:1", "registry.example.com/a@sha256:" + new string('a', 64)] } },
            "tooManyDestinations" => request with { Spec = spec with { Destinations = [.. Enumerable.Range(0, 17).Select(i => $"registry.example.com/a:{i}")] } },
            "buildArgName" => request with { Spec = spec with { BuildArgs = new Dictionary<string, string> { ["1BAD"] = "x" } } },
            "tooManyBuildArgs" => request with { Spec = spec with { BuildArgs = Enumerable.Range(0, 65).ToDictionary(i => $"A{i}", i => "x") } },
            "buildArgTooBig" => request with { Spec = spec with { BuildArgs = new Dictionary<string, string> { ["BIG"] = new string('x', 5000) } } },
            "labelKey" => request with { Spec = spec with { Labels = new Dictionary<string, string> { ["=bad"] = "x" } } },
            "target" => request with { Spec = spec with { Target = "1stage" } },
            "platform" => request with { Spec = spec with { Platform = "Linux/AMD64" } },
            "platformsRepeated" => request with { Spec = spec with { Platforms = ["linux/amd64", "linux/amd64"] } },
            "platformsMalformed" => request with { Spec = spec with { Platforms = ["linux", "linux/arm64"] } },
            "platformsWithPlatform" => request with { Spec = spec with { Platform = "linux/amd64", Platforms = ["linux/amd64", "linux/arm64"] } },
            "tooManyPlatforms" => request with { Spec = spec with { Platforms = [.. Enumerable.Range(0, 9).Select(i => $"linux/arch{i}")] } },
            "cacheRepo" => request with { Spec = spec with { Cache = true, CacheRepo = "registry.example.com/cache:tag" } },
            "deadlineSeconds" => request with { Spec = spec with { DeadlineSeconds = 0 } },
            "resources" => request with { Spec = spec with { Resources = new BuildResources { CpuRequest = "lots" } } },
            "deadline" => request with { Deadline = Past },
            "priority" => request with { Priority = 10 },
            _ => throw new ArgumentOutOfRangeException(nameof(field), field, "no such case"),
        };
    }

    [Theory]
    [MemberData(nameof(BadBuilds))]
    public async Task SubmitBuild_WithBadField_Is400NamingTheFieldAndPublishesNothing(string mutation, string field)
    {
        await using var api = new ApiFactory();

        var problem = await PostExpecting400Async(api, "/v1/builds", Mutate(mutation));

        Assert.True(problem.Errors.ContainsKey(field), $"errors {string.Join(", ", problem.Errors.Keys)} do not name {field}");
        await AssertNothingSubmittedAsync(api);
    }

    [Fact]
    public async Task SubmitBuild_WithPlatforms_IsAcceptedAndPublishedWithThem_AndPlatformStillWorks()
    {
        await using var api = new ApiFactory();
        using var http = api.Http();

        using var several = await http.PostAsync(new Uri("/v1/builds", UriKind.Relative), new StringContent(
            """{"spec": {"context": "s3://bucket/ctx.tar.gz", "destinations": ["registry.example.com/team/app:1"], "platforms": ["linux/amd64", "linux/arm64"]}}""",
            Encoding.UTF8, "application/json"));
        using var one = await http.PostAsync(new Uri("/v1/builds", UriKind.Relative), new StringContent(
            """{"spec": {"context": "s3://bucket/ctx.tar.gz", "destinations": ["registry.example.com/team/app:2"], "platform": "linux/arm64"}}""",
            Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Accepted, several.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, one.StatusCode);
        await Eventually.UntilAsync(() => api.Published.Of<BuildImage>().Count == 2, "two BuildImage");
        var specs = api.Published.Of<BuildImage>().Select(b => b.Spec).OrderBy(s => s.Destinations[0], StringComparer.Ordinal).ToList();
        Assert.Equal(["linux/amd64", "linux/arm64"], specs[0].Platforms);
        Assert.Null(specs[0].Platform);
        Assert.Equal("linux/arm64", specs[1].Platform);
        Assert.Null(specs[1].Platforms);
    }

    [Fact]
    public async Task SubmitBuild_DestinationOutsideAllowList_Is400()
    {
        await using var api = new ApiFactory(new() { ["Api:AllowedDestinations:0"] = "registry.example.com/team/*" });

        var problem = await PostExpecting400Async(api, "/v1/builds", Samples.Build("registry.example.com/other/app:1"));
        var allowed = await api.Client().SubmitBuildAsync(Samples.Build("registry.example.com/team/app:1"));

        Assert.Contains("allow-list", Assert.Single(problem.Errors["spec.destinations[0]"]), StringComparison.Ordinal);
        Assert.Equal("registry.example.com/team/app:1", Assert.Single(allowed.Spec.Destinations));
    }

    [Fact]
    public async Task SubmitBuild_MissingSpec_Is400NamingSpec()
    {
        await using var api = new ApiFactory();

        var problem = await PostRawExpecting400Async(api, "/v1/builds", "{}");

        Assert.Contains("spec", string.Join(" ", problem.Errors.SelectMany(e => e.Value)), StringComparison.Ordinal);
        await AssertNothingSubmittedAsync(api);
    }

    [Fact]
    public async Task SubmitBuild_WrongJsonType_Is400NamingThePath()
    {
        await using var api = new ApiFactory();

        var problem = await PostRawExpecting400Async(api, "/v1/builds", """{"spec": {"context": 5, "destinations": ["r.example.com/a:1"]}}""");

        Assert.True(problem.Errors.ContainsKey("spec.context"), string.Join(", ", problem.Errors.Keys));
    }

    [Fact]
    public async Task SubmitBuild_BodyOverLimit_Is413()
    {
        await using var api = new ApiFactory(new() { ["Api:MaxBodyBytes"] = "300" });
        using var http = api.Http();
        var request = Samples.Build() with { Spec = Samples.Spec() with { Labels = new Dictionary<string, string> { ["note"] = new string('x', 400) } } };

        using var response = await http.PostAsJsonAsync(new Uri("/v1/builds", UriKind.Relative), request, BuildFarmJson.Options);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        await AssertNothingSubmittedAsync(api);
    }

    [Fact]
    public async Task SubmitBuild_NotJson_Is415()
    {
        await using var api = new ApiFactory();
        using var http = api.Http();

        using var response = await http.PostAsync(new Uri("/v1/builds", UriKind.Relative), new StringContent("context=x", Encoding.UTF8, "text/plain"));

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
    }

    public static TheoryData<string, string> BadBatches() => new()
    {
        { "empty", "images" },
        { "tooMany", "images" },
        { "duplicateName", "images[3].name" },
        { "badName", "images[0].name" },
        { "unknownDependency", "images[1].dependsOn[0].image" },
        { "selfDependency", "images[0].dependsOn[0].image" },
        { "cycle", "images[0].dependsOn" },
        { "badBuildArg", "images[1].dependsOn[0].buildArg" },
        { "nestedSpec", "images[3].spec.destinations[0]" },
        { "source", "source" },
    };

    private static SubmitBatchRequest MutateBatch(string mutation)
    {
        var batch = Samples.Batch();
        var images = batch.Images.ToList();
        switch (mutation)
        {
            case "empty":
                return batch with { Images = [] };
            case "tooMany":
                return batch with { Images = [.. Enumerable.Range(0, 6).Select(i => new BatchImageRequest { Name = $"i{i}", Spec = Samples.Spec($"registry.example.com/i:{i}") })] };
            case "duplicateName":
                images[3] = images[3] with { Name = "base" };
                break;
            case "badName":
                images[0] = images[0] with { Name = "Base Image!" };
                images[1] = images[1] with { DependsOn = [] };
                break;
            case "unknownDependency":
                images[1] = images[1] with { DependsOn = [new BatchDependency("nope")] };
                break;
            case "selfDependency":
                images[0] = images[0] with { DependsOn = [new BatchDependency("base")] };
                break;
            case "cycle":
                images[0] = images[0] with { DependsOn = [new BatchDependency("web")] };
                break;
            case "badBuildArg":
                images[1] = images[1] with { DependsOn = [new BatchDependency("base", "BASE-IMAGE")] };
                break;
            case "nestedSpec":
                images[3] = images[3] with { Spec = Samples.Spec("UPPER/Case:x y") };
                break;
            case "source":
                return batch with { Source = new string('s', 2000) };
            default:
                throw new ArgumentOutOfRangeException(nameof(mutation), mutation, "no such case");
        }
        return batch with { Images = images };
    }

    [Theory]
    [MemberData(nameof(BadBatches))]
    public async Task SubmitBatch_WithOneBadField_Is400NamingItAndNothingOfTheBatchIsStoredOrPublished(string mutation, string field)
    {
        await using var api = new ApiFactory(new() { ["Api:MaxImagesPerBatch"] = "5" });

        var problem = await PostExpecting400Async(api, "/v1/batches", MutateBatch(mutation));

        Assert.True(problem.Errors.ContainsKey(field), $"errors {string.Join(", ", problem.Errors.Keys)} do not name {field}");
        await AssertNothingSubmittedAsync(api);
    }

    [Fact]
    public async Task SubmitBatch_Cycle_NamesTheCycle()
    {
        await using var api = new ApiFactory();

        var problem = await PostExpecting400Async(api, "/v1/batches", MutateBatch("cycle"));

        Assert.Contains("base -> web -> app -> base", Assert.Single(problem.Errors["images[0].dependsOn"]), StringComparison.Ordinal);
    }

    private static async Task<ApiProblem> PostExpecting400Async<T>(ApiFactory api, string path, T body)
    {
        using var http = api.Http();
        using var response = await http.PostAsJsonAsync(new Uri(path, UriKind.Relative), body, BuildFarmJson.Options);
        return await ReadProblemAsync(response);
    }

    private static async Task<ApiProblem> PostRawExpecting400Async(ApiFactory api, string path, string json)
    {
        using var http = api.Http();
        using var response = await http.PostAsync(new Uri(path, UriKind.Relative), new StringContent(json, Encoding.UTF8, "application/json"));
        return await ReadProblemAsync(response);
    }

    private static async Task<ApiProblem> ReadProblemAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonSerializer.Deserialize<ApiProblem>(text, BuildFarmJson.Options)!;
    }

    private static async Task AssertNothingSubmittedAsync(ApiFactory api)
    {
        Assert.Empty(api.Published.Messages);
        Assert.Empty((await api.Store.ListBuildsAsync(new(), CancellationToken.None)).Items);
    }
}
