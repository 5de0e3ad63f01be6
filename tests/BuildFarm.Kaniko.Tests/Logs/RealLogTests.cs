using BuildFarm.Contracts;
using BuildFarm.Kaniko.Logs;
using static BuildFarm.Kaniko.Tests.Logs.AnalyzerTestHelpers;

namespace BuildFarm.Kaniko.Tests.Logs;

/// <summary>
/// One test per real log in tests/fixtures/kaniko/logs and tests/fixtures/kaniko/runs. Every expected value was derived by
/// reading the log; the comments say why. Line 1 of each file is a '#' source comment: a plain line.
/// </summary>
public sealed class RealLogTests
{
    private static KanikoLogAnalysis Analyze(string path, params string[] destinations)
    {
        using var reader = File.OpenText(path);
        return KanikoLogAnalyzer.Analyze(reader, new KanikoLogAnalyzerOptions { Destinations = destinations });
    }

    private static void AssertNoResets(KanikoLogAnalysis a) => Assert.Equal(0, a.TotalResets);

    private static readonly string[] CoveredLogs =
    [
        "issue-1210-runtime-timestamp-prefix.log", "issue-1348-cache-hits.log", "issue-1577-push-reset-by-peer.log",
        "issue-1680-oom-during-snapshot.log", "issue-1717-reset-during-extract-with-retries.log",
        "issue-1723-success-no-push-v1.6.log", "issue-2165-json-format-mounted-secret-conflict.log",
        "issue-2222-push-permission-unauthorized-harbor.log", "issue-2712-color-ansi-remnants-registry-mirror.log",
        "issue-3118-stream-error-extract-retries-timestamped.log", "issue-3427-manifest-unknown-multistage.log",
        "kapp-595-cache-miss-k8s-log-prefix.log",
    ];

    private static readonly string[] CoveredRuns =
    [
        "a-success-color-timestamp.exit0.log", "b2-success-text-timestamp.exit0.log", "c-success-json.exit0.log",
        "d1-cache-run1.exit0.log", "e-run-step-exit3.exit3.log", "g3-push-reset-recovered.exit0.log",
    ];

    [Fact]
    public void SharedData_EveryLogAndRun_HasATestHere()
    {
        // A new fixture file must get its own test below.
        Assert.Equal(CoveredLogs.Order(StringComparer.Ordinal), KanikoFixtures.KanikoFiles("logs"));
        Assert.Equal(CoveredRuns.Order(StringComparer.Ordinal), KanikoFixtures.KanikoFiles("runs"));
    }

    [Fact]
    public void Issue1210_KubernetesPrefix_FailedWithSubSecondExtract()
    {
        var a = Analyze(KanikoFixtures.KanikoLog("issue-1210-runtime-timestamp-prefix.log"));

        Assert.Equal(KanikoLogFormat.Color, a.Format); // INFO[0026] without ESC bytes
        Assert.Equal(KanikoLogClock.Kubernetes, a.Clock); // every line starts with the runtime's RFC3339Nano stamp
        Assert.Equal(KanikoOutcome.Failed, a.Outcome); // "error building image: …" (cut) is the last line
        // The wrapper "failed to execute command" means an instruction was executing; the rest is cut.
        Assert.Equal(KanikoPhase.Build, a.FailedPhase);
        Assert.Equal(FailureReasons.Unknown, a.Reason); // "…: resolving" names no known cause
        Assert.False(a.Transient);
        // Unpacking at 22:00:12.540764648, fatal at 22:00:12.748595053: 0.2078304 s (100 ns resolution).
        AssertPhase(a.Extract, 0.2078304, 1);
        AssertPhase(a.Pull, 0, 0);
        AssertPhase(a.Build, 0, 0);
        AssertPhase(a.Push, 0, 0);
        AssertNoResets(a);
        Assert.Equal("error building image: error building stage: failed to execute command: resolving", a.Error);
    }

