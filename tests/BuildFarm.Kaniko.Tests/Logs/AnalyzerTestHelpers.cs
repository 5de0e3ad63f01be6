using BuildFarm.Kaniko.Logs;

namespace BuildFarm.Kaniko.Tests.Logs;

internal static class AnalyzerTestHelpers
{
    public static KanikoLogAnalysis AnalyzeText(string log, params string[] destinations)
    {
        using var reader = new StringReader(log);
        return KanikoLogAnalyzer.Analyze(reader, new KanikoLogAnalyzerOptions { Destinations = destinations });
    }

    public static void AssertPhase(PhaseTiming timing, double? seconds, int count)
    {
        Assert.Equal(count, timing.Count);
        if (seconds is null)
        {
            Assert.Null(timing.Seconds);
        }
        else
        {
            Assert.NotNull(timing.Seconds);
            Assert.Equal(seconds.Value, timing.Seconds.Value, 6);
        }
    }
}
