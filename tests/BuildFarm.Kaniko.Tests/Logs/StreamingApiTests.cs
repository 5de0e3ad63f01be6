using System.Text;
using BuildFarm.Kaniko.Logs;
using static BuildFarm.Kaniko.Tests.Logs.AnalyzerTestHelpers;

namespace BuildFarm.Kaniko.Tests.Logs;

/// <summary>The per-line API the worker uses on a followed log stream, and the stream helpers.</summary>
public sealed class StreamingApiTests
{
    [Fact]
    public void Complete_MidStream_IsASnapshotThatDoesNotDisturbTheRest()
    {
        var lines = SyntheticLog.Render(SyntheticLog.StandardBuild, SyntheticLog.Layout.ColorEscTimestamp).Split('\n');
        var analyzer = new KanikoLogAnalyzer(new KanikoLogAnalyzerOptions { Destinations = ["registry.example.com/team/app:1.0"] });

        foreach (var line in lines.Take(9))
        {
            analyzer.AnalyzeLine(line);
        }

        var partial = analyzer.Complete();
        foreach (var line in lines.Skip(9))
        {
            analyzer.AnalyzeLine(line);
        }

        var final = analyzer.Complete();

        // After the extract retry at 5 s: still extracting, nothing failed yet.
        Assert.Equal(KanikoOutcome.Incomplete, partial.Outcome);
        AssertPhase(partial.Extract, 3, 1);
        Assert.Equal(1, partial.ResetsIn(KanikoPhase.Extract));
        Assert.Equal(KanikoOutcome.Succeeded, final.Outcome);
        AssertPhase(final.Extract, 7, 1);
        AssertPhase(final.Push, 4, 1);
    }

    [Fact]
    public async Task AnalyzeAsync_Utf8StreamWithBomAndCrLf_SameAsText()
    {
        var log = SyntheticLog.Render(SyntheticLog.StandardBuild, SyntheticLog.Layout.Json).Replace("\n", "\r\n", StringComparison.Ordinal);
        using var stream = new MemoryStream([.. Encoding.UTF8.GetPreamble(), .. Encoding.UTF8.GetBytes(log)]);

        var a = await KanikoLogAnalyzer.AnalyzeAsync(stream, new KanikoLogAnalyzerOptions(), CancellationToken.None);

        Assert.Equal(KanikoLogFormat.Json, a.Format);
        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome);
        AssertPhase(a.Build, 7, 1);
        Assert.True(stream.CanRead); // left open
    }

    [Fact]
    public async Task AnalyzeAsync_Cancelled_Throws()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        var reader = new GeneratedReader([("INFO[0001] RUN x\n", 1_000_000)]);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => KanikoLogAnalyzer.AnalyzeAsync(reader, null, cts.Token));
    }

    [Fact]
    public void LineSplitAcrossReadChunks_Reassembled()
    {
        // A 40 000-character line crosses the reader's 32 Ki-character chunks; its end still counts.
        var longRun = "INFO[0001] RUN " + new string('a', 40_000) + "\n";
        var log = longRun + "INFO[0004] Pushing image to reg.io/a:1\nINFO[0005] Pushed reg.io/a@sha256:7777777777777777777777777777777777777777777777777777777777777777";

        var a = AnalyzeText(log);

        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome); // last line has no line break
        AssertPhase(a.Build, 3, 1);
    }

    [Fact]
    public void Options_EmptyDestination_Rejected()
    {
        var e = Assert.Throws<ArgumentException>(() => new KanikoLogAnalyzer(new KanikoLogAnalyzerOptions { Destinations = ["reg.io/a:1", " "] }));

        Assert.Contains("destination 1 is empty", e.Message, StringComparison.Ordinal);
    }
}
