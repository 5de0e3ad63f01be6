using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using BuildFarm.Contracts;

namespace BuildFarm.Cli.Tests;

[Collection(DemoFarmGroup.Name)]
public sealed class ApiCommandTests(DemoFarmFixture farm)
{
    private static JsonElement Json(string output) => JsonDocument.Parse(output).RootElement;

    [Fact]
    public async Task SubmitWait_OneBuildSucceeds_ExitsZeroWithJsonRecord()
    {
        var repo = DemoFarmFixture.Unique("one");

        var result = await CliRunner.RunAsync(farm.With("submit", "--context", "s3://ctx-bucket/app.tar.gz", "--destination", $"registry.example.com/{repo}/app:1",
            "--build-arg", "VERSION=1", "--wait", "--output", "json"));

        Assert.True(result.ExitCode == 0, result.Error + result.Out);
        var json = Json(result.Out);
        Assert.True(json.GetProperty("succeeded").GetBoolean());
        var build = Assert.Single(json.GetProperty("builds").EnumerateArray().ToList());
        Assert.Equal("succeeded", build.GetProperty("state").GetString());
        Assert.StartsWith("sha256:", build.GetProperty("digest").GetString(), StringComparison.Ordinal);
        Assert.Equal("1", build.GetProperty("spec").GetProperty("buildArgs").GetProperty("VERSION").GetString());
        Assert.DoesNotContain("\u001b[", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SubmitWait_PushUnauthorized_ExitsOneWithReason()
    {
        var result = await CliRunner.RunAsync(farm.With("submit", "--context", "s3://ctx-bucket/app.tar.gz",
            "--destination", $"{DemoFarmFixture.FailingRegistry}/{DemoFarmFixture.Unique("fail")}/app:1", "--wait", "--output", "json"));

        Assert.True(result.ExitCode == 1, result.Error + result.Out);
        var build = Assert.Single(Json(result.Out).GetProperty("builds").EnumerateArray().ToList());
        Assert.Equal("failed", build.GetProperty("state").GetString());
        Assert.Equal(FailureReasons.Unauthorized, build.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task SubmitWait_PlainOutput_LinesThenSummary()
    {
        var result = await CliRunner.RunAsync(farm.With("submit", "--context", "s3://ctx-bucket/app.tar.gz",
            "--destination", $"registry.example.com/{DemoFarmFixture.Unique("plain")}/app:1", "--wait"));

        Assert.True(result.ExitCode == 0, result.Error + result.Out);
        Assert.Contains(" succeeded attempt 1 sha256:", result.Out, StringComparison.Ordinal);
        Assert.Contains("total (1)", result.Out, StringComparison.Ordinal);
        Assert.Contains("1 ok, 0 failed, 0 cancelled", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Watch_Batch_ExitsZeroAndListsEveryImage()
    {
        var batch = await farm.SubmitBatchAsync(DemoFarmFixture.Unique("watch"), 3);

        var result = await CliRunner.RunAsync(farm.With("watch", batch.BatchId, "--output", "json"));

        Assert.True(result.ExitCode == 0, result.Error + result.Out);
        var json = Json(result.Out);
        Assert.Equal(batch.BatchId, json.GetProperty("batchId").GetString());
        Assert.Equal(["img-1", "img-2", "img-3"], json.GetProperty("builds").EnumerateArray().Select(b => b.GetProperty("name").GetString()).Order());
        Assert.All(json.GetProperty("builds").EnumerateArray(), b => Assert.Equal("succeeded", b.GetProperty("state").GetString()));
    }

    [Fact]
    public async Task Watch_BatchWithAFailure_ExitsOne()
    {
        var batch = await farm.SubmitBatchAsync(DemoFarmFixture.Unique("wfail"), 2, DemoFarmFixture.FailingRegistry);

        var result = await CliRunner.RunAsync(farm.With("watch", batch.BatchId));

        Assert.True(result.ExitCode == 1, result.Error + result.Out);
        Assert.Contains("unauthorized", result.Out, StringComparison.Ordinal);
        Assert.Contains("0 ok, 2 failed, 0 cancelled", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_BatchAndBuild_JsonOfEach()
    {
        var batch = await farm.WaitDoneAsync((await farm.SubmitBatchAsync(DemoFarmFixture.Unique("status"), 2)).BatchId);

        var ofBatch = await CliRunner.RunAsync(farm.With("status", batch.BatchId, "--output", "json"));
        var ofBuild = await CliRunner.RunAsync(farm.With("status", batch.Images[0].BuildId, "--output", "json"));
        var text = await CliRunner.RunAsync(farm.With("status", batch.Images[0].BuildId));
        var batchText = await CliRunner.RunAsync(farm.With("status", batch.BatchId));

        Assert.Equal(0, ofBatch.ExitCode);
        Assert.Equal(2, Json(ofBatch.Out).GetProperty("total").GetInt32());
        Assert.True(Json(ofBatch.Out).GetProperty("succeeded").GetBoolean());
        Assert.Equal(0, ofBuild.ExitCode);
        Assert.Equal(batch.Images[0].BuildId, Json(ofBuild.Out).GetProperty("buildId").GetString());
        Assert.Equal("succeeded", Json(ofBuild.Out).GetProperty("state").GetString());
        Assert.Equal(0, text.ExitCode);
        Assert.Contains("sha256:", text.Out, StringComparison.Ordinal);
        Assert.Contains($"bf-{batch.Images[0].BuildId}-1", text.Out, StringComparison.Ordinal);
        // The demo's key owns tenant "demo": the records, the JSON and the text name it.
        Assert.Equal("demo", Json(ofBatch.Out).GetProperty("tenant").GetString());
        Assert.Equal("demo", Json(ofBuild.Out).GetProperty("tenant").GetString());
        Assert.Matches(@"(?m)^tenant\s+demo\s*$", text.Out);
        Assert.Contains($"batch {batch.BatchId} (tenant demo): 2 images", batchText.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_OneBuild_TextSaysHowToFollowIt()
    {
        var result = await CliRunner.RunAsync(farm.With("submit", "--context", "s3://ctx-bucket/app.tar.gz",
            "--destination", $"registry.example.com/{DemoFarmFixture.Unique("hint")}/app:1"));

        Assert.True(result.ExitCode == 0, result.Error + result.Out);
        var id = System.Text.RegularExpressions.Regex.Match(result.Out, "^build (\\S+) queued \\(tenant demo\\)$", System.Text.RegularExpressions.RegexOptions.Multiline).Groups[1].Value;
        Assert.NotEmpty(id);
        Assert.Contains($"follow it with: buildfarm watch {id}", result.Out, StringComparison.Ordinal);
        // The web page of the build (docs/web.md), under the API's address.
        Assert.Contains($"open it in a browser: {farm.Api}ui/#/builds/{id}", result.Out, StringComparison.Ordinal);
        var watch = await CliRunner.RunAsync(farm.With("watch", id, "--output", "json"));
        Assert.True(watch.ExitCode == 0, watch.Error + watch.Out);
    }

    [Fact]
    public async Task Submit_EveryBuildSpecOption_ReachesTheRecord()
    {
        var result = await CliRunner.RunAsync(farm.With("submit", "--context", "s3://ctx-bucket/mono.tar.gz", "--context-sub-path", "services/app",
            "--destination", $"registry.example.com/{DemoFarmFixture.Unique("opts")}/app:1", "--dockerfile", "build/Dockerfile", "--build-arg", "V=1",
            "--target", "runtime", "--label", "team=core", "--cache-repo", "registry.example.com/cache/app", "--platform", "linux/arm64",
            "--cpu-request", "500m", "--memory-request", "1Gi", "--cpu-limit", "2", "--memory-limit", "4Gi", "--ephemeral-storage-limit", "10Gi",
            "--deadline-seconds", "1200", "--output", "json"));

        Assert.True(result.ExitCode == 0, result.Error + result.Out);
        var spec = Json(result.Out).GetProperty("spec");
        Assert.Equal("services/app", spec.GetProperty("contextSubPath").GetString());
        Assert.Equal("build/Dockerfile", spec.GetProperty("dockerfile").GetString());
        Assert.Equal("runtime", spec.GetProperty("target").GetString());
        Assert.Equal("core", spec.GetProperty("labels").GetProperty("team").GetString());
        Assert.True(spec.GetProperty("cache").GetBoolean());
        Assert.Equal("registry.example.com/cache/app", spec.GetProperty("cacheRepo").GetString());
        Assert.Equal("linux/arm64", spec.GetProperty("platform").GetString());
        Assert.Equal(1200, spec.GetProperty("deadlineSeconds").GetInt32());
        var resources = spec.GetProperty("resources");
        Assert.Equal(["500m", "1Gi", "2", "4Gi", "10Gi"], new[] { "cpuRequest", "memoryRequest", "cpuLimit", "memoryLimit", "ephemeralStorageLimit" }
            .Select(k => resources.GetProperty(k).GetString()));
    }

    [Fact]
    public async Task Status_OneImageBatch_SaysOneImage()
    {
        var batch = await farm.WaitDoneAsync((await farm.SubmitBatchAsync(DemoFarmFixture.Unique("single"), 1)).BatchId);

        var result = await CliRunner.RunAsync(farm.With("status", batch.BatchId));

        Assert.True(result.ExitCode == 0, result.Error + result.Out);
        Assert.Contains($"batch {batch.BatchId} (tenant demo): 1 image (", result.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("1 images", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_Unknown_ExitsFour()
    {
        var result = await CliRunner.RunAsync(farm.With("status", "no-such-build"));

        Assert.Equal(4, result.ExitCode);
        Assert.Contains("no build or batch 'no-such-build'", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_WrongKey_ExitsThree()
    {
        var result = await CliRunner.RunAsync("status", "x", "--api", farm.Api, "--api-key", "not-the-key");

        Assert.Equal(3, result.ExitCode);
        Assert.Contains("401", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancel_EndedBuild_ExitsOne_UnknownExitsFour()
    {
        var batch = await farm.WaitDoneAsync((await farm.SubmitBatchAsync(DemoFarmFixture.Unique("cancel"), 1)).BatchId);

        var ended = await CliRunner.RunAsync(farm.With("cancel", batch.Images[0].BuildId));
        var endedBatch = await CliRunner.RunAsync(farm.With("cancel", batch.BatchId));
        var unknown = await CliRunner.RunAsync(farm.With("cancel", "no-such-build"));

        Assert.Equal(1, ended.ExitCode);
        Assert.Contains("already ended", ended.Error, StringComparison.Ordinal);
        Assert.Equal(1, endedBatch.ExitCode);
        Assert.Contains($"batch '{batch.BatchId}' has already ended", endedBatch.Error, StringComparison.Ordinal);
        Assert.Equal(4, unknown.ExitCode);
        Assert.Contains("no build or batch 'no-such-build'", unknown.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Workers_IndependentBatch_BothWorkersTakeBuilds()
    {
        var before = farm.Farm.Workers.Load().Select(w => w.Taken).ToList();

        await farm.WaitDoneAsync((await farm.SubmitBatchAsync(DemoFarmFixture.Unique("pool"), 8)).BatchId);

        var after = farm.Farm.Workers.Load();
        Assert.Equal(2, after.Count);
        Assert.All(after.Zip(before), w => Assert.True(w.First.Taken > w.Second, $"{w.First.Name} took no build"));
        Assert.All(after, w => Assert.Equal(4, w.Slots));
    }

    [Fact]
    public async Task Metrics_AfterABatch_ExportsTheWorkersInstruments()
    {
        await farm.WaitDoneAsync((await farm.SubmitBatchAsync(DemoFarmFixture.Unique("metrics"), 2)).BatchId);
        using var http = new HttpClient();

        var text = await http.GetStringAsync(farm.Farm.MetricsAddress);

        Assert.Matches("buildfarm_builds_total\\{[^}]*outcome=\"succeeded\"[^}]*\\} [1-9]", text);
        Assert.Contains("buildfarm_kaniko_push_duration_seconds_bucket", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_UnreachableApi_ExitsThree()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        var result = await CliRunner.RunAsync("submit", "--context", "s3://b/c.tar.gz", "--destination", "registry.example.com/t/a:1",
            "--api", $"http://127.0.0.1:{port}/");

        Assert.Equal(3, result.ExitCode);
        Assert.Contains("cannot reach the API", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_InvalidDestination_ExitsTwoNamingTheField()
    {
        var result = await CliRunner.RunAsync(farm.With("submit", "--context", "s3://b/c.tar.gz", "--destination", "Not A Reference"));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("400", result.Error, StringComparison.Ordinal);
        Assert.Contains("destinations", result.Error, StringComparison.Ordinal);
    }
}

[Collection(DemoFarmGroup.Name)]
public sealed class ManifestSubmitTests(DemoFarmFixture farm) : IDisposable
{
    private const string Sha = "4f2a9c1e0b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39";

    private readonly string _dir = Directory.CreateTempSubdirectory("bf-manifest-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Manifest(string prefix)
    {
        var path = Path.Combine(_dir, "buildfarm.yaml");
        File.WriteAllText(path, $$"""
            defaults:
              context: git://github.com/acme/mono.git#refs/heads/main
              destinations:
                - registry.example.com/{{prefix}}/{name}:{short_sha}
            images:
              - name: base
                contextSubPath: images/base
              - name: app
                contextSubPath: services/app
                dependsOn:
                  - { image: base, buildArg: BASE_IMAGE }
              - name: tool
                contextSubPath: tools/tool
            """);
        return path;
    }

    [Fact]
    public async Task SubmitManifestWait_DependentGetsThePinnedBase_ExitsZero()
    {
        var prefix = DemoFarmFixture.Unique("mani");

        var result = await CliRunner.RunAsync(farm.With("submit", "--manifest", Manifest(prefix), "--sha", Sha, "--wait", "--output", "json"));

        Assert.True(result.ExitCode == 0, result.Error + result.Out);
        var builds = JsonDocument.Parse(result.Out).RootElement.GetProperty("builds").EnumerateArray().ToDictionary(b => b.GetProperty("name").GetString()!);
        Assert.Equal(["app", "base", "tool"], builds.Keys.Order(StringComparer.Ordinal));
        Assert.All(builds.Values, b => Assert.Equal("succeeded", b.GetProperty("state").GetString()));
        Assert.Equal($"registry.example.com/{prefix}/base:{Sha[..12]}", builds["base"].GetProperty("spec").GetProperty("destinations")[0].GetString());
    }

    [Fact]
    public async Task SubmitManifestOnly_TakesTheImageAndItsBase()
    {
        var result = await CliRunner.RunAsync(farm.With("submit", "--manifest", Manifest(DemoFarmFixture.Unique("only")), "--sha", Sha, "--only", "app",
            "--output", "json"));

        Assert.True(result.ExitCode == 0, result.Error + result.Out);
        var batch = JsonDocument.Parse(result.Out).RootElement;
        Assert.Equal(2, batch.GetProperty("total").GetInt32());
        Assert.Equal(["app", "base"], batch.GetProperty("images").EnumerateArray().Select(i => i.GetProperty("name").GetString()).Order(StringComparer.Ordinal));
        await farm.WaitDoneAsync(batch.GetProperty("batchId").GetString()!);
    }

    [Fact]
    public async Task SubmitManifest_UnknownDependency_ExitsTwoNamingIt()
    {
        var path = Path.Combine(_dir, "bad.yaml");
        await File.WriteAllTextAsync(path, "images:\n  - name: app\n    context: s3://b/c.tar.gz\n    destinations: [registry.example.com/t/app:1]\n    dependsOn: [nope]\n");

        var result = await CliRunner.RunAsync(farm.With("submit", "--manifest", path));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("nope", result.Error, StringComparison.Ordinal);
    }
}
