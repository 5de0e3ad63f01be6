using BuildFarm.Cli.Commands;
using BuildFarm.Cli.Demo;

namespace BuildFarm.Cli.Tests;

public sealed class DemoCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("bf-demo-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Demo_SixImages_ExitsZeroWithTableAndNoPodsLeft()
    {
        var result = await CliRunner.RunAsync("demo", "--images", "6");

        Assert.True(result.ExitCode == 0, result.Error + result.Out);
        foreach (var image in new[] { "base", "base-python", "base-node", "base-jvm", "base-go" })
        {
            Assert.Matches($"│ {image} +│ succeeded +│ +[1-4] │", result.Out);
        }
        Assert.Contains("total (6)", result.Out, StringComparison.Ordinal);
        Assert.Contains("6 ok, 0 failed, 0 cancelled", result.Out, StringComparison.Ordinal);
        Assert.Contains("6 builds in ", result.Out, StringComparison.Ordinal);
        Assert.Contains("every build succeeded", result.Out, StringComparison.Ordinal);
        Assert.Contains("pods left in the cluster: 0", result.Out, StringComparison.Ordinal);
        Assert.Matches("metrics +http://127\\.0\\.0\\.1:[0-9]+/metrics", result.Out);
        Assert.DoesNotContain("\u001b[", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Demo_EveryRunFails_ExitsZeroAsTheScenarioIntends()
    {
        var scenario = Path.Combine(_dir, "fail.yaml");
        // Every RUN step that runs fails: the base fails as step_failed, its dependents end as dependency_failed without
        // building. Cache hits are off: the sample builds with --cache, and a RUN layer found in the cache never runs.
        await File.WriteAllTextAsync(scenario, DemoScenario.DefaultYaml()
            .Replace("faults: { pullReset: 0.05, pushReset: 0.1 }", "faults: { runFailure: 1 }\ncache: { hitRate: 0 }", StringComparison.Ordinal));

        var result = await CliRunner.RunAsync("demo", "--images", "3", "--scenario", scenario);

        Assert.True(result.ExitCode == 0, result.Error + result.Out);
        Assert.Matches("│ base +│ failed +│ +1 │.*step_failed", result.Out);
        Assert.Matches("│ base-python +│ failed +│ +0 │.*dependency_failed", result.Out);
        Assert.Contains("0 ok, 3 failed", result.Out, StringComparison.Ordinal);
        Assert.Contains("every build ended as the scenario intends", result.Out, StringComparison.Ordinal);
        Assert.Contains("pods left in the cluster: 0", result.Out, StringComparison.Ordinal);
        // Under the table, the failed base's log ends with Kaniko's RUN error; its dependents ran no attempt and have none.
        var lines = result.Out.Split('\n');
        var heading = Array.FindIndex(lines, l => l.StartsWith("last lines of base-", StringComparison.Ordinal));
        Assert.True(heading > Array.FindIndex(lines, l => l.Contains("│ base ", StringComparison.Ordinal)), result.Out);
        Assert.Matches("^last lines of base-[^ ]+ attempt 1 \\(buildfarm logs base-[^ ]+ --attempt 1\\):$", lines[heading]);
        var shown = lines.Skip(heading + 1).TakeWhile(l => l.StartsWith("  ", StringComparison.Ordinal)).ToList();
        Assert.Equal(DemoCommand.FailureLogLines, shown.Count);
        Assert.Matches("exit status [0-9]+", shown[^1]);
        Assert.Single(lines, l => l.StartsWith("last lines of ", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("--images", "0")]
    [InlineData("--images", "501")]
    [InlineData("--metrics-port", "70000")]
    public async Task Demo_BadOption_ExitsTwo(string option, string value)
    {
        var result = await CliRunner.RunAsync("demo", option, value);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(option, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Demo_ScenarioMissing_ExitsTwo()
    {
        var result = await CliRunner.RunAsync("demo", "--scenario", Path.Combine(_dir, "none.yaml"));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("scenario file not found", result.Error, StringComparison.Ordinal);
    }
}
