using System.Text.Json;
using BuildFarm.Kaniko.Logs;

namespace BuildFarm.Kaniko.Tests.Logs;

public sealed class KanikoLogAnalysisJsonTests
{
    [Fact]
    public void ToJsonLine_RealRun_ExactContractKeysAndValues()
    {
        using var reader = File.OpenText(KanikoFixtures.KanikoRun("g3-push-reset-recovered.exit0.log"));
        var analysis = KanikoLogAnalyzer.Analyze(reader);

        var line = KanikoLogAnalysisJson.ToJsonLine("g3.log", analysis);

        Assert.DoesNotContain('\n', line);
        using var doc = JsonDocument.Parse(line);
        var root = doc.RootElement;
        Assert.Equal(
            ["file", "format", "clock", "outcome", "reason", "transient", "failedPhase", "phases", "resets", "retries", "cache", "pushed", "notPushed", "error", "note"],
            root.EnumerateObject().Select(p => p.Name));
        Assert.Equal("g3.log", root.GetProperty("file").GetString());
        Assert.Equal("color", root.GetProperty("format").GetString());
        Assert.Equal("rfc3339", root.GetProperty("clock").GetString());
        Assert.Equal("succeeded", root.GetProperty("outcome").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("reason").ValueKind);
        Assert.False(root.GetProperty("transient").GetBoolean());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("failedPhase").ValueKind);
        var phases = root.GetProperty("phases");
        Assert.Equal(["pull", "extract", "build", "push"], phases.EnumerateObject().Select(p => p.Name));
        Assert.Equal(6, phases.GetProperty("push").GetProperty("seconds").GetDouble());
        Assert.Equal(1, phases.GetProperty("push").GetProperty("count").GetInt32());
        Assert.Equal(["preflight", "pull", "extract", "build", "push"], root.GetProperty("resets").EnumerateObject().Select(p => p.Name));
        Assert.Equal(1, root.GetProperty("resets").GetProperty("push").GetInt32());
        Assert.Equal(["pull", "extract", "push"], root.GetProperty("retries").EnumerateObject().Select(p => p.Name));
        Assert.Equal(1, root.GetProperty("retries").GetProperty("push").GetInt32());
        Assert.Equal(0, root.GetProperty("cache").GetProperty("hits").GetInt32());
        var pushed = Assert.Single(root.GetProperty("pushed").EnumerateArray().ToList());
        Assert.Equal("127.0.0.1:5002/app-pushreset", pushed.GetProperty("image").GetString());
        Assert.StartsWith("sha256:6ffb99d2", pushed.GetProperty("digest").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("error").ValueKind);
    }

    [Fact]
    public void ToJsonLine_FailedWithoutClock_NullSecondsAndReadableError()
    {
        var analyzer = new KanikoLogAnalyzer();
        analyzer.AnalyzeLine("error building image: GET \"https://r/v2/\": <html> & more: connection reset by peer");

        var line = KanikoLogAnalysisJson.ToJsonLine("-", analyzer.Complete());

        Assert.Contains("\"seconds\":null", line, StringComparison.Ordinal);
        Assert.Contains("\"reason\":\"connection_reset\",\"transient\":true,\"failedPhase\":\"preflight\"", line, StringComparison.Ordinal);
        Assert.Contains("<html> & more", line, StringComparison.Ordinal);
        Assert.Equal("connection_reset", JsonDocument.Parse(line).RootElement.GetProperty("reason").GetString());
    }
}
