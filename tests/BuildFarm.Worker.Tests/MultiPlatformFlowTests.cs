using BuildFarm.Contracts;
using BuildFarm.Kaniko.Pods;
using k8s;

namespace BuildFarm.Worker.Tests;

/// <summary>A multi-platform build through the BuildImage consumer against the cluster simulator (no registry needed:
/// the build fails before any index push). The success path, with the index in a real registry, is
/// BuildFarm.Status.Tests' BatchEndToEndTests.</summary>
public sealed class MultiPlatformFlowTests
{
    [Fact]
    public async Task AFailedPlatform_FailsTheBuildNamingIt_StopsTheOtherPlatform_AndKeepsOnlyTheFailedPod()
    {
        // Every push is refused (permanent), and the simulator's nodes are all amd64: the amd64 pod fails, the arm64 pod
        // can never be scheduled and waits, Pending, until the fan-out stops it.
        await using var worker = await WorkerHarness.StartAsync("faults: { unauthorized: 1 }");
        var command = WorkerHarness.Command("mp1", WorkerHarness.Spec("registry.example.com/team/mp1:1") with { Platforms = ["linux/amd64", "linux/arm64"] });
        await worker.PublishAsync(command);

        var failed = Assert.IsType<BuildFailed>(await worker.Events.WaitEndAsync("mp1"));
        Assert.Equal(FailureReasons.Unauthorized, failed.Reason);
        Assert.StartsWith("platform linux/amd64: ", failed.Detail, StringComparison.Ordinal);
        Assert.Equal(1, failed.Attempts);
        var attemptFailed = Assert.Single(worker.Events.Of<BuildAttemptFailed>("mp1"));
        Assert.Equal(("linux/amd64", 1), (attemptFailed.Platform, attemptFailed.Attempt));
        Assert.Contains(worker.Events.Of<BuildStarted>("mp1"), s => s.Platform == "linux/amd64" && s.Pod == KanikoPodNames.PlatformPodName("mp1", "linux/amd64", 1));
        Assert.Empty(worker.Events.Of<BuildSucceeded>("mp1"));

        var amd = KanikoPodNames.PlatformPodName("mp1", "linux/amd64", 1);
        var arm = KanikoPodNames.PlatformPodName("mp1", "linux/arm64", 1);
        Assert.Equal([amd, arm], await worker.PodsOfAsync("mp1"));
        await Eventually.UntilAsync(() => worker.PodGoneAsync(arm), $"the stopped platform's pod {arm} to be deleted", TimeSpan.FromSeconds(30));
        var kept = await worker.Kubernetes.CoreV1.ReadNamespacedPodAsync(amd, WorkerHarness.Namespace);
        Assert.Equal("Failed", kept.Status.Phase);
        Assert.Equal("amd64", kept.Spec.NodeSelector["kubernetes.io/arch"]);
    }
}
