using BuildFarm.Contracts;
using BuildFarm.Kaniko.Specs;
using BuildFarm.Registry;
using BuildFarm.Worker.Builds;

namespace BuildFarm.Worker.Tests;

/// <summary>The pure parts of a multi-platform build: its lanes, what their outcomes come to, the fan-out's stopping rule,
/// the index entries and the index push's failure reasons.</summary>
public sealed class PlatformFanOutTests
{
    private const string Amd = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    private const string Arm = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private static BuildImage Command(string? platform = null, IReadOnlyList<string>? platforms = null) => new()
    {
        BuildId = "b1",
        Spec = new BuildSpec
        {
            Context = "s3://ctx/app.tar.gz",
            Destinations = ["registry.example.com/team/app:1", "registry.example.com/team/app:latest", "mirror.example.org/app:1"],
            Platform = platform,
            Platforms = platforms,
        },
    };

    private static IReadOnlyList<AttemptLane> Lanes(BuildImage command) =>
        PlatformFanOut.Lanes(command, BuildKey.Compute(command.Spec, "executor@sha256:" + new string('0', 64)), "registry.example.com");

    private static AttemptDecision Failure(string reason, string detail) => new(AttemptVerdict.Fail, null, reason, detail, TimeSpan.Zero);

    [Fact]
    public void Lanes_NoPlatformOrOne_IsOneLaneWithoutPlatformPushingToTheDestinations()
    {
        foreach (var command in new[] { Command(), Command("linux/arm64"), Command(platforms: ["linux/arm64"]) })
        {
            var lane = Assert.Single(Lanes(command));
            Assert.Null(lane.Platform);
            Assert.Equal(command.Spec.Destinations, lane.Destinations);
        }
    }

    [Fact]
    public void Lanes_TwoPlatforms_OneLanePerPlatformInOrder_EachPushingToItsStagingTagOfEveryRepository()
    {
        var command = Command(platforms: ["linux/arm64", "linux/amd64"]);
        var lanes = Lanes(command);
        Assert.Equal(["linux/arm64", "linux/amd64"], lanes.Select(l => l.Platform));
        var key = lanes[0].BuildKey;
        Assert.Equal([$"registry.example.com/team/app:buildfarm-{key[..16]}-linux-arm64", $"mirror.example.org/app:buildfarm-{key[..16]}-linux-arm64"],
            lanes[0].Destinations);
        Assert.All(lanes[1].Destinations, d => Assert.EndsWith("-linux-amd64", d, StringComparison.Ordinal));
    }

    [Fact]
    public void Combine_AllSucceeded_EveryImageInLaneOrder_AttemptsTheMost()
    {
        var lanes = Lanes(Command(platforms: ["linux/amd64", "linux/arm64"]));
        lanes[0].Attempt = 1;
        lanes[1].Attempt = 3;
        var outcome = PlatformFanOut.Combine(lanes, [LaneOutcome.Success(Amd, null), LaneOutcome.Success(Arm, null)]);
        Assert.True(outcome.Succeeded);
        Assert.Equal([("linux/amd64", Amd), ("linux/arm64", Arm)], outcome.Images.Select(i => (i.Platform, i.Digest)));
        Assert.Equal(3, outcome.Attempts);
    }

    [Fact]
    public void Combine_OnePlatformFailed_FailsNamingThatPlatform_WithItsReasonAndAttempts()
    {
        var lanes = Lanes(Command(platforms: ["linux/amd64", "linux/arm64"]));
        lanes[0].Attempt = 1;
        lanes[1].Attempt = 2;
        var outcome = PlatformFanOut.Combine(lanes, [LaneOutcome.Stopped, LaneOutcome.Failed(Failure(FailureReasons.StepFailed, "RUN make: exit 2"))]);
        Assert.False(outcome.Succeeded);
        Assert.Equal("linux/arm64", outcome.FailedPlatform);
        Assert.Equal(FailureReasons.StepFailed, outcome.Reason);
        Assert.Equal("platform linux/arm64: RUN make: exit 2", outcome.Detail);
        Assert.Equal(2, outcome.Attempts);
        Assert.Empty(outcome.Images);
    }

    [Fact]
    public void Combine_TwoFailed_TheOneThatFailedFirstIsNamed()
    {
        var lanes = Lanes(Command(platforms: ["linux/amd64", "linux/arm64"]));
        LaneOutcome[] outcomes = [LaneOutcome.Failed(Failure(FailureReasons.OomKilled, "oom")), LaneOutcome.Failed(Failure(FailureReasons.Unauthorized, "401"))];
        Assert.Equal("linux/arm64", PlatformFanOut.Combine(lanes, outcomes, failedFirst: 1).FailedPlatform);
        Assert.Equal("linux/amd64", PlatformFanOut.Combine(lanes, outcomes).FailedPlatform);
        Assert.Throws<ArgumentException>(() => PlatformFanOut.Combine(lanes, [LaneOutcome.Stopped, LaneOutcome.Stopped]));
    }

    [Fact]
    public async Task RunAsync_AFailedPlatformStopsTheOthers_AndFailsTheBuildNamingIt()
    {
        var lanes = Lanes(Command(platforms: ["linux/amd64", "linux/arm64"]));
        var amdWaiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var outcome = await PlatformFanOut.RunAsync(lanes, async (lane, token) =>
        {
            if (lane.Platform == "linux/amd64")
            {
                // A long build: it ends only when the fan-out stops it (or the test's bound passes).
                amdWaiting.SetResult();
                await Task.Delay(Timeout.InfiniteTimeSpan, token);
                return LaneOutcome.Success(Amd, null);
            }
            await amdWaiting.Task.WaitAsync(Bound, token);
            lane.Attempt = 1;
            return LaneOutcome.Failed(Failure(FailureReasons.BaseImageNotFound, "base image not found"));
        }, CancellationToken.None).WaitAsync(Bound);

        Assert.False(outcome.Succeeded);
        Assert.Equal("linux/arm64", outcome.FailedPlatform);
        Assert.Equal(FailureReasons.BaseImageNotFound, outcome.Reason);
    }

