using BuildFarm.ClusterSim.Scenarios;

namespace BuildFarm.ClusterSim.Tests;

public sealed class ScenarioTests
{
    [Fact]
    public void Default_ShipsWithoutFaultsAndCompressesTime()
    {
        var scenario = ScenarioLoader.Default();
        Assert.True(scenario.TimeScale >= 10);
        Assert.Equal(0, scenario.Faults.PushReset);
        Assert.Equal(0, scenario.Faults.OomKilled);
        Assert.Equal(0, scenario.Api.ErrorRate);
        Assert.NotNull(scenario.Timings.Push);
        Assert.Equal(10, scenario.Registries["index.docker.io"].Timings!.Extract!.Median);
    }

    [Fact]
    public void Default_FileInSourceTree_IsTheEmbeddedOne()
    {
        var path = Path.Combine(TestPaths.RepoRoot, "src", "BuildFarm.ClusterSim", "scenarios", "default.yaml");
        Assert.Equal(File.ReadAllText(path), ScenarioLoader.DefaultYaml());
    }

    [Fact]
    public void Parse_UnknownKey_FailsNamingIt()
    {
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse("timeScale: 5\nfaults:\n  pushResets: 0.1\n", "s.yaml"));
        Assert.Contains("s.yaml", e.Message, StringComparison.Ordinal);
        Assert.Contains("pushResets", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_BadValues_ListsEveryProblem()
    {
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse("""
            timeScale: 0
            capacity: { nodes: 0 }
            faults: { pushReset: 1.5, runExitCode: 300 }
            timings: { push: { median: 10, p95: 5 } }
            quota: { maxContainerMemory: lots }
            """));
        Assert.Contains("timeScale must be a positive number", e.Message, StringComparison.Ordinal);
        Assert.Contains("capacity.nodes must be at least 1", e.Message, StringComparison.Ordinal);
        Assert.Contains("faults.pushReset must be a probability", e.Message, StringComparison.Ordinal);
        Assert.Contains("faults.runExitCode must be between 1 and 255", e.Message, StringComparison.Ordinal);
        Assert.Contains("timings.push.p95 must be at least the median", e.Message, StringComparison.Ordinal);
        Assert.Contains("quota.maxContainerMemory must be a positive Kubernetes quantity such as 8Gi (got 'lots')", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingFile_SaysSo()
    {
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.Load("/nonexistent/scenario.yaml"));
        Assert.Equal("scenario file not found: /nonexistent/scenario.yaml", e.Message);
    }

    [Fact]
    public void Distribution_Samples_HaveTheConfiguredMedianAndP95()
    {
        var d = new Distribution(10, 40);
        var random = new Random(1);
        var samples = Enumerable.Range(0, 20_000).Select(_ => d.Sample(random)).Order().ToList();
        Assert.InRange(samples[samples.Count / 2], 9.5, 10.5);
        Assert.InRange(samples[(int)(samples.Count * 0.95)], 36, 44);
    }
}
