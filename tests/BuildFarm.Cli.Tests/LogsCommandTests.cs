using BuildFarm.Coordination.Logs;

namespace BuildFarm.Cli.Tests;

/// <summary><c>buildfarm logs</c>, and the last log lines of <c>status</c> and <c>submit --wait</c>, against the demo farm.</summary>
[Collection(DemoFarmGroup.Name)]
public sealed class LogsCommandTests(DemoFarmFixture farm)
{
    private async Task<BuildRecord> SubmitRunFailureAsync() =>
        await farm.Client.SubmitBuildAsync(new SubmitBuildRequest
        {
            Spec = DemoFarmFixture.Spec($"{DemoFarmFixture.RunFailingRegistry}/{DemoFarmFixture.Unique("logs")}/app:1"),
        });

    private async Task<BuildRecord> WaitAsync(string buildId, Func<BuildRecord, bool> condition)
    {
        BuildRecord? build = null;
        await Eventually.UntilAsync(async () => condition(build = await farm.Client.GetBuildAsync(buildId)), $"build {buildId} to get there",
            TimeSpan.FromSeconds(60));
        return build!;
    }

    private static string Text(IEnumerable<string> lines) => string.Concat(lines.Select(l => l + "\n"));

    [Fact]
    public async Task Logs_FailedInRun_PrintsItsRealKanikoLinesInOrder_AfterItsPodIsDeleted_StatusShowsTheLastLines()
    {
        // The demo deletes a failed pod at once (Worker:KeepFailedPodsFor 0): the log outlives it. That it is exactly what
        // Kubernetes served is checked against the pod in the worker's BuildLogTests.
        var build = await WaitAsync((await SubmitRunFailureAsync()).BuildId, b => b.State.IsFinal());
        Assert.Equal(BuildState.Failed, build.State);
        Assert.Single(build.Attempts);

        var plain = await CliRunner.RunAsync(farm.With("logs", build.BuildId));
        var stamped = await CliRunner.RunAsync(farm.With("logs", build.BuildId, "--attempt", "1", "--timestamps"));
        var status = await CliRunner.RunAsync(farm.With("status", build.BuildId));

        Assert.True(plain.ExitCode == 0, plain.Error);
        var lines = stamped.Out.TrimEnd('\n').Split('\n');
        Assert.True(lines.Length > 5, $"{lines.Length} lines");
        var stamps = lines.Select(l => LogLines.TrySplit(l, out var ticks, out _) ? ticks : -1).ToList();
        Assert.DoesNotContain(-1, stamps);
        Assert.Equal(stamps.Order(), stamps); // in order
        Assert.Equal(Text(lines.Select(LogLines.WithoutTimestamp)), plain.Out);
        Assert.Contains("Retrieving image manifest", lines[0], StringComparison.Ordinal);
        Assert.Contains("RUN", plain.Out, StringComparison.Ordinal);
        Assert.Contains("exit status 3", lines[^1], StringComparison.Ordinal);
        Assert.Contains($"last lines of {build.BuildId} attempt 1", status.Out, StringComparison.Ordinal);
        Assert.Contains("  " + LogLines.WithoutTimestamp(lines[^1]), status.Out, StringComparison.Ordinal);
        Assert.Equal(Math.Min(20, lines.Length), status.Out.Split('\n').SkipWhile(l => !l.StartsWith("last lines of", StringComparison.Ordinal)).Skip(1)
            .Count(l => l.StartsWith("  ", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task LogsFollow_RunningBuild_PrintsLinesUntilTheAttemptEnds()
    {
        var submitted = await SubmitRunFailureAsync();
        await WaitAsync(submitted.BuildId, b => b.Attempts.Count > 0);

        var followed = await CliRunner.RunAsync(farm.With("logs", submitted.BuildId, "-f")).WaitAsync(TimeSpan.FromSeconds(120));

        Assert.True(followed.ExitCode == 0, followed.Error);
        var all = await CliRunner.RunAsync(farm.With("logs", submitted.BuildId));
        Assert.Equal(all.Out, followed.Out);
        Assert.Contains("exit status 3", followed.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SubmitWait_FailedInRun_PrintsTheLastLinesUnderTheSummary()
    {
        var result = await CliRunner.RunAsync(farm.With("submit", "--context", "s3://ctx-bucket/app.tar.gz",
            "--destination", $"{DemoFarmFixture.RunFailingRegistry}/{DemoFarmFixture.Unique("wait")}/app:1", "--wait"));

        Assert.True(result.ExitCode == 1, result.Error + result.Out);
        Assert.Contains("attempt 1 (buildfarm logs ", result.Out, StringComparison.Ordinal);
        Assert.Contains("exit status 3", result.Out, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--attempt", "0")]
    [InlineData("--tail", "10001")]
    public async Task Logs_OutOfBounds_UsageError(string option, string value)
    {
        var result = await CliRunner.RunAsync(farm.With("logs", "build-000000000000", option, value));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(option, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Logs_UnknownBuild_NotFound()
    {
        var result = await CliRunner.RunAsync(farm.With("logs", "build-000000000000"));

        Assert.Equal(4, result.ExitCode);
    }
}