    [Fact]
    public async Task RunAsync_AllSucceed_RunSideBySide()
    {
        var lanes = Lanes(Command(platforms: ["linux/amd64", "linux/arm64"]));
        using var both = new CountdownEvent(2);
        var outcome = await PlatformFanOut.RunAsync(lanes, async (lane, token) =>
        {
            // Each lane waits for the other to have started: they run at the same time, not one after the other.
            both.Signal();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
            timeout.CancelAfter(Bound);
            while (!both.IsSet)
            {
                await Task.Delay(5, timeout.Token);
            }
            lane.Attempt = 1;
            return LaneOutcome.Success(lane.Platform == "linux/amd64" ? Amd : Arm, null);
        }, CancellationToken.None).WaitAsync(Bound);

        Assert.True(outcome.Succeeded);
        Assert.Equal([Amd, Arm], outcome.Images.Select(i => i.Digest));
        Assert.Equal(2, outcome.Analyses.Count);
    }

    [Fact]
    public async Task RunAsync_TheBuildsCancellationIsThrown_AndAnErrorInOneLaneStopsTheOtherAndIsThrown()
    {
        var lanes = Lanes(Command(platforms: ["linux/amd64", "linux/arm64"]));
        using var build = new CancellationTokenSource();
        var cancelled = PlatformFanOut.RunAsync(lanes, async (_, token) =>
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, token);
            return LaneOutcome.Stopped;
        }, build.Token);
        await build.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(Bound));

        var otherStopped = false;
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => PlatformFanOut.RunAsync(lanes, async (lane, token) =>
        {
            if (lane.Platform == "linux/arm64")
            {
                await Task.Yield();
                throw new InvalidOperationException("lease lost");
            }
            try
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, token);
            }
            catch (OperationCanceledException)
            {
                otherStopped = true;
                throw;
            }
            return LaneOutcome.Stopped;
        }, CancellationToken.None).WaitAsync(Bound));
        Assert.Equal("lease lost", error.Message);
        Assert.True(otherStopped);
    }

    [Fact]
    public void IndexManifests_KeepTheOrderAndSplitThePlatform_AndRefuseABadOne()
    {
        var manifests = IndexPublisher.Manifests([
            new PlatformImage { Platform = "linux/arm64/v8", Digest = Arm },
            new PlatformImage { Platform = "linux/amd64", Digest = Amd },
        ]);
        Assert.Equal([new OciPlatform("linux", "arm64", "v8"), new OciPlatform("linux", "amd64")], manifests.Select(m => m.Platform));
        Assert.Equal([Arm, Amd], manifests.Select(m => m.Digest));

        var bad = Assert.Throws<ArgumentException>(() => IndexPublisher.Manifests([new PlatformImage { Platform = "linux", Digest = Amd }]));
        Assert.Contains("images[0].platform", bad.Message, StringComparison.Ordinal);
        Assert.ThrowsAny<ArgumentException>(() => IndexPublisher.Manifests([new PlatformImage { Platform = "linux/amd64", Digest = "sha256:short" }]));
    }

    [Theory]
    [InlineData(401, FailureReasons.Unauthorized)]
    [InlineData(403, FailureReasons.Unauthorized)]
    [InlineData(429, FailureReasons.RegistryUnavailable)]
    [InlineData(503, FailureReasons.RegistryUnavailable)]
    [InlineData(404, FailureReasons.Unknown)]
    public void IndexPushFailure_ReasonFromTheRegistrysAnswer(int status, string reason)
    {
        var (actual, detail) = IndexPublisher.Classify(new RegistryException("PUT manifest: refused", status));
        Assert.Equal(reason, actual);
        Assert.Equal("pushing the image index: PUT manifest: refused", detail);
    }

    [Fact]
    public void IndexPushFailure_NetworkErrorsAndResets()
    {
        Assert.Equal(FailureReasons.NetworkError, IndexPublisher.Classify(new HttpRequestException("connection refused")).Reason);
        var reset = new HttpRequestException("reset", new IOException("x", new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.ConnectionReset)));
        Assert.Equal(FailureReasons.ConnectionReset, IndexPublisher.Classify(reset).Reason);
        Assert.True(IndexPublisher.IsPushFailure(reset));
        Assert.False(IndexPublisher.IsPushFailure(new InvalidOperationException()));
    }

    [Fact]
    public void SucceededMultiPlatform_TheIndexIsTheDigest_PushedToEveryDestinationRepository_SlowestPhaseSeconds()
    {
        var command = Command(platforms: ["linux/amd64", "linux/arm64"]);
        var index = "sha256:" + new string('c', 64);
        var e = new BuildEvents(TimeProvider.System).SucceededMultiPlatform(command, index,
            [new PlatformImage { Platform = "linux/amd64", Digest = Amd }, new PlatformImage { Platform = "linux/arm64", Digest = Arm }], [null, null], 2, 3);
        Assert.Equal(index, e.Digest);
        Assert.Equal(2, e.Platforms.Count);
        Assert.Equal((2, 3), (e.Attempts, e.Resets));
        Assert.All(e.Pushed, p => Assert.EndsWith("@" + index, p, StringComparison.Ordinal));
        Assert.Contains("mirror.example.org/app@" + index, e.Pushed);
        Assert.Empty(e.PhaseSeconds);
    }
}
