using System.Diagnostics;
using BuildFarm.Coordination.Logs;
using BuildFarm.Kaniko.Pods;
using BuildFarm.Status;
using k8s;

namespace BuildFarm.Cli.Tests;

/// <summary><c>buildfarm logs</c>, and the last log lines of <c>status</c> and <c>submit --wait</c>, against the demo farm.</summary>
[Collection(DemoFarmGroup.Name)]
public sealed class LogsCommandTests(DemoFarmFixture farm)
{
    private async Task<BuildRecord> SubmitRunFailureAsync() =>
        await farm.Client.SubmitBuildAsync(new BuildFarm.Client.SubmitBuildRequest
        {
            Spec = DemoFarmFixture.Spec($"{DemoFarmFixture.RunFailingRegistry}/{DemoFarmFixture.Unique("logs")}/app:1"),
        });

    private async Task<BuildRecord> WaitAsync(string buildId, Func<BuildRecord, bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            var build = await farm.Client.GetBuildAsync(buildId);
            if (condition(build))
            {
                return build;
            }
            await Task.Delay(20);
        }
        throw new TimeoutException($"build {buildId} did not get there within 60 s");
    }

    private Kubernetes Kubernetes()
    {
        var path = Path.Combine(Path.GetTempPath(), $"logs-test-{Guid.NewGuid():N}.kubeconfig");
        farm.Farm.Sim.WriteKubeconfig(path);
        try
        {
            return new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static async Task<List<string>> PodLogAsync(Kubernetes kubernetes, string pod, string ns)
    {
        await using var stream = await kubernetes.CoreV1.ReadNamespacedPodLogAsync(pod, ns, container: KanikoPodFactory.ContainerName, timestamps: true);
        using var reader = new StreamReader(stream);
        var lines = new List<string>();
        while (await reader.ReadLineAsync() is { } line)
        {
            lines.Add(line);
        }
        return lines;
    }

    private static string Text(IEnumerable<string> lines) => string.Concat(lines.Select(l => l + "\n"));

    [Fact]
    public async Task Logs_FailedInRun_PrintsItsRealKanikoLinesInOrder_AfterItsPodIsDeleted_StatusShowsTheLastLines()
    {
        var build = await WaitAsync((await SubmitRunFailureAsync()).BuildId, b => b.State.IsFinal());
        Assert.Equal(BuildState.Failed, build.State);
        var pod = Assert.Single(build.Attempts).Pod!;
        using var kubernetes = Kubernetes();
        var ns = (await kubernetes.CoreV1.ListPodForAllNamespacesAsync(fieldSelector: $"metadata.name={pod}")).Items.Single().Metadata.NamespaceProperty;
        var podLog = await PodLogAsync(kubernetes, pod, ns);
        await kubernetes.CoreV1.DeleteNamespacedPodAsync(pod, ns, gracePeriodSeconds: 0);

        var plain = await CliRunner.RunAsync(farm.With("logs", build.BuildId));
        var stamped = await CliRunner.RunAsync(farm.With("logs", build.BuildId, "--attempt", "1", "--timestamps"));
        var status = await CliRunner.RunAsync(farm.With("status", build.BuildId));

        Assert.True(plain.ExitCode == 0, plain.Error);
        Assert.True(podLog.Count > 5, $"{podLog.Count} lines");
        Assert.Equal(Text(podLog), stamped.Out);
        Assert.Equal(Text(podLog.Select(LogLines.WithoutTimestamp)), plain.Out);
        Assert.Contains("RUN", plain.Out, StringComparison.Ordinal);
        Assert.Contains($"last lines of {build.BuildId} attempt 1", status.Out, StringComparison.Ordinal);
        Assert.Contains("  " + LogLines.WithoutTimestamp(podLog[^1]), status.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("  " + LogLines.WithoutTimestamp(podLog[^21]), status.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LogsFollow_RunningBuild_PrintsLinesUntilTheAttemptEnds()
    {
        var submitted = await SubmitRunFailureAsync();
        await WaitAsync(submitted.BuildId, b => b.Attempts.Count > 0);

        var followed = await CliRunner.RunAsync(farm.With("logs", submitted.BuildId, "-f"));

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
