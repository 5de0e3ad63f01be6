using BuildFarm.Kaniko.Classification;
using k8s.Models;

namespace BuildFarm.Kaniko.Tests.Classification;

public sealed class PodTerminationTests
{
    private static V1ContainerStatus Status(string name, V1ContainerState state, V1ContainerState? last = null) =>
        new() { Name = name, Image = "img", ImageID = "", Ready = false, RestartCount = 0, State = state, LastState = last };

    [Fact]
    public void FromPod_TerminatedContainer_ReadsExitAndPodReason()
    {
        var pod = new V1Pod
        {
            Status = new V1PodStatus
            {
                Phase = "Failed",
                Reason = "Evicted",
                Message = "The node was low on resource: memory.",
                ContainerStatuses =
                [
                    Status("sidecar", new V1ContainerState { Terminated = new V1ContainerStateTerminated { ExitCode = 0, Reason = "Completed" } }),
                    Status("kaniko", new V1ContainerState { Terminated = new V1ContainerStateTerminated { ExitCode = 137, Reason = "OOMKilled", Message = "tail" } }),
                ],
            },
        };

        var t = PodTermination.FromPod(pod, "kaniko");

        Assert.Equal("Failed", t.PodPhase);
        Assert.Equal("Evicted", t.PodReason);
        Assert.Equal("The node was low on resource: memory.", t.PodMessage);
        Assert.Equal(137, t.ExitCode);
        Assert.Equal("OOMKilled", t.TerminatedReason);
        Assert.Equal("tail", t.TerminatedMessage);
        Assert.True(t.Terminated);
        Assert.Null(t.WaitingReason);
    }

    [Fact]
    public void FromPod_WaitingContainer_ReadsWaitingReason()
    {
        var pod = new V1Pod
        {
            Status = new V1PodStatus
            {
                Phase = "Pending",
                ContainerStatuses = [Status("kaniko", new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = "ImagePullBackOff", Message = "Back-off pulling image" } })],
            },
        };

        var t = PodTermination.FromPod(pod, "kaniko");

        Assert.False(t.Terminated);
        Assert.Null(t.ExitCode);
        Assert.Equal("ImagePullBackOff", t.WaitingReason);
        Assert.Equal("Back-off pulling image", t.WaitingMessage);
    }

    [Fact]
    public void FromPod_TerminatedOnlyInLastState_UsesLastState()
    {
        var pod = new V1Pod
        {
            Status = new V1PodStatus
            {
                ContainerStatuses =
                [
                    Status("kaniko",
                        new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = "ContainerCreating" } },
                        new V1ContainerState { Terminated = new V1ContainerStateTerminated { ExitCode = 3, Reason = "Error" } }),
                ],
            },
        };

        var t = PodTermination.FromPod(pod, "kaniko");

        Assert.Equal(3, t.ExitCode);
        Assert.Null(t.WaitingReason);
    }

    [Fact]
    public void FromPod_DisruptionTargetCondition_OnlyWhenTrue()
    {
        V1Pod PodWith(string status) => new()
        {
            Status = new V1PodStatus
            {
                Conditions =
                [
                    new V1PodCondition { Type = "Ready", Status = "False", Reason = "PodFailed" },
                    new V1PodCondition { Type = "DisruptionTarget", Status = status, Reason = "DeletionByTaintManager" },
                ],
            },
        };

        Assert.Equal("DeletionByTaintManager", PodTermination.FromPod(PodWith("True"), "kaniko").DisruptionReason);
        Assert.Null(PodTermination.FromPod(PodWith("False"), "kaniko").DisruptionReason);
    }

    [Fact]
    public void FromPod_NoStatus_AllNull()
    {
        var t = PodTermination.FromPod(new V1Pod(), "kaniko");

        Assert.Equal(new PodTermination(), t);
    }

    [Fact]
    public void FromPod_ThenClassify_OomKilledPod()
    {
        var pod = new V1Pod
        {
            Status = new V1PodStatus
            {
                Phase = "Failed",
                ContainerStatuses = [Status("kaniko", new V1ContainerState { Terminated = new V1ContainerStateTerminated { ExitCode = 137, Reason = "OOMKilled" } })],
            },
        };

        var result = FailureClassifier.Classify(PodTermination.FromPod(pod, "kaniko"), null);

        Assert.Equal("oom_killed", result.Reason);
        Assert.False(result.Transient);
    }
}
