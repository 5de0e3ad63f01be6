using BuildFarm.Kaniko.Logs;
using static BuildFarm.Kaniko.Tests.Logs.AnalyzerTestHelpers;

namespace BuildFarm.Kaniko.Tests.Logs;

/// <summary>
/// A <c>Pushed &lt;repo&gt;@sha256:…</c> is final only when nothing but the end of the build follows it, or when its
/// <c>Pushing image to</c> named a <c>--destination</c>: with <c>--cache-repo</c> equal to the destination's repository,
/// cache-layer pushes read like the final push mid-build.
/// </summary>
public sealed class ProvisionalPushTests
{
    private const string CacheKeyTag = "0c5d2b7e4f9a8316e2d7c4b0a9f1e3d5c7b9a2e4f6d8c0b1a3e5f7d9c2b4a6e8";
    private const string CacheDigest = "sha256:aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11";
    private const string FinalDigest = "sha256:bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22";

    // Stage 0 builds, its RUN layer goes to the cache in the destination's own repository (the log has no
    // "Checking for cached layer" or "Pushing layer … to cache now" line to tell), then stage 1 starts.
    private const string BuilderStageThenCachePush =
        "INFO[0001] Retrieving image manifest golang:1.22.5\n"
        + "INFO[0001] Retrieving image golang:1.22.5 from registry index.docker.io\n"
        + "INFO[0002] Building stage 'golang:1.22.5' [idx: '0', base-idx: '-1']\n"
        + "INFO[0002] Unpacking rootfs as cmd RUN go build -o /out/api ./cmd/api requires it.\n"
        + "INFO[0006] RUN go build -o /out/api ./cmd/api\n"
        + "INFO[0020] Taking snapshot of full filesystem...\n"
        + "INFO[0021] Pushing image to harbor.corp.example/shop/api:" + CacheKeyTag + "\n"
        + "INFO[0024] Pushed harbor.corp.example/shop/api@" + CacheDigest + "\n";

    private const string RuntimeStage =
        "INFO[0024] Retrieving image manifest gcr.io/distroless/static-debian12:nonroot\n"
        + "INFO[0025] Retrieving image gcr.io/distroless/static-debian12:nonroot from registry gcr.io\n"
        + "INFO[0026] Building stage 'gcr.io/distroless/static-debian12:nonroot' [idx: '1', base-idx: '-1']\n"
        + "INFO[0026] Unpacking rootfs as cmd COPY --from=0 /out/api /api requires it.\n"
        + "INFO[0028] COPY --from=0 /out/api /api\n";

    private const string FinalPush =
        "INFO[0029] Taking snapshot of files...\n"
        + "INFO[0030] Pushing image to harbor.corp.example/shop/api:2.4.0\n"
        + "INFO[0032] Pushed harbor.corp.example/shop/api@" + FinalDigest + "\n";

    [Fact]
    public void CachePushFollowedByAnotherStage_LogEnds_Incomplete()
    {
        var a = AnalyzeText(BuilderStageThenCachePush + RuntimeStage);

        Assert.Equal(KanikoOutcome.Incomplete, a.Outcome);
        Assert.Empty(a.Pushed);
        AssertPhase(a.Push, 0, 0); // the cache push was build work
        AssertPhase(a.Build, 18, 2); // RUN 0006-0021 plus the cache push 0021-0024; COPY at the end
    }

    [Fact]
    public void CachePushFollowedByAnotherStage_ThenFatal_FailedWithNothingPushed()
    {
        var log = BuilderStageThenCachePush + RuntimeStage
            + "error building image: error building stage: failed to execute command: copying dir: open /out/api: no such file or directory\n";

        var a = AnalyzeText(log);

        Assert.Equal(KanikoOutcome.Failed, a.Outcome);
        Assert.Empty(a.Pushed);
        Assert.Equal(KanikoPhase.Build, a.FailedPhase);
    }

    [Fact]
    public void CachePushThenRealFinalPushAtTheEnd_OnlyFinalListed()
    {
        var a = AnalyzeText(BuilderStageThenCachePush + RuntimeStage + FinalPush);

        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome);
        Assert.Equal(FinalDigest, Assert.Single(a.Pushed).Digest);
        AssertPhase(a.Push, 2, 1);
    }

    [Fact]
    public void PushedLineAloneMatchingDestinationRepository_FollowedByBuild_NotSuccess()
    {
        // A filtered log (only INFO lines with "Pushed"/"Retrieving"/…) lost the cache push's "Pushing image to":
        // the repository matches the --destination, but the tag is unknown, so it is only provisionally final.
        var log = "INFO[0020] RUN go build -o /out/api ./cmd/api\n"
            + "INFO[0024] Pushed harbor.corp.example/shop/api@" + CacheDigest + "\n"
            + RuntimeStage;

        var partial = AnalyzeText(log, "harbor.corp.example/shop/api:2.4.0");
        var whole = AnalyzeText(log + FinalPush, "harbor.corp.example/shop/api:2.4.0");

        Assert.Equal(KanikoOutcome.Incomplete, partial.Outcome);
        Assert.Empty(partial.Pushed);
        Assert.Equal(KanikoOutcome.Succeeded, whole.Outcome);
        Assert.Equal(FinalDigest, Assert.Single(whole.Pushed).Digest);
    }

    [Fact]
    public void PushNamingDestination_FollowedByMoreLines_StillFinal()
    {
        // "Pushing image to <a --destination>" is final for certain, whatever follows it.
        var log = FinalPush + "INFO[0033] Taking snapshot of full filesystem...\n";

        var a = AnalyzeText(log, "harbor.corp.example/shop/api:2.4.0");

        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome);
        Assert.Single(a.Pushed);
    }

    [Fact]
    public void TwoFinalPushesWithoutDestinations_ThenCleanup_BothKept()
    {
        const string log =
            "INFO[0030] Pushing image to harbor.corp.example/shop/api:2.4.0\n"
            + "INFO[0032] Pushed harbor.corp.example/shop/api@" + FinalDigest + "\n"
            + "INFO[0032] Pushing image to harbor.corp.example/shop/api:latest\n"
            + "INFO[0033] Pushed harbor.corp.example/shop/api@" + FinalDigest + "\n"
            + "INFO[0033] Deleting filesystem...\n";

        var a = AnalyzeText(log);

        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome);
        Assert.Equal(2, a.Pushed.Count);
        AssertPhase(a.Push, 3, 2);
    }

    [Fact]
    public void ProvisionalSuccess_SeenWhileFollowing_ThenRevoked()
    {
        // Complete() mid-stream shows the provisional success; the next stage takes it back.
        var analyzer = new KanikoLogAnalyzer();
        foreach (var line in BuilderStageThenCachePush.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            analyzer.AnalyzeLine(line);
        }

        Assert.Equal(KanikoOutcome.Succeeded, analyzer.Complete().Outcome);

        analyzer.AnalyzeLine("INFO[0024] Retrieving image manifest gcr.io/distroless/static-debian12:nonroot");

        var after = analyzer.Complete();
        Assert.Equal(KanikoOutcome.Incomplete, after.Outcome);
        Assert.Empty(after.Pushed);
        Assert.Null(after.Reason);
    }
}
