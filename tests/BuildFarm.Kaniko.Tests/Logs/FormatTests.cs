using BuildFarm.Kaniko.Logs;
using static BuildFarm.Kaniko.Tests.Logs.AnalyzerTestHelpers;

namespace BuildFarm.Kaniko.Tests.Logs;

/// <summary>The same synthetic build in every layout of kaniko-facts §7 gives the same phases and outcome.</summary>
public sealed class FormatTests
{
    [Theory]
    [InlineData(SyntheticLog.Layout.ColorEscTimestamp, KanikoLogFormat.Color, KanikoLogClock.Rfc3339)]
    [InlineData(SyntheticLog.Layout.ColorEscElapsed, KanikoLogFormat.Color, KanikoLogClock.Elapsed)]
    [InlineData(SyntheticLog.Layout.ColorRemnants, KanikoLogFormat.Color, KanikoLogClock.Elapsed)]
    [InlineData(SyntheticLog.Layout.ColorStripped, KanikoLogFormat.Color, KanikoLogClock.Elapsed)]
    [InlineData(SyntheticLog.Layout.Text, KanikoLogFormat.Text, KanikoLogClock.Rfc3339)]
    [InlineData(SyntheticLog.Layout.Json, KanikoLogFormat.Json, KanikoLogClock.Rfc3339)]
    public void StandardBuild_EachLayout_SamePhasesAndOutcome(SyntheticLog.Layout layout, KanikoLogFormat format, KanikoLogClock clock)
    {
        var log = SyntheticLog.Render(SyntheticLog.StandardBuild, layout);

        var a = AnalyzeText(log, "registry.example.com/team/app:1.0");

        Assert.Equal(format, a.Format);
        Assert.Equal(clock, a.Clock);
        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome);
        AssertPhase(a.Pull, 2, 1);
        AssertPhase(a.Extract, 7, 1); // the retry WARN at 5 s does not end extract
        AssertPhase(a.Build, 7, 1);
        AssertPhase(a.Push, 4, 1);
        Assert.Equal(1, a.RetriesIn(KanikoPhase.Extract));
        Assert.Equal(1, a.ResetsIn(KanikoPhase.Extract));
        Assert.Equal(1, a.RetriesIn(KanikoPhase.Push));
        Assert.Equal(1, a.ResetsIn(KanikoPhase.Push));
        Assert.Equal(2, a.TotalResets); // the curl reset in RUN output is not counted
        var pushed = Assert.Single(a.Pushed);
        Assert.Equal("registry.example.com/team/app", pushed.Image);
        Assert.Equal("sha256:6ffb99d2f1eeef2b9575206798a35d2a448914523968fe650ab79e60c4647853", pushed.Digest);
    }

    [Fact]
    public void Text_QuotedMessageWithEscapes_Unescaped()
    {
        const string log = "time=\"2024-04-17T14:00:00Z\" level=info msg=\"Pushing image to reg.io/a:1\"\n"
            + "time=\"2024-04-17T14:00:01Z\" level=fatal msg=\"Timed out snapshotting FS in \\\"90m\\\"\\n\"\n";

        var a = AnalyzeText(log);

        Assert.Equal(KanikoOutcome.Failed, a.Outcome);
        Assert.Equal("Timed out snapshotting FS in \"90m\"\n", a.Error);
        Assert.Equal(KanikoPhase.Build, a.FailedPhase);
    }

    [Fact]
    public void Text_BareMessage_Recognised()
    {
        // logrus leaves values with only [A-Za-z0-9-._/@^+] unquoted.
        const string log = "time=\"2024-04-17T14:00:00Z\" level=info msg=Pushed\n"
            + "time=\"2024-04-17T14:00:00Z\" level=warning msg=\"Retrying operation after 1s due to EOF\"\n";

        var a = AnalyzeText(log);

        Assert.Equal(KanikoLogFormat.Text, a.Format);
        Assert.Equal(KanikoLogClock.Rfc3339, a.Clock);
    }

    [Fact]
    public void Json_FatalLevel_IsTheError()
    {
        const string log = "{\"level\":\"fatal\",\"msg\":\"Invalid platform \\u0026 more\",\"time\":\"2024-04-17T14:00:00Z\"}\n";

        var a = AnalyzeText(log);

        Assert.Equal(KanikoLogFormat.Json, a.Format);
        Assert.Equal(KanikoOutcome.Failed, a.Outcome);
        Assert.Equal("Invalid platform & more", a.Error);
        Assert.Equal(KanikoPhase.Preflight, a.FailedPhase); // nothing had started
    }

    [Fact]
    public void NoKanikoLines_FormatUnknownClockNone()
    {
        var a = AnalyzeText("hello\nworld\n");

        Assert.Equal(KanikoLogFormat.Unknown, a.Format);
        Assert.Equal(KanikoLogClock.None, a.Clock);
        Assert.Equal(KanikoOutcome.Incomplete, a.Outcome);
        AssertPhase(a.Build, null, 0);
    }

    [Fact]
    public void DebugLines_CarryTimeButDoNotEndPhases()
    {
        const string log = "INFO[0001] Unpacking rootfs as cmd RUN x requires it.\n"
            + "TRAC[0003] Extracting layer 0 of media type application/vnd.oci.image.layer.v1.tar+gzip\n"
            + "DEBU[0005] Extracting layer 1\n"
            + "INFO[0006] RUN x\n";

        var a = AnalyzeText(log);

        AssertPhase(a.Extract, 5, 1);
        AssertPhase(a.Build, 0, 1);
    }
}