    [Fact]
    public void Issue1348_CacheHit_TwoBaseImagesPulled()
    {
        var a = Analyze(KanikoFixtures.KanikoLog("issue-1348-cache-hits.log"));

        Assert.Equal(KanikoLogFormat.Color, a.Format);
        Assert.Equal(KanikoLogClock.Elapsed, a.Clock); // INFO[0000] … INFO[0002]
        Assert.Equal(KanikoOutcome.Incomplete, a.Outcome); // cut inside a "Checking for cached layer" line
        Assert.Null(a.Reason);
        Assert.Null(a.FailedPhase);
        Assert.Null(a.Error);
        Assert.Equal(1, a.CacheHits); // one "Using caching version of cmd:"
        Assert.Equal(0, a.CacheMisses);
        // node and bitnami/nginx are each fetched "from registry index.docker.io"; the other manifest lines are
        // answered by "Returning cached image manifest". Pull runs from [0000] to "Built cross stage deps" at [0002].
        AssertPhase(a.Pull, 2, 2);
        AssertPhase(a.Extract, 0, 0);
        AssertPhase(a.Build, 0, 0);
        AssertNoResets(a);
    }

    [Fact]
    public void Issue1577_OnlyFatalLine_PushResetTransient()
    {
        var a = Analyze(KanikoFixtures.KanikoLog("issue-1577-push-reset-by-peer.log"));

        Assert.Equal(KanikoLogFormat.Unknown, a.Format); // only the unprefixed fatal line was posted
        Assert.Equal(KanikoLogClock.None, a.Clock);
        Assert.Equal(KanikoOutcome.Failed, a.Outcome);
        Assert.Equal(KanikoPhase.Push, a.FailedPhase); // "error pushing image: failed to push to destination"
        Assert.Equal(FailureReasons.ConnectionReset, a.Reason); // "read: connection reset by peer"
        Assert.True(a.Transient);
        Assert.Equal(1, a.ResetsIn(KanikoPhase.Push)); // the reset in the fatal line
        Assert.Equal(1, a.TotalResets);
        Assert.Equal(0, a.RetriesIn(KanikoPhase.Push)); // no "Retrying operation" line
        AssertPhase(a.Push, null, 0); // no clock at all
        AssertPhase(a.Pull, null, 0);
        Assert.StartsWith("error pushing image: failed to push to destination registry.un.org/ola/etips-api:", a.Error, StringComparison.Ordinal);
        Assert.Empty(a.Pushed);
    }

    [Fact]
    public void Issue1680_KilledDuringSnapshot_IncompleteWithOpenBuildPhase()
    {
        var a = Analyze(KanikoFixtures.KanikoLog("issue-1680-oom-during-snapshot.log"));

        Assert.Equal(KanikoLogFormat.Color, a.Format);
        Assert.Equal(KanikoLogClock.Elapsed, a.Clock);
        Assert.Equal(KanikoOutcome.Incomplete, a.Outcome); // OOMKilled: Kaniko prints nothing, the log stops
        Assert.Null(a.Reason);
        Assert.False(a.Transient);
        // "Taking snapshot of full filesystem..." at [0295] is build work (its instruction echo is not in the
        // excerpt); the build is still open when the log ends, counted up to the last DEBU stamp [0498].
        AssertPhase(a.Build, 203, 1);
        AssertPhase(a.Extract, 0, 0);
        AssertPhase(a.Pull, 0, 0);
    }

    [Fact]
    public void Issue1717_ResetsDuringExtract_FiveRetriesSixResets()
    {
        var a = Analyze(KanikoFixtures.KanikoLog("issue-1717-reset-during-extract-with-retries.log"));

        Assert.Equal(KanikoLogFormat.Color, a.Format); // "[36mINFO[0012]" remnant, then WARN[…] without colour
        Assert.Equal(KanikoLogClock.Elapsed, a.Clock);
        Assert.Equal(KanikoOutcome.Failed, a.Outcome);
        Assert.Equal(KanikoPhase.Extract, a.FailedPhase); // "failed to get filesystem from image"
        Assert.Equal(FailureReasons.ConnectionReset, a.Reason);
        Assert.True(a.Transient);
        Assert.Equal(5, a.RetriesIn(KanikoPhase.Extract)); // 1s, 2s, 4s, 8s, 16s after "Unpacking rootfs"
        Assert.Equal(6, a.ResetsIn(KanikoPhase.Extract)); // 5 retried + the fatal one
        Assert.Equal(6, a.TotalResets);
        AssertPhase(a.Extract, 157 - 12, 1); // from [0012] to the last stamp [0157]
        // The Jenkins "[Pipeline] …" and "ERROR: script returned exit code 1" lines are not part of the error.
        Assert.Equal(
            "error building image: error building stage: failed to get filesystem from image: read tcp MY_FIRST_IP:40540->MY_SECOND_IP:443: read: connection reset by peer",
            a.Error);
    }

