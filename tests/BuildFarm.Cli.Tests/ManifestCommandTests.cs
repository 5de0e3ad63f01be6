using System.Text.Json;

namespace BuildFarm.Cli.Tests;

public sealed class ManifestCommandTests : IDisposable
{
    private const string Sha = "9f3e1c2d4b5a69788796a5b4c3d2e1f001122334";
    private readonly string _directory = Directory.CreateTempSubdirectory("bf-manifest-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Write(string yaml)
    {
        var path = Path.Combine(_directory, $"manifest-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    private string Sample() => Write(Manifests.SampleManifests.MonorepoYaml());

    [Fact]
    public async Task Check_Sample_PrintsThePlanInBuildOrder()
    {
        var path = Sample();

        var result = await CliRunner.RunAsync("manifest", "check", path, "--sha", Sha);

        Assert.Equal(0, result.ExitCode);
        var lines = result.Out.Split('\n');
        Assert.Contains("valid, 20 images; all images: 20 to build", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("   1. base ", lines[1], StringComparison.Ordinal);
        Assert.Contains("registry.example.com/acme/base:9f3e1c2d4b5a", result.Out, StringComparison.Ordinal);
        Assert.Matches(@"notebook-gpu +after notebook \(BASE_IMAGE\)", result.Out);
        Assert.True(result.Out.IndexOf(" notebook ", StringComparison.Ordinal) < result.Out.IndexOf(" notebook-gpu ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Check_OnlyAsJson_ListsTheSubsetAndItsDependencies()
    {
        var result = await CliRunner.RunAsync("manifest", "check", Sample(), "--sha", Sha, "--only", "notebook-gpu,docs-site", "--output", "json");

        Assert.Equal(0, result.ExitCode);
        using var json = JsonDocument.Parse(result.Out);
        var names = json.RootElement.GetProperty("images").EnumerateArray().Select(i => i.GetProperty("name").GetString()).ToList();
        Assert.Equal(["base", "base-python", "notebook", "notebook-gpu", "docs-site"], names);
        var gpu = json.RootElement.GetProperty("images")[3];
        Assert.Equal("BASE_IMAGE", gpu.GetProperty("dependsOn")[0].GetProperty("buildArg").GetString());
        Assert.Equal("registry.example.com/acme/notebook-gpu:9f3e1c2d4b5a", gpu.GetProperty("destinations")[0].GetString());
    }

    [Fact]
    public async Task Check_ChangedFromStdin_BuildsTouchedImagesAndDependents()
    {
        var result = await CliRunner.RunWithInputAsync("ml/notebook/requirements.txt\n\n./docs/site/\n", "manifest", "check", Sample(), "--changed", "-", "-o", "json");

        Assert.Equal(0, result.ExitCode);
        using var json = JsonDocument.Parse(result.Out);
        var images = json.RootElement.GetProperty("images").EnumerateArray().ToList();
        Assert.Equal(["notebook", "notebook-gpu", "docs-site"], images.Select(i => i.GetProperty("name").GetString()));
        Assert.Equal("base-python", images[0].GetProperty("notRebuilt")[0].GetString());
    }

    [Fact]
    public async Task Check_NothingChanged_SaysSo()
    {
        var result = await CliRunner.RunAsync("manifest", "check", Sample(), "--changed", "README.md");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("nothing to build", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_BadManifest_PrintsEachErrorWithItsLineAndExitsTwo()
    {
        var path = Write("images:\n  - name: a\n    context: git://github.com/a/b.git\n    destinations: [r.example.com/a:1]\n    dependsOn: [b]\n  - name: c\n    cache: maybe\n");

        var result = await CliRunner.RunAsync("manifest", "check", path);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"{path}:5:17: error: image 'a': dependsOn[0]: unknown image 'b'", result.Error, StringComparison.Ordinal);
        Assert.Contains($"{path}:7:12: error: image 'c': cache: must be true or false", result.Error, StringComparison.Ordinal);
        Assert.Contains("2 error(s)", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_BadManifestAsJson_ListsErrors()
    {
        var path = Write("images:\n  - name: a\n    schedule: \"0 3 * *\"\n    context: git://github.com/a/b.git\n    destinations: [r.example.com/a:1]\n");

        var result = await CliRunner.RunAsync("manifest", "check", path, "--output", "json");

        Assert.Equal(2, result.ExitCode);
        using var json = JsonDocument.Parse(result.Out);
        Assert.False(json.RootElement.GetProperty("valid").GetBoolean());
        var error = json.RootElement.GetProperty("errors")[0];
        Assert.Equal(("a", "schedule", 3), (error.GetProperty("image").GetString(), error.GetProperty("field").GetString(), error.GetProperty("line").GetInt32()));
    }

    [Theory]
    [InlineData("--only", "nope", "no image 'nope'")]
    [InlineData("--changed", "/etc/passwd", "absolute")]
    [InlineData("--output", "yaml", "use text or json")]
    [InlineData("--sha", "not a sha", "revision")]
    public async Task Check_BadOption_IsAUsageError(string option, string value, string message)
    {
        var result = await CliRunner.RunAsync("manifest", "check", Sample(), option, value);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_OnlyWithChanged_IsAUsageError()
    {
        var result = await CliRunner.RunAsync("manifest", "check", Sample(), "--only", "base", "--changed", "x");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("cannot be combined", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Schedule_BadManifest_ExitsTwoBeforeConnecting()
    {
        var path = Write("images:\n  - name: a\n    schedule: \"99 * * * *\"\n    context: git://github.com/a/b.git\n    destinations: [r.example.com/a:1]\n");

        var result = await CliRunner.RunAsync("schedule", "--manifest", path);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("line 3, column 15: image 'a': schedule:", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Schedule_NoSchedules_ExitsTwo()
    {
        var path = Write("images:\n  - name: a\n    context: git://github.com/a/b.git\n    destinations: [r.example.com/a:1]\n");

        var result = await CliRunner.RunAsync("schedule", "--manifest", path);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no image with a schedule", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--missed", "sometimes", "must be skip or run-once")]
    [InlineData("--rabbitmq", "http://localhost", "not an amqp://")]
    public async Task Schedule_BadOption_IsAUsageError(string option, string value, string message)
    {
        var result = await CliRunner.RunAsync("schedule", "--manifest", Sample(), option, value);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryParseAmqp_ReadsCredentialsHostPortAndVhost()
    {
        Assert.True(Commands.ScheduleCommand.TryParseAmqp("amqp://bf:p%40ss@rabbit.internal:5673/farm", out var address, out _));

        Assert.Equal(new Commands.ScheduleCommand.AmqpAddress("rabbit.internal", 5673, "farm", "bf", "p@ss"), address);
    }
}
