using BuildFarm.Contracts;
using Xunit.Abstractions;

namespace BuildFarm.Worker.Tests;

/// <summary>A small version of issue 4's load test 1: many builds with resets in every phase.</summary>
public sealed class LoadFlowTests(ITestOutputHelper output)
{
    [Fact]
    public async Task FortyBuildsWithResetsInEveryPhase_AllSucceed_OnePodPerAttempt_ResetsCounted()
    {
        await using var worker = await WorkerHarness.StartAsync("faults: { pullReset: 0.05, extractReset: 0.05, pushReset: 0.05 }",
            new Dictionary<string, string?> { ["Worker:MaxAttempts"] = "6" });
        var ids = Enumerable.Range(1, 40).Select(i => $"load{i}").ToList();
        await Task.WhenAll(ids.Select(id => worker.PublishAsync(WorkerHarness.Command(id))));

        var attemptsStarted = 0;
        var retried = 0;
        var resets = 0;
        foreach (var id in ids)
        {
            var end = await worker.Events.WaitEndAsync(id, seconds: 60);
            var succeeded = Assert.IsType<BuildSucceeded>(end);
            var started = worker.Events.Of<BuildStarted>(id);
            var failedAttempts = worker.Events.Of<BuildAttemptFailed>(id);
            // One pod per attempt, numbered 1..n, each in the simulator's history exactly once.
            Assert.Equal(Enumerable.Range(1, succeeded.Attempts).Select(a => $"bf-{id}-{a}"), started.Select(s => s.Pod));
            Assert.Equal(started.Select(s => s.Pod), await worker.PodsOfAsync(id));
            Assert.Equal(succeeded.Attempts - 1, failedAttempts.Count);
            Assert.All(failedAttempts, f => Assert.True(f.Transient, $"{id} attempt {f.Attempt}: {f.Reason}"));
            attemptsStarted += started.Count;
            retried += failedAttempts.Count;
            resets += succeeded.Resets;
        }
        Assert.True(resets > 0, "with 5% resets per phase some of 40 builds must have met resets");
        Assert.Equal(40 + retried, attemptsStarted);

        // Issue 4's budget: at most 4 Kubernetes API requests per build besides the shared list + watch
        // (here: create, log and delete per build; one more create and log per retry).
        var requests = (await worker.StatsAsync()).Requests.Where(r => r.Resource.StartsWith("pods", StringComparison.Ordinal)).ToList();
        var perBuild = requests.Where(r => r.Verb is not ("list" or "watch")).Sum(r => r.Count) / 40.0;
        output.WriteLine($"40 builds, {attemptsStarted} attempts, {resets} resets absorbed by Kaniko's retries; {perBuild:0.00} API requests per build besides list/watch");
        Assert.True(perBuild <= 4, $"{perBuild:0.00} API requests per build: {string.Join(", ", requests.Select(r => $"{r.Verb} {r.Resource} {r.Code}: {r.Count}"))}");
    }
}
