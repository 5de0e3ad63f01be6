using BuildFarm.Cli.Demo;
using BuildFarm.ClusterSim.Scenarios;
using BuildFarm.Contracts;

namespace BuildFarm.Cli.Tests;

public sealed class DemoScenarioTests
{
    private static BuildRecord Build(string id, BuildState state, string? reason = null, int attempts = 1, params string[] dependsOn) => new()
    {
        BuildId = id,
        Name = id,
        Spec = new BuildSpec { Context = "s3://b/c.tar.gz", Destinations = ["registry.example.com/t/x:1"] },
        State = state,
        Reason = reason,
        Attempts = [.. Enumerable.Range(1, attempts).Select(a => new AttemptRecord { Attempt = a })],
        DependsOn = dependsOn,
    };

    private static Scenario Parse(string faults) => ScenarioLoader.Parse(ScenarioLoader.FastYaml() + faults);

    [Fact]
    public void Default_IsValidWithResetsOnly()
    {
        var scenario = DemoScenario.Default();

        Assert.Equal(DemoScenario.TimeScale, scenario.TimeScale);
        Assert.Empty(DemoScenario.PermanentFaults(scenario));
        Assert.Equal([FailureReasons.ConnectionReset], DemoScenario.TransientFaults(scenario));
    }

    [Fact]
    public void Unintended_AllSucceeded_Empty()
    {
        Assert.Empty(DemoScenario.Unintended(DemoScenario.Default(), [Build("a", BuildState.Succeeded), Build("b", BuildState.Succeeded)], 4));
    }

    [Fact]
    public void Unintended_StepFailedWithRunFailureAndItsDependent_Empty()
    {
        var scenario = Parse("faults: { runFailure: 1 }\n");
        var builds = new[]
        {
            Build("base", BuildState.Failed, FailureReasons.StepFailed),
            Build("app", BuildState.Failed, FailureReasons.DependencyFailed, 0, "base"),
        };

        Assert.Empty(DemoScenario.Unintended(scenario, builds, 4));
    }

    [Fact]
    public void Unintended_StepFailedWithoutRunFailure_Named()
    {
        var problems = DemoScenario.Unintended(DemoScenario.Default(), [Build("base", BuildState.Failed, FailureReasons.StepFailed)], 4);

        Assert.Contains("base: failed with step_failed", Assert.Single(problems), StringComparison.Ordinal);
    }

    [Fact]
    public void Unintended_TransientReasonBeforeLastAttempt_Named()
    {
        var scenario = DemoScenario.Default();

        Assert.Single(DemoScenario.Unintended(scenario, [Build("a", BuildState.Failed, FailureReasons.ConnectionReset, attempts: 2)], 4));
        Assert.Empty(DemoScenario.Unintended(scenario, [Build("a", BuildState.Failed, FailureReasons.ConnectionReset, attempts: 4)], 4));
    }

    [Fact]
    public void Unintended_DependencyFailedWithoutFailedDependency_Named()
    {
        var builds = new[] { Build("base", BuildState.Succeeded), Build("app", BuildState.Failed, FailureReasons.DependencyFailed, 0, "base") };

        Assert.Contains("none of its dependencies failed", Assert.Single(DemoScenario.Unintended(DemoScenario.Default(), builds, 4)), StringComparison.Ordinal);
    }

    [Fact]
    public void Unintended_CancelledOrStillRunning_Named()
    {
        var problems = DemoScenario.Unintended(DemoScenario.Default(), [Build("a", BuildState.Cancelled), Build("b", BuildState.Running)], 4);

        Assert.Equal(["a: cancelled", "b: did not end (state running)"], problems);
    }

    [Fact]
    public void PermanentFaults_PerRegistryFault_Counted()
    {
        var scenario = Parse("registries:\n  fail.example.com:\n    faults: { unauthorized: 1 }\n");

        Assert.Equal([FailureReasons.Unauthorized], DemoScenario.PermanentFaults(scenario));
    }
}