    [Fact]
    public void Issue1723_NoPushV16_Succeeded()
    {
        var a = Analyze(KanikoFixtures.KanikoLog("issue-1723-success-no-push-v1.6.log"));

        Assert.Equal(KanikoLogFormat.Color, a.Format);
        Assert.Equal(KanikoLogClock.Elapsed, a.Clock);
        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome); // "Skipping push to container registry due to --no-push flag"
        Assert.Null(a.Reason);
        Assert.Empty(a.Pushed);
        // alpine fetched "from registry index.docker.io" at [0000]; pull ends at "Built cross stage deps" [0001].
        // The second manifest lookup is answered from the memo ("Returning cached image manifest"): not a pull.
        AssertPhase(a.Pull, 1, 1);
        AssertPhase(a.Extract, 0, 1); // "Unpacking rootfs as cmd RUN mkdir /data/ requires it."
        AssertPhase(a.Build, 0, 3); // RUN, WORKDIR, COPY echo lines (v1.6 spells "cmd:"/"args:" in lower case)
        AssertPhase(a.Push, 0, 0);
    }

    [Fact]
    public void Issue2165_JsonWithRunOutput_IncompleteBuild()
    {
        var a = Analyze(KanikoFixtures.KanikoLog("issue-2165-json-format-mounted-secret-conflict.log"));

        Assert.Equal(KanikoLogFormat.Json, a.Format);
        Assert.Equal(KanikoLogClock.Rfc3339, a.Clock); // json always carries "time"
        Assert.Equal(KanikoOutcome.Incomplete, a.Outcome); // excerpt: RUN output, no fatal or push line
        Assert.Null(a.Reason);
        Assert.Null(a.Error); // "mkdir: can't create directory …: File exists" is RUN output, not Kaniko's error
        AssertPhase(a.Build, 0, 1); // "Running: …" lines are build work; both at 14:22:19
    }

    [Fact]
    public void Issue2222_PushPermissionUnauthorized_PreflightPermanent()
    {
        var a = Analyze(KanikoFixtures.KanikoLog("issue-2222-push-permission-unauthorized-harbor.log"));

        Assert.Equal(KanikoLogFormat.Unknown, a.Format); // a GitLab command line and the fatal line only
        Assert.Equal(KanikoLogClock.None, a.Clock);
        Assert.Equal(KanikoOutcome.Failed, a.Outcome);
        Assert.Equal(KanikoPhase.Preflight, a.FailedPhase); // "error checking push permissions"
        Assert.Equal(FailureReasons.Unauthorized, a.Reason); // "UNAUTHORIZED: unauthorized to access repository"
        Assert.False(a.Transient);
        AssertNoResets(a);
        Assert.StartsWith("error checking push permissions -- make sure you entered the correct tag name", a.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Issue2712_AnsiRemnantsRegistryMirror_PullCounted()
    {
        var a = Analyze(KanikoFixtures.KanikoLog("issue-2712-color-ansi-remnants-registry-mirror.log"));

        Assert.Equal(KanikoLogFormat.Color, a.Format); // "[36mINFO[0m[0000]" remnants
        Assert.Equal(KanikoLogClock.Elapsed, a.Clock);
        Assert.Equal(KanikoOutcome.Incomplete, a.Outcome); // cut inside "Checking for cached layer"
        // One real retrieval: "… from registry mirror mirror.company.local" (pre-v1.21 wording); the second
        // manifest line is answered from the memo.
        AssertPhase(a.Pull, 0, 1);
        // "Resolving srcs" here belongs to cache-key computation before any instruction runs: no build yet.
        AssertPhase(a.Build, 0, 0);
        AssertPhase(a.Extract, 0, 0);
        Assert.Null(a.Reason);
    }

    [Fact]
    public void Issue3118_StreamErrorRetriesWithKanikoTimestamps_ExtractOpen()
    {
        var a = Analyze(KanikoFixtures.KanikoLog("issue-3118-stream-error-extract-retries-timestamped.log"));

        Assert.Equal(KanikoLogFormat.Color, a.Format);
        Assert.Equal(KanikoLogClock.Rfc3339, a.Clock); // INFO[2024-04-17T14:14:12Z] (--log-timestamp)
        Assert.Equal(KanikoOutcome.Incomplete, a.Outcome); // no final error line in the excerpt
        Assert.Equal(3, a.RetriesIn(KanikoPhase.Extract)); // three "Retrying operation" after "Unpacking rootfs"
        Assert.Equal(0, a.TotalResets); // "stream error … received from peer" is not a reset
        // Extract is open from 14:14:12 to the last stamp 14:31:37: 17 min 25 s.
        AssertPhase(a.Extract, 1045, 1);
        Assert.Null(a.Reason);
    }

    [Fact]
    public void Issue3427_ManifestUnknown_BaseImageNotFoundAtPull()
    {
        var a = Analyze(KanikoFixtures.KanikoLog("issue-3427-manifest-unknown-multistage.log"));

        // The "Retrieving image base from dockerhbu" line was hand-written without a level: not a Kaniko line.
        Assert.Equal(KanikoLogFormat.Unknown, a.Format);
        Assert.Equal(KanikoLogClock.None, a.Clock);
        Assert.Equal(KanikoOutcome.Failed, a.Outcome);
        Assert.Equal(KanikoPhase.Pull, a.FailedPhase); // "unable to complete operation … MANIFEST_UNKNOWN"
        Assert.Equal(FailureReasons.BaseImageNotFound, a.Reason);
        Assert.False(a.Transient);
        AssertPhase(a.Pull, null, 0);
    }

    [Fact]
    public void Kapp595_LogsPipePrefix_CacheMissThenExtract()
    {
        var a = Analyze(KanikoFixtures.KanikoLog("kapp-595-cache-miss-k8s-log-prefix.log"));

        Assert.Equal(KanikoLogFormat.Color, a.Format); // behind "logs | <pod> > <container> | "
        Assert.Equal(KanikoLogClock.Elapsed, a.Clock);
        Assert.Equal(KanikoOutcome.Incomplete, a.Outcome);
        Assert.Equal(1, a.CacheMisses); // "No cached layer found for cmd RUN chown …"
        Assert.Equal(0, a.CacheHits);
        AssertPhase(a.Extract, 0, 1); // "Unpacking rootfs as cmd COPY . . requires it."
        AssertPhase(a.Pull, 0, 0); // the only manifest lookup is answered from the memo
        Assert.Null(a.Error);
    }

    [Fact]
    public void RunA_ColorWithEscBytes_Succeeded()
    {
        var a = Analyze(KanikoFixtures.KanikoRun("a-success-color-timestamp.exit0.log"), "127.0.0.1:5000/app:1");

        Assert.Equal(KanikoLogFormat.Color, a.Format); // real ESC bytes
        Assert.Equal(KanikoLogClock.Rfc3339, a.Clock); // --log-timestamp
        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome);
        var pushed = Assert.Single(a.Pushed);
        Assert.Equal("127.0.0.1:5000/app", pushed.Image);
        Assert.Equal("sha256:8a0f8eb3ae0ab9e99bfbcfad01f2ae5a0060a8827ae7af6b684e53a7cdb6d66a", pushed.Digest);
        // Everything happens within 19:42:01.
        AssertPhase(a.Pull, 0, 1);
        AssertPhase(a.Extract, 0, 1);
        AssertPhase(a.Build, 0, 4); // ENV, WORKDIR, COPY, RUN
        AssertPhase(a.Push, 0, 1);
        AssertNoResets(a);
        Assert.Null(a.Reason);
    }

    [Fact]
    public void RunB2_Text_SucceededWithOneSecondExtract()
    {
        var a = Analyze(KanikoFixtures.KanikoRun("b2-success-text-timestamp.exit0.log"), "127.0.0.1:5000/app:1");

        Assert.Equal(KanikoLogFormat.Text, a.Format);
        Assert.Equal(KanikoLogClock.Rfc3339, a.Clock);
        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome);
        Assert.Equal("sha256:c41fd33ed013ba4a715eca4287d9346f86488122aafeca1a35df811b2fc17a55", Assert.Single(a.Pushed).Digest);
        // "Unpacking rootfs" at 19:42:05, the next line (ENV) at 19:42:06.
        AssertPhase(a.Extract, 1, 1);
        AssertPhase(a.Pull, 0, 1);
        AssertPhase(a.Build, 0, 4);
        AssertPhase(a.Push, 0, 1);
    }

    [Fact]
    public void RunC_Json_Succeeded()
    {
        var a = Analyze(KanikoFixtures.KanikoRun("c-success-json.exit0.log"));

        Assert.Equal(KanikoLogFormat.Json, a.Format);
        Assert.Equal(KanikoLogClock.Rfc3339, a.Clock);
        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome); // no --destination given: the push is not a cache push
        var pushed = Assert.Single(a.Pushed);
        Assert.Equal("127.0.0.1:5000/app", pushed.Image);
        Assert.Equal("sha256:65d84f434640d80361372193b981bca01730612b01ffa8617dc302f701423cc5", pushed.Digest);
        AssertPhase(a.Build, 0, 4); // the \u0026-escaped RUN echo still counts
        AssertPhase(a.Push, 0, 1);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RunD1_CachePushMidBuild_NotInPushed(bool withDestination)
    {
        var path = KanikoFixtures.KanikoRun("d1-cache-run1.exit0.log");
        var a = withDestination ? Analyze(path, "127.0.0.1:5000/app:1") : Analyze(path);

        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome);
        Assert.Equal(1, a.CacheMisses); // "No cached layer found for cmd RUN chmod …"
        Assert.Equal(0, a.CacheHits);
        // "Pushed 127.0.0.1:5000/cache@sha256:b118…" follows "Pushing layer … to cache now": not the image.
        var pushed = Assert.Single(a.Pushed);
        Assert.Equal("127.0.0.1:5000/app", pushed.Image);
        Assert.Equal("sha256:e8d2cf2455a76d5495745195cc56b5e9d026bdc3a93b7142ae1887c68020a143", pushed.Digest);
        AssertPhase(a.Push, 0, 1); // only the final push is the push phase; the cache push belongs to build
        AssertPhase(a.Build, 0, 4);
        AssertPhase(a.Pull, 0, 1); // three more manifest lookups are all memo answers
    }

    [Fact]
    public void RunE_RunStepExit3_StepFailed()
    {
        var a = Analyze(KanikoFixtures.KanikoRun("e-run-step-exit3.exit3.log"), "127.0.0.1:5000/app-fail:1");

        Assert.Equal(KanikoOutcome.Failed, a.Outcome);
        Assert.Equal(FailureReasons.StepFailed, a.Reason);
        Assert.False(a.Transient);
        Assert.Equal(3, a.StepExitCode); // "waiting for process to exit: exit status 3"
        Assert.Equal(KanikoPhase.Build, a.FailedPhase);
        Assert.Equal("error building image: error building stage: failed to execute command: waiting for process to exit: exit status 3", a.Error);
        AssertPhase(a.Build, 0, 3); // WORKDIR, COPY, RUN
        Assert.Empty(a.Pushed);
        AssertNoResets(a); // "FAIL: 2 of 7 tests failed" etc. is RUN output
    }

    [Fact]
    public void RunG3_PushResetRecovered_SucceededWithOneRetry()
    {
        var a = Analyze(KanikoFixtures.KanikoRun("g3-push-reset-recovered.exit0.log"), "127.0.0.1:5002/app-pushreset:1");

        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome);
        Assert.Null(a.Reason);
        Assert.Equal(1, a.RetriesIn(KanikoPhase.Push)); // one WARN after "Pushing image to …"
        Assert.Equal(1, a.ResetsIn(KanikoPhase.Push)); // it says "connection reset by peer"
        Assert.Equal(1, a.TotalResets);
        Assert.Single(a.Pushed);
        // Pushing at 19:48:40, WARN at :44, Pushed at :46: 6 s of push. RUN output ran 19:48:39 -> :40.
        AssertPhase(a.Push, 6, 1);
        AssertPhase(a.Build, 1, 3);
        AssertPhase(a.Pull, 0, 1);
        AssertPhase(a.Extract, 0, 1);
    }
}
