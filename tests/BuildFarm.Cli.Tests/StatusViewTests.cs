using BuildFarm.Cli.Commands;
using BuildFarm.Contracts;
using Spectre.Console;

namespace BuildFarm.Cli.Tests;

/// <summary>What <c>buildfarm status</c> prints for a build's attempts.</summary>
public sealed class StatusViewTests
{
    [Fact]
    public void Attempts_ShowEachPodsMemoryLimit_AndMarkTheOneRaisedAfterAnOomKill()
    {
        var record = new BuildRecord
        {
            BuildId = "b1",
            Spec = new BuildSpec { Context = "s3://b/c.tar.gz", Destinations = ["registry.example.com/t/b1:1"] },
            State = BuildState.Succeeded,
            Attempts =
            [
                new AttemptRecord { Attempt = 1, Pod = "kaniko-b1-1", Reason = FailureReasons.OomKilled, MemoryLimit = "1Gi" },
                new AttemptRecord { Attempt = 2, Pod = "kaniko-b1-2", MemoryLimit = "2Gi", MemoryRaised = true },
                new AttemptRecord { Attempt = 3, Pod = "kaniko-b1-3" },
            ],
        };
        using var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 200;

        console.Write(StatusCommand.BuildView(record));
        var lines = writer.ToString().Split('\n');

        Assert.Contains(lines, l => l.Contains("memory", StringComparison.Ordinal) && l.Contains("reason", StringComparison.Ordinal));
        var first = Assert.Single(lines, l => l.Contains("kaniko-b1-1", StringComparison.Ordinal));
        Assert.Contains("1Gi", first, StringComparison.Ordinal);
        Assert.DoesNotContain("raised", first, StringComparison.Ordinal);
        Assert.Contains("2Gi (raised after OOM)", Assert.Single(lines, l => l.Contains("kaniko-b1-2", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.DoesNotContain("Gi", Assert.Single(lines, l => l.Contains("kaniko-b1-3", StringComparison.Ordinal)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, null, "")]
    [InlineData("4Gi", null, "4Gi")]
    [InlineData("4Gi", false, "4Gi")]
    [InlineData("8Gi", true, "8Gi (raised after OOM)")]
    public void MemoryOf_SaysTheLimitAndWhetherItWasRaised(string? limit, bool? raised, string expected) =>
        Assert.Equal(expected, StatusCommand.MemoryOf(new AttemptRecord { Attempt = 1, MemoryLimit = limit, MemoryRaised = raised }));
}
