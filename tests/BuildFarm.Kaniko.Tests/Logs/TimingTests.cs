using BuildFarm.Kaniko.Logs;
using static BuildFarm.Kaniko.Tests.Logs.AnalyzerTestHelpers;

namespace BuildFarm.Kaniko.Tests.Logs;

/// <summary>Phase seconds from each clock, the clock preference, and a phase left open at the end.</summary>
public sealed class TimingTests
{
    [Fact]
    public void KubernetesPrefix_SubSecondTimesWinOverKanikoStamps()
    {
        // Kubernetes receive times are 0.25 s after the whole-second Kaniko times, and they move RUN output too.
        var entries = SyntheticLog.StandardBuild.Select(e => e with { Seconds = e.Seconds + 0.25 }).ToList();
        entries[1] = entries[1] with { Seconds = 0.5 }; // "from registry" at 0.5 s
        entries[2] = entries[2] with { Seconds = 2.1 }; // pull ends at 2.1 s (Kaniko's clock says 2)
        var log = SyntheticLog.Render(entries, SyntheticLog.Layout.ColorEscTimestamp, kubernetesPrefix: true);

        var a = AnalyzeText(log, "registry.example.com/team/app:1.0");

        Assert.Equal(KanikoLogClock.Kubernetes, a.Clock);
        AssertPhase(a.Pull, 1.85, 1); // 0.25 -> 2.1
        AssertPhase(a.Extract, 7, 1); // 2.25 .. 9.25 (the memo lookup and stage lines between are no phase)
        AssertPhase(a.Build, 7, 1);
        AssertPhase(a.Push, 4, 1);
        Assert.Equal(SyntheticLog.Start.AddSeconds(0.25), a.FirstTimestamp!.Value.UtcDateTime);
        Assert.Equal(SyntheticLog.Start.AddSeconds(20.25), a.LastTimestamp!.Value.UtcDateTime);
    }

    [Fact]
    public void KanikoRfc3339_WholeSeconds()
    {
        var log = SyntheticLog.Render(SyntheticLog.StandardBuild, SyntheticLog.Layout.Text);

        var a = AnalyzeText(log);

        Assert.Equal(KanikoLogClock.Rfc3339, a.Clock);
        AssertPhase(a.Push, 4, 1);
        Assert.Equal(SyntheticLog.Start, a.FirstTimestamp!.Value.UtcDateTime);
    }

    [Fact]
    public void PhaseStarts_WhereEachPhaseFirstBegan()
    {
        var entries = SyntheticLog.StandardBuild.Select(e => e with { Seconds = e.Seconds + 0.25 }).ToList();
        var log = SyntheticLog.Render(entries, SyntheticLog.Layout.ColorEscTimestamp, kubernetesPrefix: true);

        var a = AnalyzeText(log, "registry.example.com/team/app:1.0");

        var start = new DateTimeOffset(SyntheticLog.Start, TimeSpan.Zero);
        Assert.Equal(start.AddSeconds(0.25), a.PhaseStarts[KanikoPhase.Pull]); // "Retrieving image manifest"
        Assert.Equal(start.AddSeconds(2.25), a.PhaseStarts[KanikoPhase.Extract]); // "Unpacking rootfs"
        Assert.Equal(start.AddSeconds(9.25), a.PhaseStarts[KanikoPhase.Build]); // "RUN …"
        Assert.Equal(start.AddSeconds(16.25), a.PhaseStarts[KanikoPhase.Push]); // "Pushing image to"
        // A phase laid from its first start over its seconds ends by the last timestamp.
        Assert.True(a.PhaseStarts[KanikoPhase.Push].AddSeconds(a.Push.Seconds!.Value) <= a.LastTimestamp);
    }

    [Fact]
    public void PhaseStarts_NoneWithoutAnAbsoluteClock()
    {
        var log = SyntheticLog.Render(SyntheticLog.StandardBuild, SyntheticLog.Layout.ColorStripped);

        Assert.Empty(AnalyzeText(log).PhaseStarts); // elapsed seconds without the container's start time
    }

    [Fact]
    public void Elapsed_RelativeUnlessStartGiven()
    {
        var log = SyntheticLog.Render(SyntheticLog.StandardBuild, SyntheticLog.Layout.ColorStripped);

        var relative = AnalyzeText(log);
        using var reader = new StringReader(log);
        var started = new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero);
        var anchored = KanikoLogAnalyzer.Analyze(reader, new KanikoLogAnalyzerOptions { ContainerStartedAt = started });

