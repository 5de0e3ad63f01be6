using BuildFarm.Manifests.Parsing;
using BuildFarm.Manifests.Scheduling;
using Cronos;

namespace BuildFarm.Manifests.Tests;

public sealed class ScheduleCalculatorTests
{
    private static readonly CronExpression Nightly = CronExpression.Parse("0 3 * * *");
    private static readonly TimeSpan Tolerance = TimeSpan.FromMinutes(2);

    private static DateTimeOffset At(int day, int hour, int minute = 0, int second = 0) => new(2026, 11, day, hour, minute, second, TimeSpan.Zero);

    [Fact]
    public void Occurrences_ExcludeStartIncludeEnd()
    {
        var occurrences = ScheduleCalculator.Occurrences(Nightly, At(1, 3), At(3, 3)).ToList();

        Assert.Equal([At(2, 3), At(3, 3)], occurrences);
    }

    [Fact]
    public void Occurrences_AreUtc_NoDaylightSavingGapOrRepeat()
    {
        // Europe and the US change clocks on these days; a UTC schedule still fires 24 times a day, once each.
        var hourly = CronExpression.Parse("30 * * * *");
        foreach (var day in new[] { new DateTimeOffset(2026, 3, 29, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero) })
        {
            var occurrences = ScheduleCalculator.Occurrences(hourly, day, day.AddDays(1)).ToList();
            Assert.Equal(24, occurrences.Count);
            Assert.Equal(24, occurrences.Distinct().Count());
            Assert.All(occurrences, o => Assert.Equal(TimeSpan.Zero, o.Offset));
        }
    }

    [Fact]
    public void Occurrences_ConvertNonUtcInputs()
    {
        var from = new DateTimeOffset(2026, 11, 28, 23, 0, 0, TimeSpan.FromHours(-5)); // 2026-11-29 04:00 UTC

        Assert.Equal(At(30, 3), ScheduleCalculator.Next(Nightly, from));
    }

    [Fact]
    public void Decide_NothingDue_DoesNothing()
    {
        Assert.Equal(ScheduleDecision.Nothing, ScheduleCalculator.Decide(Nightly, At(2, 3), At(3, 2, 59), MissedSchedulePolicy.Skip, Tolerance));
    }

    [Theory]
    [InlineData(MissedSchedulePolicy.Skip)]
    [InlineData(MissedSchedulePolicy.RunOnce)]
    public void Decide_OnTime_Fires(MissedSchedulePolicy policy)
    {
        var decision = ScheduleCalculator.Decide(Nightly, At(2, 3), At(3, 3, 1, 30), policy, Tolerance);

        Assert.Equal(new ScheduleDecision(At(3, 3), At(3, 3), 0), decision);
    }

    [Fact]
    public void Decide_SkipAfterDowntime_RecordsWithoutFiring()
    {
        // Down from the 2nd to the 5th at 09:00: the 3rd, 4th and 5th were missed.
        var decision = ScheduleCalculator.Decide(Nightly, At(2, 3), At(5, 9), MissedSchedulePolicy.Skip, Tolerance);

        Assert.Equal(new ScheduleDecision(null, At(5, 3), 3), decision);
    }

    [Fact]
    public void Decide_RunOnceAfterDowntime_CoalescesIntoOneRunForTheLatest()
    {
        var decision = ScheduleCalculator.Decide(Nightly, At(2, 3), At(5, 9), MissedSchedulePolicy.RunOnce, Tolerance);

        Assert.Equal(new ScheduleDecision(At(5, 3), At(5, 3), 2), decision);
    }

    [Fact]
    public void Decide_SkipWithOlderMissesButLatestOnTime_FiresTheLatest()
    {
        var decision = ScheduleCalculator.Decide(Nightly, At(2, 3), At(5, 3, 0, 5), MissedSchedulePolicy.Skip, Tolerance);

        Assert.Equal(new ScheduleDecision(At(5, 3), At(5, 3), 2), decision);
    }

    [Fact]
    public void Due_ListsEveryScheduledImageByTime()
    {
        var manifest = ManifestParser.Parse("""
            defaults: { context: "git://github.com/a/b.git", destinations: ["r.example.com/a/{name}:{short_sha}"] }
            images:
              - name: nightly
                schedule: "0 3 * * *"
              - name: hourly
                schedule: "0 * * * *"
              - name: never
            """);

        var due = ScheduleCalculator.Due(manifest, At(1, 1, 30), At(1, 3, 30));

        Assert.Equal([new DueOccurrence("hourly", At(1, 2)), new DueOccurrence("nightly", At(1, 3)), new DueOccurrence("hourly", At(1, 3))], due);
    }

    [Fact]
    public void ScheduledBatches_RebuildTheImageAndItsDependents_Deterministically()
    {
        var manifest = SampleManifests.Monorepo();
        var occurrence = At(29, 3);

        var batch = ScheduledBatches.Plan(manifest, "base", occurrence);
        var again = ScheduledBatches.Plan(manifest, "base", occurrence);

        Assert.Equal("sched-base-202611290300", batch.BatchId);
        Assert.Equal(18, batch.Images.Count);
        Assert.Equal("base", batch.Images[0].Name);
        Assert.Contains("registry.example.com/acme/base:s2611290300", batch.Images[0].Spec.Destinations);
        Assert.Contains("registry.example.com/acme/base:nightly-20261129", batch.Images[0].Spec.Destinations);
        Assert.Equal(batch.Images.Select(i => i.BuildId), again.Images.Select(i => i.BuildId));
        Assert.Equal(occurrence, batch.SubmittedAt);
        Assert.Equal(ScheduledBatches.RequestedBy, batch.RequestedBy);
    }
}
