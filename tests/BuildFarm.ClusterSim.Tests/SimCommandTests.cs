using BuildFarm.Cli;
using k8s;

namespace BuildFarm.ClusterSim.Tests;

/// <summary><c>buildfarm sim</c> run in process: it serves until cancelled and writes a usable kubeconfig.</summary>
public sealed class SimCommandTests
{
    [Fact]
    public async Task Sim_PortZeroWithKubeconfigOut_ServesUntilCancelled()
    {
        var kubeconfig = Path.Combine(Path.GetTempPath(), $"sim-cli-{Guid.NewGuid():N}.kubeconfig");
        using var output = new StringWriter();
        using var error = new StringWriter();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var run = BuildFarmCli.RunAsync(["sim", "--port", "0", "--seed", "5", "--kubeconfig-out", kubeconfig], new CliIO(TextReader.Null, output, error), cts.Token);
        try
        {
            await Eventually.ValueAsync(() => Task.FromResult<bool?>(File.Exists(kubeconfig) && new FileInfo(kubeconfig).Length > 0 || run.IsCompleted),
                ok => ok == true, "the kubeconfig to be written");
            Assert.False(run.IsCompleted, $"sim exited early: {error}");
            using var client = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig));
            var version = await client.Version.GetCodeAsync();
            Assert.Equal("32", version.Minor);
            Assert.Matches(@"cluster simulator listening on http://127\.0\.0\.1:\d+/ \(seed 5, time scale 30x, 4x10 pod slots\)", output.ToString());
        }
        finally
        {
            await cts.CancelAsync();
            Assert.Equal(0, await run);
            File.Delete(kubeconfig);
        }
    }

    [Fact]
    public async Task Sim_BadScenario_ExitsWithTheProblem()
    {
        var scenario = Path.Combine(Path.GetTempPath(), $"sim-bad-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(scenario, "timeScale: -3\n");
        try
        {
            using var output = new StringWriter();
            using var error = new StringWriter();
            var code = await BuildFarmCli.RunAsync(["sim", "--port", "0", "--scenario", scenario], new CliIO(TextReader.Null, output, error), CancellationToken.None);
            Assert.Equal(2, code);
            Assert.Contains("timeScale must be a positive number (got -3)", error.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(scenario);
        }
    }
}