        Assert.Equal(KanikoLogClock.Elapsed, relative.Clock);
        AssertPhase(relative.Build, 7, 1);
        Assert.Null(relative.FirstTimestamp); // elapsed seconds are relative without the start time
        Assert.Equal(started, anchored.FirstTimestamp);
        Assert.Equal(started.AddSeconds(20), anchored.LastTimestamp);
        AssertPhase(anchored.Build, 7, 1);
    }

    [Fact]
    public void PhaseOpenAtEnd_CountedToLastTimestamp()
    {
        // Truncated after the push retry: push is open from 16 s to the last stamp (17 s), nothing pushed.
        var entries = SyntheticLog.StandardBuild.Take(SyntheticLog.StandardBuild.Count - 1);
        var log = SyntheticLog.Render(entries, SyntheticLog.Layout.ColorEscTimestamp);

        var a = AnalyzeText(log);

        Assert.Equal(KanikoOutcome.Incomplete, a.Outcome);
        AssertPhase(a.Push, 1, 1);
        Assert.Empty(a.Pushed);
    }

    [Fact]
    public void KubernetesPrefix_OnPlainLines_ExtendsBuild()
    {
        // Only the Kubernetes clock sees RUN output: the build lasts until the last output line.
        const string log =
            "2024-04-17T14:00:00.100000000Z INFO[0000] RUN make\n"
            + "2024-04-17T14:00:03.600000000Z compiling...\n"
            + "2024-04-17T14:00:04.350000000Z done\n";

        var a = AnalyzeText(log);

        Assert.Equal(KanikoLogClock.Kubernetes, a.Clock);
        AssertPhase(a.Build, 4.25, 1);
    }

    [Fact]
    public void NoClock_SecondsNullCountsKept()
    {
        const string log = "Pushing image to reg.io/a:1\nerror pushing image: failed to push to destination reg.io/a:1: EOF\n";

        var a = AnalyzeText(log);

        Assert.Equal(KanikoLogClock.None, a.Clock);
        AssertPhase(a.Push, null, 0); // the first line has no Kaniko prefix: RUN-like output
        Assert.Equal(BuildFarm.Contracts.FailureReasons.NetworkError, a.Reason); // io.EOF: the connection closed
    }

    [Fact]
    public void OutOfOrderKubernetesStamps_AddNothing()
    {
        const string log =
            "2024-04-17T14:00:00Z INFO[0000] RUN make\n"
            + "2024-04-17T14:00:05Z output\n"
            + "2024-04-17T14:00:04Z late stderr line\n"
            + "2024-04-17T14:00:06Z INFO[0006] Pushing image to reg.io/a:1\n"
            + "2024-04-17T14:00:07Z INFO[0007] Pushed reg.io/a@sha256:0000000000000000000000000000000000000000000000000000000000000000\n";

        var a = AnalyzeText(log);

        AssertPhase(a.Build, 6, 1);
        AssertPhase(a.Push, 1, 1);
        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome);
    }

    [Fact]
    public void MultiStage_PhasesCountedPerRetrievalExtractionAndInstruction()
    {
        const string log =
            "INFO[0000] Resolved base name golang:1.22 to builder\n"
            + "INFO[0000] Retrieving image manifest golang:1.22\n"
            + "INFO[0001] Retrieving image golang:1.22 from registry index.docker.io\n"
            + "INFO[0002] Retrieving image manifest alpine:3.19\n"
            + "INFO[0003] Retrieving image alpine:3.19 from registry index.docker.io\n"
            + "INFO[0004] Built cross stage deps: map[0:[/out/app]]\n"
            + "INFO[0004] Retrieving image manifest golang:1.22\n"
            + "INFO[0004] Returning cached image manifest\n"
            + "INFO[0004] Executing 0 build triggers\n"
            + "INFO[0004] Building stage 'golang:1.22' [idx: '0', base-idx: '-1']\n"
            + "INFO[0004] Unpacking rootfs as cmd RUN go build -o /out/app requires it.\n"
            + "INFO[0010] WORKDIR /src\n"
            + "INFO[0010] Cmd: workdir\n"
            + "INFO[0011] RUN go build -o /out/app\n"
            + "INFO[0011] Cmd: /bin/sh\n"
            + "INFO[0011] Running: [/bin/sh -c go build -o /out/app]\n"
            + "go: downloading example.com/m v1.0.0\n"
            + "INFO[0030] Taking snapshot of full filesystem...\n"
            + "INFO[0032] Saving file out/app for later use\n"
            + "INFO[0032] Deleting filesystem...\n"
            + "INFO[0033] Retrieving image manifest alpine:3.19\n"
            + "INFO[0033] Returning cached image manifest\n"
            + "INFO[0033] Executing 0 build triggers\n"
            + "INFO[0033] Building stage 'alpine:3.19' [idx: '1', base-idx: '-1']\n"
            + "INFO[0033] Unpacking rootfs as cmd COPY --from=builder /out/app /app requires it.\n"
            + "INFO[0035] COPY --from=builder /out/app /app\n"
            + "INFO[0035] Taking snapshot of files...\n"
            + "INFO[0036] Pushing image to reg.io/app:1\n"
            + "INFO[0038] Pushed reg.io/app@sha256:8888888888888888888888888888888888888888888888888888888888888888\n";

        var a = AnalyzeText(log, "reg.io/app:1");

        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome);
        AssertPhase(a.Pull, 4, 2); // golang and alpine fetched 0 -> 4; the memo answers are no pull
        AssertPhase(a.Extract, 8, 2); // 4 -> 10 and 33 -> 35
        AssertPhase(a.Build, 24, 3); // WORKDIR, RUN, COPY: 10 -> 33 (saving, deleting) and 35 -> 36
        AssertPhase(a.Push, 2, 1);
    }
}
