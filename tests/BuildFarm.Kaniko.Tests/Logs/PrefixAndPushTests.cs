using BuildFarm.Kaniko.Logs;
using static BuildFarm.Kaniko.Tests.Logs.AnalyzerTestHelpers;

namespace BuildFarm.Kaniko.Tests.Logs;

/// <summary>Prefixes before the Kaniko part, and telling the final push from cache pushes.</summary>
public sealed class PrefixAndPushTests
{
    [Theory]
    [InlineData("Step #0: ")]
    [InlineData("Step #12 - \"kaniko-build\": ")]
    [InlineData("logs | build-pod-x7 > kaniko | ")]
    [InlineData("    ")]
    [InlineData("> ")]
    [InlineData("- ")]
    [InlineData("[2024-04-17T14:00:00.000Z] ")] // Jenkins timestamper
    [InlineData("[build-and-push] ")] // tkn logs
    [InlineData("2024-04-17T14:00:00.000000000Z Step #0: ")]
    public void Prefix_BeforeEveryLine_SameAnalysis(string prefix)
    {
        var log = SyntheticLog.Render(SyntheticLog.StandardBuild, SyntheticLog.Layout.ColorRemnants);
        var prefixed = string.Concat(log.Split('\n').Where(l => l.Length > 0).Select(l => prefix + l + "\n"));
        prefixed += prefix + "error building image: error building stage: failed to execute command: waiting for process to exit: exit status 2\n";

        var a = AnalyzeText(prefixed, "registry.example.com/team/app:1.0");

        Assert.Equal(KanikoLogFormat.Color, a.Format);
        AssertPhase(a.Extract, prefix.StartsWith("2024", StringComparison.Ordinal) ? 0 : 7, 1);
        AssertPhase(a.Build, prefix.StartsWith("2024", StringComparison.Ordinal) ? 0 : 7, 1);
        Assert.Equal(1, a.RetriesIn(KanikoPhase.Push));
        Assert.Single(a.Pushed);
        // The fatal line (also prefixed) after the push: failed, the prefix is not part of the error.
        Assert.Equal(KanikoOutcome.Failed, a.Outcome);
        Assert.Equal(BuildFarm.Contracts.FailureReasons.StepFailed, a.Reason);
        Assert.Equal(2, a.StepExitCode);
        Assert.StartsWith("error building image:", a.Error, StringComparison.Ordinal);
    }

    private const string CachePushMidBuild =
        "INFO[0001] RUN make\n"
        + "INFO[0002] Taking snapshot of full filesystem...\n"
        + "INFO[0002] Pushing layer reg.io/team/app:8f434640d80361372193b981bca01730612b01ffa8617dc302f701423cc5aa11 to cache now\n"
        + "INFO[0002] Pushing image to reg.io/team/app:8f434640d80361372193b981bca01730612b01ffa8617dc302f701423cc5aa11\n"
        + "WARN[0003] Retrying operation after 1s due to read tcp 1.2.3.4:5->6.7.8.9:443: read: connection reset by peer\n"
        + "INFO[0005] Pushed reg.io/team/app@sha256:1111111111111111111111111111111111111111111111111111111111111111\n"
        + "INFO[0005] COPY . /app\n"
        + "INFO[0006] Taking snapshot of files...\n";

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void CachePushMidBuild_SameRepositoryAsDestination_NotSuccess(bool withDestination)
    {
        // As in kapp-595, the cache repository can be the destination repository itself.
        var a = withDestination ? AnalyzeText(CachePushMidBuild, "reg.io/team/app:1.0") : AnalyzeText(CachePushMidBuild);

        Assert.Equal(KanikoOutcome.Incomplete, a.Outcome);
        Assert.Empty(a.Pushed);
        AssertPhase(a.Push, 0, 0); // the cache push belongs to build
        AssertPhase(a.Build, 5, 2);
        Assert.Equal(1, a.RetriesIn(KanikoPhase.Push)); // a retried cache-layer push counts as push
        Assert.Equal(1, a.ResetsIn(KanikoPhase.Push));
    }

