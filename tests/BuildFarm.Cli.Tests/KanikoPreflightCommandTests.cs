using System.Text.Json;

namespace BuildFarm.Cli.Tests;

public sealed class KanikoPreflightCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("bf-preflight-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Write(string text)
    {
        var path = Path.Combine(_directory, $"Dockerfile.{Guid.NewGuid():N}");
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public async Task Preflight_CleanDockerfile_ExitsZeroWithSummary()
    {
        var path = Write("FROM alpine:3.19\nRUN echo /workspace\n");

        var result = await CliRunner.RunAsync("kaniko", "preflight", path);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal($"{path}: 0 error(s), 0 warning(s).", result.Out.Trim());
        Assert.Empty(result.Error);
    }

    [Fact]
    public async Task Preflight_WarningsOnly_ExitsZero()
    {
        var path = Write("FROM node\n");

        var result = await CliRunner.RunAsync("kaniko", "preflight", path);

        Assert.Equal(0, result.ExitCode);
        Assert.StartsWith($"{path}:1: warning BFK200: ", result.Out, StringComparison.Ordinal);
        Assert.Contains("0 error(s), 1 warning(s)", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Preflight_ErrorFinding_ExitsOneWithOneLinePerFinding()
    {
        var path = Write("FROM alpine:3.19\n\nWORKDIR /workspace\nRUN mkdir -p /kaniko/x\n");

        var result = await CliRunner.RunAsync("kaniko", "preflight", path);

        Assert.Equal(1, result.ExitCode);
        var lines = result.Out.TrimEnd().Split('\n');
        Assert.Equal(3, lines.Length);
        // No --context: not /workspace, so WORKDIR /workspace only warns; /kaniko is always an error.
        Assert.StartsWith($"{path}:3: warning BFK206: WORKDIR /workspace", lines[0], StringComparison.Ordinal);
        Assert.StartsWith($"{path}:4: error BFK001: RUN creates /kaniko/x", lines[1], StringComparison.Ordinal);
        Assert.Equal($"{path}: 1 error(s), 1 warning(s): Kaniko would fail; fix the errors before building.", lines[2]);
    }

    [Theory]
    [InlineData("dir:///workspace", 1)]
    [InlineData("/workspace/", 1)] // Kaniko also takes a bare path as a directory context
    [InlineData("https://ctx.example.org/app.tar.gz", 0)]
    public async Task Preflight_ContextInWorkspace_MakesWritingIntoWorkspaceAnError(string context, int exitCode)
    {
        var path = Write("FROM alpine:3.19\nWORKDIR /workspace/app\nCOPY . .\n");

        var result = await CliRunner.RunAsync("kaniko", "preflight", path, "--context", context);

        Assert.Equal(exitCode, result.ExitCode);
        Assert.Contains(exitCode == 1 ? $"{path}:2: error BFK002: " : $"{path}:2: warning BFK206: ", result.Out, StringComparison.Ordinal);
        Assert.Contains(exitCode == 1 ? $"{path}:3: error BFK003: " : $"{path}:3: warning BFK206: ", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Preflight_JsonFormat_HasTheDocumentedShape()
    {
        var path = Write("FROM node:latest\nCOPY . /kaniko/app\n");

        var result = await CliRunner.RunAsync("kaniko", "preflight", path, "--format", "json", "--context", "git://github.com/acme/app.git");

        Assert.Equal(1, result.ExitCode);
        using var document = JsonDocument.Parse(result.Out);
        var root = document.RootElement;
        Assert.Equal(["file", "findings", "errors", "warnings"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal(path, root.GetProperty("file").GetString());
        Assert.Equal(1, root.GetProperty("errors").GetInt32());
        Assert.Equal(2, root.GetProperty("warnings").GetInt32());
        var findings = root.GetProperty("findings").EnumerateArray().ToList();
        Assert.All(findings, f => Assert.Equal(["line", "severity", "code", "reason", "message"], f.EnumerateObject().Select(p => p.Name)));
        Assert.Equal([0, 1, 2], findings.Select(f => f.GetProperty("line").GetInt32()));
        Assert.Equal(["BFK202", "BFK200", "BFK003"], findings.Select(f => f.GetProperty("code").GetString()));
        Assert.Equal(["warning", "warning", "error"], findings.Select(f => f.GetProperty("severity").GetString()));
        Assert.Equal(JsonValueKind.Null, findings[0].GetProperty("reason").ValueKind);
        Assert.Equal("filesystem_conflict", findings[2].GetProperty("reason").GetString());
        Assert.Contains("/kaniko/app", findings[2].GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Preflight_GitContextInText_HasNoLineNumber()
    {
        var path = Write("FROM alpine:3.19\n");

        var result = await CliRunner.RunAsync("kaniko", "preflight", path, "--context", "git://github.com/acme/app.git", "--format", "TEXT");

        Assert.Equal(0, result.ExitCode);
        Assert.StartsWith($"{path}: warning BFK202: the build context 'git://github.com/acme/app.git'", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Preflight_InvalidDockerfile_ReasonIsDockerfileInvalid()
    {
        var path = Write("FROM alpine:3.19\nRUN <<EOF\necho\n");

        var result = await CliRunner.RunAsync("kaniko", "preflight", path, "--format", "json");

        Assert.Equal(1, result.ExitCode);
        using var document = JsonDocument.Parse(result.Out);
        var finding = Assert.Single(document.RootElement.GetProperty("findings").EnumerateArray());
        Assert.Equal("BFK103", finding.GetProperty("code").GetString());
        Assert.Equal("dockerfile_invalid", finding.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Preflight_Stdin_IsReadForDash()
    {
        var result = await CliRunner.RunWithInputAsync("FROM alpine:3.19\nVOLUME /workspace\n", "kaniko", "preflight", "-");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("stdin:2: error BFK004: ", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Preflight_BuildArgs_OverrideDefaults()
    {
        const string text = "ARG DIR=/kaniko/plugins\nFROM alpine:3.19\nARG DIR\nRUN mkdir -p $DIR\n";

        var withDefault = await CliRunner.RunWithInputAsync(text, "kaniko", "preflight", "-");
        var overridden = await CliRunner.RunWithInputAsync(text, "kaniko", "preflight", "-", "--build-arg", "DIR=/srv", "--build-arg", "OTHER=x");

        Assert.Equal(1, withDefault.ExitCode);
        Assert.Contains("stdin:4: error BFK001", withDefault.Out, StringComparison.Ordinal);
        Assert.Equal(0, overridden.ExitCode);
    }

    [Fact]
    public async Task Preflight_MissingFile_ExitsTwoNamingIt()
    {
        var path = Path.Combine(_directory, "does-not-exist");

        var result = await CliRunner.RunAsync("kaniko", "preflight", path);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"cannot read '{path}'", result.Error, StringComparison.Ordinal);
        Assert.Empty(result.Out);
    }

    [Fact]
    public async Task Preflight_Directory_ExitsTwo()
    {
        var result = await CliRunner.RunAsync("kaniko", "preflight", _directory);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("cannot read", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--format", "yaml")]
    [InlineData("--build-arg", "=x")]
    public async Task Preflight_BadOption_ExitsTwoWithMessage(string option, string value)
    {
        var path = Write("FROM alpine:3.19\n");

        var result = await CliRunner.RunAsync("kaniko", "preflight", path, option, value);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(option, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Preflight_BuildArgWithoutValueOrEnvironment_ExitsTwo()
    {
        var path = Write("FROM alpine:3.19\n");

        var result = await CliRunner.RunAsync("kaniko", "preflight", path, "--build-arg", "BF_PREFLIGHT_SURELY_UNSET_VARIABLE");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("BF_PREFLIGHT_SURELY_UNSET_VARIABLE", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Preflight_NoDockerfile_ExitsTwo()
    {
        var result = await CliRunner.RunAsync("kaniko", "preflight");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("DOCKERFILE is missing", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Preflight_TwoDockerfiles_ExitsTwo()
    {
        var path = Write("FROM alpine:3.19\n");

        var result = await CliRunner.RunAsync("kaniko", "preflight", path, path);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("unexpected argument", result.Error, StringComparison.Ordinal);
    }
}
