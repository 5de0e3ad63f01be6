using BuildFarm.Coordination.Adaptive;

namespace BuildFarm.Coordination.Tests;

/// <summary>The pure AIMD rule of the adaptive registry limits.</summary>
public sealed class AdaptiveLimitTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.Parse("2026-12-05T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
    private static readonly AdaptiveLimitSettings Settings = new() { Floor = 2, Max = 20, DecreaseFactor = 0.5, Cooldown = TimeSpan.FromSeconds(30) };

    [Fact]
    public void Initial_IsTheMaximum() =>
        Assert.Equal(new AdaptiveLimitState(20, null), AdaptiveLimit.Initial(Settings));

    [Fact]
    public void Congestion_WhenEveryReportWasCongested_MultipliesByTheFullFactor_AndNotesWhen()
    {
        // A registry nothing is known about counts as fully congested (share 1), as DCTCP starts its estimate.
        var next = AdaptiveLimit.Next(new AdaptiveLimitState(16, null), clean: 0, congested: 1, T0, Settings);
        Assert.Equal(new AdaptiveLimitState(8, T0, 1), next);
        Assert.Equal(8, next.Slots);
    }

    [Fact]
    public void Congestion_DecreasesInProportionToTheRunningCongestedShare()
    {
        // Mostly clean traffic: one congested build in sixteen, from a share of 0.
        var next = AdaptiveLimit.Next(new AdaptiveLimitState(16, null, 0), clean: 15, congested: 1, T0, Settings);
        var kept = Math.Pow(15.0 / 16, 16);
        var share = (1 - kept) / 16;
        Assert.Equal(share, next.Congestion, 9);
        Assert.Equal(16 * (1 - (0.5 * share)), next.Limit, 9);
        Assert.Equal(15, next.Slots);
        Assert.Equal(T0, next.LastDecrease);
    }

    [Fact]
    public void Share_MovesByTheWeightPerReport_TowardsOneOrZero()
    {
        Assert.Equal(1.0 / 16, AdaptiveLimit.Next(new AdaptiveLimitState(10, null, 0), 0, 1, T0, Settings).Congestion, 9);
        Assert.Equal(15.0 / 16, AdaptiveLimit.Next(new AdaptiveLimitState(10, null, 1), 1, 0, T0, Settings).Congestion, 9);
        // Clean windows compose: three then five clean builds move it as eight in one window do.
        var start = new AdaptiveLimitState(10, null, 0.6);
        var split = AdaptiveLimit.Next(AdaptiveLimit.Next(start, 3, 0, T0, Settings), 5, 0, T0, Settings);
        Assert.Equal(AdaptiveLimit.Next(start, 8, 0, T0, Settings).Congestion, split.Congestion, 9);
        // A stored share out of range is brought back.
        Assert.Equal(1, AdaptiveLimit.Next(new AdaptiveLimitState(10, null, double.NaN), 0, 0, T0, Settings).Congestion);
        Assert.Equal(0, AdaptiveLimit.Next(new AdaptiveLimitState(10, null, -3), 0, 0, T0, Settings).Congestion);
    }

    [Fact]
    public void WeightOne_IsPlainAimd_TheFullFactorOnAnyCongestedWindowOfOne()
    {
        var plain = Settings with { CongestionWeight = 1 };
        var next = AdaptiveLimit.Next(new AdaptiveLimitState(16, null, 0), 0, 1, T0, plain);
        Assert.Equal(new AdaptiveLimitState(8, T0, 1), next);
        // A clean build forgets it at once.
        Assert.Equal(0, AdaptiveLimit.Next(next, 1, 0, T0.AddMinutes(1), plain).Congestion);
    }

    [Fact]
    public void Congestion_ManyReportsInOneWindow_DecreaseOnce()
    {
        var next = AdaptiveLimit.Next(new AdaptiveLimitState(16, null), clean: 0, congested: 9, T0, Settings);
        Assert.Equal(8, next.Limit);
    }

    [Fact]
    public void Congestion_WithinTheCooldown_DoesNotDecreaseAgain_AfterItDoes()
    {
        var decreased = AdaptiveLimit.Next(new AdaptiveLimitState(16, null), 0, 1, T0, Settings);
        var cooling = AdaptiveLimit.Next(decreased, 0, 3, T0.AddSeconds(29), Settings);
        Assert.Equal(decreased, cooling);
        var again = AdaptiveLimit.Next(cooling, 0, 1, T0.AddSeconds(30), Settings);
        Assert.Equal(new AdaptiveLimitState(4, T0.AddSeconds(30)), again);
    }

    [Fact]
    public void Congestion_NeverBelowTheFloor()
    {
        var state = new AdaptiveLimitState(3, null);
        for (var i = 0; i < 10; i++)
        {
            state = AdaptiveLimit.Next(state, 0, 1, T0.AddMinutes(i), Settings);
        }
        Assert.Equal(2, state.Limit);
    }

    [Fact]
    public void Clean_AddsOneOverTheLimitPerBuild_SoAboutOnePerLimitsWorthOfBuilds()
    {
        var next = AdaptiveLimit.Next(new AdaptiveLimitState(4, T0), clean: 1, congested: 0, T0.AddMinutes(1), Settings);
        Assert.Equal(4.25, next.Limit, 6);
        Assert.Equal(T0, next.LastDecrease);
        var grown = AdaptiveLimit.Next(new AdaptiveLimitState(4, null), clean: 4, congested: 0, T0, Settings);
        Assert.InRange(grown.Limit, 4.9, 5.0);
        Assert.Equal(4, grown.Slots);
        Assert.Equal(5, AdaptiveLimit.Next(grown, 1, 0, T0, Settings).Slots);
    }

    [Fact]
    public void Clean_NeverAboveTheMaximum_EvenForAHugeWindow()
    {
        var next = AdaptiveLimit.Next(new AdaptiveLimitState(2, null), clean: int.MaxValue, congested: 0, T0, Settings);
        Assert.Equal(20, next.Limit);
    }

    [Fact]
    public void NoReports_ReadOnly_ButAStoredValueOutOfRangeIsBroughtBack()
    {
        Assert.Equal(new AdaptiveLimitState(7.5, T0), AdaptiveLimit.Next(new AdaptiveLimitState(7.5, T0), 0, 0, T0, Settings));
        Assert.Equal(20, AdaptiveLimit.Next(new AdaptiveLimitState(50, null), 0, 0, T0, Settings).Limit);
        Assert.Equal(2, AdaptiveLimit.Next(new AdaptiveLimitState(0.1, null), 0, 0, T0, Settings).Limit);
        Assert.Equal(20, AdaptiveLimit.Next(new AdaptiveLimitState(double.NaN, null), 0, 0, T0, Settings).Limit);
    }

    [Fact]
    public void NegativeCounts_AreRefused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => AdaptiveLimit.Next(AdaptiveLimit.Initial(Settings), -1, 0, T0, Settings));

    [Theory]
    [InlineData(0, 20, 0.5, "floor must be at least 1")]
    [InlineData(5, 4, 0.5, "max (4) must be at least the floor (5)")]
    [InlineData(2, 20, 1.0, "decrease factor must be between 0 and 1")]
    [InlineData(2, 20, 0.0, "decrease factor must be between 0 and 1")]
    public void Settings_Invalid_NameTheProblem(int floor, int max, double factor, string expected)
    {
        var errors = new AdaptiveLimitSettings { Floor = floor, Max = max, DecreaseFactor = factor }.Validate();
        Assert.Contains(errors, e => e.StartsWith(expected, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void Settings_CongestionWeightOutOfRange_NamesIt(double weight)
    {
        var errors = (Settings with { CongestionWeight = weight }).Validate();
        Assert.Contains(errors, e => e.StartsWith("congestion weight must be above 0 and at most 1", StringComparison.Ordinal));
        Assert.Empty((Settings with { CongestionWeight = 1 }).Validate());
    }
}
