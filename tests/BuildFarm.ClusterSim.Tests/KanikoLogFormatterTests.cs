using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using BuildFarm.ClusterSim.Kaniko;

namespace BuildFarm.ClusterSim.Tests;

/// <summary>Every Kaniko line of the real v1.20.0 runs is re-formatted from its level, time and message and must come
/// out byte for byte the same.</summary>
public sealed partial class KanikoLogFormatterTests
{
    [GeneratedRegex(@"^\x1b\[(\d+)m(INFO|WARN|ERRO)\x1b\[0m\[([^\]]+)\] (.*)$")]
    private static partial Regex ColorLine();

    [GeneratedRegex("^time=\"([^\"]+)\" level=(\\w+) msg=(.*)$")]
    private static partial Regex TextLine();

    private static KanikoLevel Level(string word) => word switch
    {
        "INFO" or "info" => KanikoLevel.Info,
        "WARN" or "warning" => KanikoLevel.Warning,
        _ => KanikoLevel.Error,
    };

    private static DateTimeOffset Time(string rfc3339) =>
        DateTimeOffset.Parse(rfc3339, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    [Theory]
    [InlineData("a-success-color-timestamp.exit0.log")]
    [InlineData("d1-cache-run1.exit0.log")]
    [InlineData("e-run-step-exit3.exit3.log")]
    [InlineData("g3-push-reset-recovered.exit0.log")]
    public void Format_ColorWithTimestamp_ReproducesRealRunBytes(string file)
    {
        var checkedLines = 0;
        foreach (var line in Sim.RealRun(file))
        {
            var m = ColorLine().Match(line);
            if (!m.Success)
            {
                continue;
            }
            var message = m.Groups[4].Value.TrimEnd(' ');
            var formatted = KanikoLogFormatter.Format(KanikoLogFormat.Color, true, Level(m.Groups[2].Value), message, Time(m.Groups[3].Value), 0);
            Assert.Equal(line, formatted);
            checkedLines++;
        }
        Assert.True(checkedLines > 20, $"only {checkedLines} Kaniko lines recognised in {file}");
    }

    [Fact]
    public void Format_TextFormat_ReproducesRealRunBytes()
    {
        var checkedLines = 0;
        foreach (var line in Sim.RealRun("b2-success-text-timestamp.exit0.log"))
        {
            var m = TextLine().Match(line);
            if (!m.Success)
            {
                continue;
            }
            var raw = m.Groups[3].Value;
            var message = raw.StartsWith('"') ? JsonSerializer.Deserialize<string>(raw)! : raw;
            var formatted = KanikoLogFormatter.Format(KanikoLogFormat.Text, true, Level(m.Groups[2].Value), message, Time(m.Groups[1].Value), 0);
            Assert.Equal(line, formatted);
            checkedLines++;
        }
        Assert.True(checkedLines > 20, $"only {checkedLines} text lines recognised");
    }

    [Fact]
    public void Format_JsonFormat_ReproducesRealRunBytesWithHtmlEscapes()
    {
        var checkedLines = 0;
        foreach (var line in Sim.RealRun("c-success-json.exit0.log"))
        {
            if (!line.StartsWith('{'))
            {
                continue;
            }
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            var formatted = KanikoLogFormatter.Format(KanikoLogFormat.Json, false, Level(root.GetProperty("level").GetString()!),
                root.GetProperty("msg").GetString()!, Time(root.GetProperty("time").GetString()!), 0);
            Assert.Equal(line, formatted);
            checkedLines++;
        }
        Assert.True(checkedLines > 20, $"only {checkedLines} json lines recognised");
    }

    [Fact]
    public void Format_ColorWithoutTimestamp_PrintsZeroPaddedElapsedSeconds()
    {
        var line = KanikoLogFormatter.Format(KanikoLogFormat.Color, false, KanikoLevel.Info, "Pushing image to reg/app:1",
            DateTimeOffset.UnixEpoch, 3);
        Assert.Equal("\u001b[36mINFO\u001b[0m[0003] Pushing image to reg/app:1                   ", line);
    }

    [Theory]
    [InlineData("plain-text_1.0/x@y^z+w", "plain-text_1.0/x@y^z+w")]
    [InlineData("has space", "\"has space\"")]
    [InlineData("quote \" and \\ back", "\"quote \\\" and \\\\ back\"")]
    [InlineData("tab\there", "\"tab\\there\"")]
    [InlineData("", "")]
    public void QuoteIfNeeded_FollowsLogrusAndGoQuote(string value, string expected) =>
        Assert.Equal(expected, KanikoLogFormatter.QuoteIfNeeded(value));

    [Fact]
    public void Format_TextWarning_UsesWarningLevelWord()
    {
        var line = KanikoLogFormatter.Format(KanikoLogFormat.Text, true, KanikoLevel.Warning, "Retrying operation after 1s due to x",
            new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero), 0);
        Assert.Equal("time=\"2026-01-02T03:04:05Z\" level=warning msg=\"Retrying operation after 1s due to x\"", line);
    }
}