    [Fact]
    public void CachePushThenFinalPush_OnlyFinalListed()
    {
        var log = CachePushMidBuild
            + "INFO[0007] Pushing image to reg.io/team/app:1.0\n"
            + "INFO[0009] Pushed reg.io/team/app@sha256:2222222222222222222222222222222222222222222222222222222222222222\n";

        var a = AnalyzeText(log, "reg.io/team/app:1.0");

        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome);
        Assert.Equal("sha256:2222222222222222222222222222222222222222222222222222222222222222", Assert.Single(a.Pushed).Digest);
        AssertPhase(a.Push, 2, 1);
    }

    [Fact]
    public void TwoDestinations_SuccessNeedsBoth()
    {
        const string first =
            "INFO[0001] Pushing image to reg.io/app:1\n"
            + "INFO[0002] Pushed reg.io/app@sha256:3333333333333333333333333333333333333333333333333333333333333333\n";
        const string second =
            "INFO[0002] Pushing image to docker.io/library/app:2\n"
            + "INFO[0004] Pushed index.docker.io/library/app@sha256:4444444444444444444444444444444444444444444444444444444444444444\n";

        var half = AnalyzeText(first, "reg.io/app:1", "app:2");
        var both = AnalyzeText(first + second, "reg.io/app:1", "app:2");

        Assert.Equal(KanikoOutcome.Incomplete, half.Outcome);
        Assert.Equal(KanikoOutcome.Succeeded, both.Outcome);
        Assert.Equal(2, both.Pushed.Count);
        AssertPhase(both.Push, 3, 2);
    }

    [Theory]
    [InlineData("Pushed image to 1 destinations")] // v1.5.1 - v1.7
    [InlineData("Pushed images to 2 destinations")] // v1.4.0
    [InlineData("Skipping push to container registry due to --no-push flag")]
    public void OlderSuccessLines_Succeeded(string line)
    {
        var a = AnalyzeText("INFO[0001] Pushing image to reg.io/app:1\nINFO[0003] " + line + "\n", "reg.io/app:1");

        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome);
        Assert.Empty(a.Pushed);
    }

    [Fact]
    public void OldWording_DownloadingBaseImageAndLowercaseCmd()
    {
        const string log =
            "INFO[0000] Downloading base image alpine:3.8\n"
            + "INFO[0004] Unpacking rootfs as cmd RUN x requires it.\n"
            + "INFO[0009] Taking snapshot of full filesystem...\n"
            + "INFO[0010] RUN x\n"
            + "INFO[0010] cmd: /bin/sh\n"
            + "INFO[0012] Using caching version of cmd: RUN y\n"
            + "INFO[0012] Cache entry expired: reg.io/cache:abc\n";

        var a = AnalyzeText(log);

        AssertPhase(a.Pull, 4, 1);
        AssertPhase(a.Extract, 5, 1);
        AssertPhase(a.Build, 3, 1); // the initial snapshot after unpacking is build work
        Assert.Equal(1, a.CacheHits);
        Assert.Equal(1, a.CacheMisses);
    }

    [Fact]
    public void FoundCachedLayer_ExtractInsideBuild()
    {
        const string log =
            "INFO[0001] RUN npm ci\n"
            + "INFO[0001] Found cached layer, extracting to filesystem\n"
            + "INFO[0006] Taking snapshot of files...\n"
            + "INFO[0007] COPY . .\n";

        var a = AnalyzeText(log);

        AssertPhase(a.Extract, 5, 1);
        AssertPhase(a.Build, 1, 2);
    }

    [Fact]
    public void PullRetryWithImageDownloadRetry_CountedAtPull()
    {
        const string log =
            "INFO[0000] Retrieving image manifest alpine:3.19\n"
            + "INFO[0000] Retrieving image alpine:3.19 from registry index.docker.io\n"
            + "WARN[0003] Retrying operation after 1s due to GET https://index.docker.io/v2/: read: connection reset by peer\n"
            + "INFO[0005] Building stage 'alpine:3.19' [idx: '0', base-idx: '-1']\n";

        var a = AnalyzeText(log);

        Assert.Equal(1, a.RetriesIn(KanikoPhase.Pull));
        Assert.Equal(1, a.ResetsIn(KanikoPhase.Pull));
        AssertPhase(a.Pull, 5, 1);
    }

    [Fact]
    public void V0x_GgcrDigestLine_Succeeded()
    {
        // Kaniko <= v0.10 (e.g. kaniko#410): no push line of its own, go-containerregistry's std-logger lines instead.
        const string log =
            "INFO[0001] Taking snapshot of full filesystem...\n"
            + "2018/11/08 11:01:20 pushed blob sha256:aaaa\n"
            + "2018/11/08 11:01:21 gcr.io/team/app:v1: digest: sha256:9999999999999999999999999999999999999999999999999999999999999999 size: 1234\n";

        var withDestination = AnalyzeText(log, "gcr.io/team/app:v1");
        var otherDestination = AnalyzeText(log, "gcr.io/team/app:v2");

        Assert.Equal(KanikoOutcome.Succeeded, withDestination.Outcome);
        var pushed = Assert.Single(withDestination.Pushed);
        Assert.Equal("gcr.io/team/app", pushed.Image);
        Assert.Equal("sha256:9999999999999999999999999999999999999999999999999999999999999999", pushed.Digest);
        Assert.Equal(KanikoOutcome.Incomplete, otherDestination.Outcome);
    }

    [Fact]
    public void CopyFromExternalImage_PullInsideInstruction_BuildCountedOnce()
    {
        const string log =
            "INFO[0001] COPY --from=nginx:1.27 /etc/nginx /etc/nginx\n"
            + "INFO[0001] Retrieving image manifest nginx:1.27\n"
            + "INFO[0002] Retrieving image nginx:1.27 from registry index.docker.io\n"
            + "INFO[0004] Taking snapshot of files...\n"
            + "INFO[0005] RUN nginx -t\n";

        var a = AnalyzeText(log);

        AssertPhase(a.Pull, 3, 1);
        AssertPhase(a.Build, 1, 2); // COPY and RUN; the snapshot (4 -> 5 s) resumes the COPY
    }

    [Fact]
    public void RetriedPushRefusals_429And5xx_CountedApartFromResetsAndTimeouts()
    {
        // The simulator's capacity model prints a 429 as go-containerregistry does (request, then the registry's error
        // code and message); no real log in tests/fixtures shows one on push.
        const string Log =
            "INFO[0001] Pushing image to reg.io/team/app:1.0\n"
            + "WARN[0002] Retrying operation after 1s due to PATCH https://reg.io/v2/team/app/blobs/uploads/1f2e?_state=abc: TOOMANYREQUESTS: too many requests\n"
            + "WARN[0003] Retrying operation after 2s due to Patch \"https://reg.io/v2/team/app/blobs/uploads/3a4b?_state=def\": read tcp 10.0.0.2:40000->6.7.8.9:443: read: connection reset by peer\n"
            + "WARN[0005] Retrying operation after 4s due to dial tcp 6.7.8.9:443: i/o timeout\n"
            + "WARN[0009] Retrying operation after 8s due to PUT https://reg.io/v2/team/app/manifests/1.0: unexpected status code 503 Service Unavailable\n"
            + "INFO[0017] Pushed reg.io/team/app@sha256:1111111111111111111111111111111111111111111111111111111111111111\n";

        var a = AnalyzeText(Log, "reg.io/team/app:1.0");

        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome);
        Assert.Equal(4, a.RetriesIn(KanikoPhase.Push));
        Assert.Equal(1, a.ResetsIn(KanikoPhase.Push));
        Assert.Equal(2, a.RefusalsIn(KanikoPhase.Push));
        Assert.Equal(0, a.RefusalsIn(KanikoPhase.Pull));
    }
}
