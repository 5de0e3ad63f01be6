using BuildFarm.Cli.Progress;
using BuildFarm.Contracts;
using BuildFarm.Status;
using Spectre.Console;

namespace BuildFarm.Cli.Tests;

public sealed class ProgressViewTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    private static BuildRecord Record(string id, BuildState state, long version, string? name = null) => new()
    {
        BuildId = id,
        Name = name,
        Spec = new BuildSpec { Context = "s3://b/c.tar.gz", Destinations = ["registry.example.com/t/" + id + ":1"] },
        State = state,
        Version = version,
        SubmittedAt = T0,
    };

    private static FollowedBuilds Two() => new([new BatchMember("base", "b1"), new BatchMember("app", "b2")]);

    [Fact]
    public void Apply_OlderVersion_IsIgnored()
    {
        var builds = Two();

        Assert.True(builds.Apply(Record("b1", BuildState.Running, 3)));
        Assert.False(builds.Apply(Record("b1", BuildState.Queued, 2)));
        Assert.False(builds.Apply(Record("other", BuildState.Queued, 1)));

        Assert.Equal(BuildState.Running, Assert.Single(builds.Builds).State);
    }

    [Fact]
    public void AllFinal_OneBuildUnseen_False()
    {
        var builds = Two();
        builds.Apply(Record("b1", BuildState.Succeeded, 5));

        Assert.False(builds.AllFinal);
        builds.Apply(Record("b2", BuildState.Failed, 4));
        Assert.True(builds.AllFinal);
        Assert.False(builds.AllSucceeded);
    }

    [Fact]
    public void SummaryRows_PhaseSecondsScaledAndTotalled()
    {
        var builds = Two();
        builds.Apply(Record("b1", BuildState.Succeeded, 5) with
        {
            PhaseSeconds = new Dictionary<string, double> { ["pull"] = 0.5, ["extract"] = 1, ["push"] = 2 },
            Attempts = [new AttemptRecord { Attempt = 1, Reason = FailureReasons.ConnectionReset }, new AttemptRecord { Attempt = 2 }],
            Resets = 3,
            Digest = "sha256:" + new string('a', 64),
        });
        builds.Apply(Record("b2", BuildState.Failed, 2) with { Reason = FailureReasons.DependencyFailed });

        var rows = ProgressView.SummaryRows(builds, phaseScale: 10);
        var totals = ProgressView.Totals(rows);

        Assert.Equal(["base", "app"], rows.Select(r => r.Image));
        Assert.Equal(5, rows[0].Pull);
        Assert.Equal(20, rows[0].Push);
        Assert.Null(rows[1].Push);
        Assert.Equal(FailureReasons.DependencyFailed, rows[1].Reason);
        Assert.Equal((1, 1, 0, 2, 3), (totals.Succeeded, totals.Failed, totals.Cancelled, totals.Attempts, totals.Resets));
        Assert.Equal(10, totals.Extract);
    }

    [Fact]
    public void Line_RetryingBuild_NamesStateAttemptAndReason()
    {
        var record = Record("b1", BuildState.Retrying, 3) with
        {
            Attempts = [new AttemptRecord { Attempt = 1, Reason = FailureReasons.ConnectionReset, Transient = true }],
        };

        var line = ProgressView.Line(record, "base", T0);

        Assert.Equal("12:00:00.000 base retrying attempt 1 connection_reset", line);
    }

    [Fact]
    public void Summary_RendersEveryImageAndTotals()
    {
        var builds = Two();
        builds.Apply(Record("b1", BuildState.Succeeded, 5) with { Digest = "sha256:" + new string('b', 64), Attempts = [new AttemptRecord { Attempt = 1 }] });
        builds.Apply(Record("b2", BuildState.Cancelled, 2) with { Reason = FailureReasons.Cancelled });
        using var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 160;

        console.Write(ProgressView.Summary(builds, TimeSpan.FromSeconds(3.25)));
        var text = writer.ToString();

        Assert.Contains("base", text, StringComparison.Ordinal);
        Assert.Contains("sha256:bbbbbbbbbbbb", text, StringComparison.Ordinal);
        Assert.Contains("cancelled", text, StringComparison.Ordinal);
        Assert.Contains("total (2)", text, StringComparison.Ordinal);
        Assert.Contains("1 ok, 0 failed, 1 cancelled", text, StringComparison.Ordinal);
        Assert.Contains("wall 3.3s", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b[", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Counts_OnlyStatesPresent()
    {
        var builds = Two();
        builds.Apply(Record("b1", BuildState.Running, 2));
        builds.Apply(Record("b2", BuildState.Waiting, 1));

        Assert.Equal("2 builds: 1 waiting, 1 running", ProgressView.Counts(builds));
    }
}
