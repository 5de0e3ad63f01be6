using System.Text.Json;

namespace BuildFarm.Cli.Tests;

public sealed class KanikoAnalyzeCommandTests : IDisposable
{
    private const string SuccessLog =
        "\u001b[36mINFO\u001b[0m[2026-11-28T19:42:01Z] Pushing image to 127.0.0.1:5000/app:1        \n"
        + "\u001b[36mINFO\u001b[0m[2026-11-28T19:42:03Z] Pushed 127.0.0.1:5000/app@sha256:8a0f8eb3ae0ab9e99bfbcfad01f2ae5a0060a8827ae7af6b684e53a7cdb6d66a \n";

    private const string FailedLog =
        "INFO[0012] Unpacking rootfs as cmd RUN x requires it.\n"
        + "WARN[0037] Retrying operation after 1s due to read tcp 1.2.3.4:1->5.6.7.8:443: read: connection reset by peer\n"
        + "error building image: error building stage: failed to get filesystem from image: read tcp 1.2.3.4:2->5.6.7.8:443: read: connection reset by peer\n";

    private readonly string _dir = Directory.CreateTempSubdirectory("bf-analyze-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string content)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        return path;
    }

    private static List<JsonElement> JsonLines(string output) =>
        [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone())];

    [Fact]
    public async Task Analyze_TwoFiles_OneJsonLineEachExit0()
    {
        var ok = Write("ok.log", SuccessLog);
        var failed = Write("failed.log", FailedLog);

        var result = await CliRunner.RunAsync("kaniko", "analyze", ok, failed);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(string.Empty, result.Error);
        var lines = JsonLines(result.Out);
        Assert.Equal(2, lines.Count);
        Assert.Equal(ok, lines[0].GetProperty("file").GetString());
        Assert.Equal("succeeded", lines[0].GetProperty("outcome").GetString());
        Assert.Equal(2, lines[0].GetProperty("phases").GetProperty("push").GetProperty("seconds").GetDouble());
        Assert.Equal("127.0.0.1:5000/app", lines[0].GetProperty("pushed")[0].GetProperty("image").GetString());
        Assert.Equal(failed, lines[1].GetProperty("file").GetString());
        Assert.Equal("failed", lines[1].GetProperty("outcome").GetString());
        Assert.Equal("connection_reset", lines[1].GetProperty("reason").GetString());
        Assert.True(lines[1].GetProperty("transient").GetBoolean());
        Assert.Equal("extract", lines[1].GetProperty("failedPhase").GetString());
        Assert.Equal(2, lines[1].GetProperty("resets").GetProperty("extract").GetInt32());
        Assert.Equal(1, lines[1].GetProperty("retries").GetProperty("extract").GetInt32());
    }

    [Fact]
    public async Task Analyze_Stdin_FileIsDash()
    {
        var result = await CliRunner.RunWithInputAsync(FailedLog, "kaniko", "analyze", "-");

        Assert.Equal(0, result.ExitCode);
        var line = Assert.Single(JsonLines(result.Out));
        Assert.Equal("-", line.GetProperty("file").GetString());
        Assert.Equal("failed", line.GetProperty("outcome").GetString());
    }

    [Fact]
    public async Task Analyze_Destination_SelectsTheFinalPush()
    {
        var ok = Write("ok.log", SuccessLog);

        var other = await CliRunner.RunAsync("kaniko", "analyze", ok, "--destination", "127.0.0.1:5000/other:1");
        var matching = await CliRunner.RunAsync("kaniko", "analyze", "--destination", "127.0.0.1:5000/app:1", ok);

        // With a destination that is not in the log, the push is not the build's final push, and the output says so.
        var incomplete = Assert.Single(JsonLines(other.Out));
        Assert.Equal("incomplete", incomplete.GetProperty("outcome").GetString());
        Assert.Equal(["127.0.0.1:5000/other:1"], incomplete.GetProperty("notPushed").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("no push to 127.0.0.1:5000/other:1 was seen; the log pushes 127.0.0.1:5000/app:1, which is not a given destination",
            incomplete.GetProperty("note").GetString());
        var succeeded = Assert.Single(JsonLines(matching.Out));
        Assert.Equal("succeeded", succeeded.GetProperty("outcome").GetString());
        Assert.Empty(succeeded.GetProperty("notPushed").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, succeeded.GetProperty("note").ValueKind);
    }

    [Fact]
    public async Task Analyze_CutBeforeThePush_NoteSaysNoPushWasSeen()
    {
        var cut = Write("cut.log", SuccessLog.Split('\n')[0] + "\n");

        var withDestination = Assert.Single(JsonLines((await CliRunner.RunAsync("kaniko", "analyze", cut, "--destination", "127.0.0.1:5000/app:1")).Out));
        var without = Assert.Single(JsonLines((await CliRunner.RunAsync("kaniko", "analyze", cut)).Out));

        Assert.Equal("incomplete", withDestination.GetProperty("outcome").GetString());
        Assert.Equal("no push to 127.0.0.1:5000/app:1 was seen: the log ends before Kaniko pushed (killed or cut short)", withDestination.GetProperty("note").GetString());
        Assert.Equal("incomplete", without.GetProperty("outcome").GetString());
        Assert.Empty(without.GetProperty("notPushed").EnumerateArray());
        Assert.StartsWith("neither a push to a destination nor a fatal error was seen", without.GetProperty("note").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Analyze_MissingFile_MessageNamesFileOthersAnalyzedExit2()
    {
        var ok = Write("ok.log", SuccessLog);
        var missing = Path.Combine(_dir, "nope.log");

        var result = await CliRunner.RunAsync("kaniko", "analyze", missing, ok);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"cannot read '{missing}'", result.Error, StringComparison.Ordinal);
        Assert.Contains("no such file", result.Error, StringComparison.Ordinal);
        var line = Assert.Single(JsonLines(result.Out));
        Assert.Equal(ok, line.GetProperty("file").GetString());
    }

    [Fact]
    public async Task Analyze_Directory_ReportedExit2()
    {
        var result = await CliRunner.RunAsync("kaniko", "analyze", _dir);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"cannot read '{_dir}': it is a directory", result.Error, StringComparison.Ordinal);
        Assert.Equal(string.Empty, result.Out);
    }

    [Fact]
    public async Task Analyze_NoFile_UsageError()
    {
        var result = await CliRunner.RunAsync("kaniko", "analyze");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("Required argument missing", result.Error, StringComparison.Ordinal);
        Assert.Contains("analyze", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Analyze_EmptyDestination_UsageErrorNamesOption()
    {
        var ok = Write("ok.log", SuccessLog);

        var result = await CliRunner.RunAsync("kaniko", "analyze", ok, "--destination", " ");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--destination number 1 is empty", result.Error, StringComparison.Ordinal);
        Assert.Equal(string.Empty, result.Out);
    }
}
