using BuildFarm.Api.Hosting;
using BuildFarm.Contracts;

namespace BuildFarm.Api.Tests;

/// <summary>The order a batch cancel cancels its open builds in: a waiting image before anything it waits for, so
/// that the orchestrator never ends it as dependency_failed first.</summary>
public sealed class CancelOrderTests
{
    private static BuildRecord Build(string id, BuildState state, params string[] dependsOn) => new()
    {
        BuildId = id, State = state, DependsOn = dependsOn,
        Spec = new BuildSpec { Context = "s3://b/c.tar.gz", Destinations = [$"r.example/{id}:1"] },
    };

    [Fact]
    public void WaitingFirst_DeepestFirst_ThenQueuedAndRunning()
    {
        var open = new[]
        {
            Build("a", BuildState.Running),
            Build("c", BuildState.Waiting, "a"),
            Build("b", BuildState.Queued),
            Build("e", BuildState.Waiting, "d", "a"),
            Build("d", BuildState.Waiting, "c"),
        };

        var order = BatchEndpoints.CancelOrder(open).Select(b => b.BuildId).ToList();

        Assert.Equal(["e", "d", "c", "a", "b"], order);
    }

    [Fact]
    public void ALongChain_NoRecursionLimit_AndACycleDoesNotLoop()
    {
        var chain = Enumerable.Range(0, 20_000).Select(i => Build($"n{i:D5}", BuildState.Waiting, i == 0 ? [] : [$"n{i - 1:D5}"])).ToList();
        var order = BatchEndpoints.CancelOrder(chain);
        Assert.Equal("n19999", order[0].BuildId);
        Assert.Equal("n00000", order[^1].BuildId);

        var cycle = new[] { Build("x", BuildState.Waiting, "y"), Build("y", BuildState.Waiting, "x") };
        Assert.Equal(2, BatchEndpoints.CancelOrder(cycle).Count);
    }
}
