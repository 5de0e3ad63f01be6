using BuildFarm.Kaniko.Classification;
using k8s.Models;

namespace BuildFarm.Kaniko.Tests.Classification;

public sealed class PodStatesTests
{
    private static V1Pod Pod(string? phase, params V1ContainerStatus[] containers) =>
        new() { Status = new V1PodStatus { Phase = phase, ContainerStatuses = containers.Length == 0 ? null : containers } };

    private static V1ContainerStatus Container(string name, V1ContainerState state) =>
        new() { Name = name, Image = "img", ImageID = "", Ready = false, RestartCount = 0, State = state };

    private static V1ContainerState Waiting(string reason) => new() { Waiting = new V1ContainerStateWaiting { Reason = reason } };

    private static V1ContainerState Running(DateTime at) => new() { Running = new V1ContainerStateRunning { StartedAt = at } };

    private static V1ContainerState Terminated(DateTime started) =>
        new() { Terminated = new V1ContainerStateTerminated { ExitCode = 1, StartedAt = started } };

    [Theory]
    [InlineData("Pending", false)]
    [InlineData(null, false)]
    [InlineData("Running", true)]
    [InlineData("Succeeded", true)]
    [InlineData("Failed", true)]
    public void IsStarted_ByPhase(string? phase, bool started) => Assert.Equal(started, PodStates.IsStarted(Pod(phase)));

    [Fact]
    public void IsStarted_PendingPodWithARunningOrTerminatedContainer_IsStarted()
    {
        var at = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        Assert.True(PodStates.IsStarted(Pod("Pending", Container("kaniko", Running(at)))));
        Assert.True(PodStates.IsStarted(Pod("Pending", Container("other", Terminated(at)))));
        Assert.False(PodStates.IsStarted(Pod("Pending", Container("kaniko", Waiting("ContainerCreating")))));
        Assert.False(PodStates.IsStarted(new V1Pod()));
    }

    [Fact]
    public void IsTerminated_OnlyAnEndedPhaseOrTheKanikoContainerTerminated()
    {
        var at = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        Assert.True(PodStates.IsTerminated(Pod("Succeeded")));
        Assert.True(PodStates.IsTerminated(Pod("Failed")));
        Assert.False(PodStates.IsTerminated(Pod("Running", Container("kaniko", Running(at)))));
        Assert.True(PodStates.IsTerminated(Pod("Running", Container("kaniko", Terminated(at)))));
        // Another container ending does not end the build.
        Assert.False(PodStates.IsTerminated(Pod("Running", Container("sidecar", Terminated(at)), Container("kaniko", Running(at)))));
    }

    [Theory]
    [InlineData("ErrImagePull", true)]
    [InlineData("ImagePullBackOff", true)]
    [InlineData("InvalidImageName", true)]
    [InlineData("ErrImageNeverPull", true)]
    [InlineData("CreateContainerConfigError", true)]
    [InlineData("CreateContainerError", true)]
    [InlineData("ContainerCreating", false)]
    [InlineData("PodInitializing", false)]
    public void IsStuck_ByWaitingReason(string reason, bool stuck) =>
        Assert.Equal(stuck, PodStates.IsStuck(Pod("Pending", Container("kaniko", Waiting(reason)))));

    [Fact]
    public void IsStuck_NoContainerStatuses_IsNotStuck() => Assert.False(PodStates.IsStuck(Pod("Pending")));

    [Fact]
    public void ContainerStartedAt_ReadsTheKanikoContainerRunningOrTerminated_AsUtc()
    {
        var running = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Unspecified);
        var started = PodStates.ContainerStartedAt(Pod("Running", Container("sidecar", Running(running.AddHours(1))), Container("kaniko", Running(running))));
        Assert.Equal(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero), started);

        var ended = new DateTime(2026, 1, 2, 4, 0, 0, DateTimeKind.Utc);
        Assert.Equal(new DateTimeOffset(ended), PodStates.ContainerStartedAt(Pod("Failed", Container("kaniko", Terminated(ended)))));
        Assert.Null(PodStates.ContainerStartedAt(Pod("Pending", Container("kaniko", Waiting("ContainerCreating")))));
        Assert.Null(PodStates.ContainerStartedAt(Pod("Running", Container("sidecar", Running(ended)))));
    }
}
