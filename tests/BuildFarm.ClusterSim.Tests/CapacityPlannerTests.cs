using BuildFarm.ClusterSim.Planning;
using BuildFarm.ClusterSim.Scenarios;

namespace BuildFarm.ClusterSim.Tests;

public sealed class CapacityPlannerTests
{
    [Fact]
    public void Run_SameSeed_SameResult_MoreSlotsFinishSooner()
    {
        var scenario = ScenarioLoader.Default();
        var a = CapacityPlanner.Run(scenario, new PlanOptions { Builds = 500, Slots = 20, ResetRate = 0.03, Seed = 4 });
        var b = CapacityPlanner.Run(scenario, new PlanOptions { Builds = 500, Slots = 20, ResetRate = 0.03, Seed = 4 });
        Assert.Equal(a.MakespanSeconds, b.MakespanSeconds);
        Assert.Equal(a.ConnectionResets, b.ConnectionResets);
        Assert.True(a.ConnectionResets > 0);
        var wide = CapacityPlanner.Run(scenario, new PlanOptions { Builds = 500, Slots = 80, ResetRate = 0.03, Seed = 4 });
        Assert.True(wide.MakespanSeconds < a.MakespanSeconds / 2, $"{wide.MakespanSeconds} vs {a.MakespanSeconds}");
        Assert.Equal(500, a.Succeeded + a.Failed);
    }

    [Fact]
    public void Run_NoResets_NoRetries()
    {
        var result = CapacityPlanner.Run(ScenarioLoader.Default(), new PlanOptions { Builds = 100, Slots = 10, ResetRate = 0 });
        Assert.Equal((100, 0, 100, 0, 0), (result.Succeeded, result.Failed, result.Pods, result.PodRetries, result.ConnectionResets));
    }

    [Fact]
    public void Run_AlwaysReset_RetriesInNewPodsThenFailsAsConnectionReset()
    {
        var result = CapacityPlanner.Run(ScenarioLoader.Default(),
            new PlanOptions { Builds = 10, Slots = 5, ResetRate = 1, KanikoRetries = 1, MaxAttempts = 3 });
        Assert.Equal((0, 10, 30, 20), (result.Succeeded, result.Failed, result.Pods, result.PodRetries));
        Assert.Equal(10, result.FailuresByReason["connection_reset"]);
        Assert.Equal(30, result.KanikoRetryLines);
    }

    [Fact]
    public void Run_BadOptions_NameTheOption()
    {
        var e = Assert.Throws<ArgumentException>(() => CapacityPlanner.Run(ScenarioLoader.Default(), new PlanOptions { Builds = 0, Slots = 0, ResetRate = 2 }));
        Assert.Contains("--builds must be at least 1", e.Message, StringComparison.Ordinal);
        Assert.Contains("--slots must be at least 1", e.Message, StringComparison.Ordinal);
        Assert.Contains("--reset-rate must be between 0 and 1", e.Message, StringComparison.Ordinal);
    }
}
