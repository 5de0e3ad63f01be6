using BuildFarm.ClusterSim.Kaniko;
using BuildFarm.ClusterSim.Scenarios;

namespace BuildFarm.ClusterSim.Tests;

/// <summary>The scenario's per-image build durations (<c>imageDurations</c>).</summary>
public sealed class ImageDurationSettingsTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 5, 10, 0, 0, TimeSpan.Zero);

    private static double RunSeconds(Scenario scenario, string destination, int seed = 42) =>
        KanikoScript.Plan(KanikoArgs.Parse([$"--destination={destination}"]), scenario, new Random(seed), "default/p", 7, o => Start.AddSeconds(o), "10.244.0.5").Duration;

    [Fact]
    public void Default_EveryFactorIsOne_AndPlansAreUnchanged()
    {
        var plain = ScenarioLoader.Parse("timeScale: 30");
        Assert.True(plain.ImageDurations.IsUniform);
        Assert.Equal(1, plain.ImageDurations.FactorOf("r.io/a"));
        var explicitZero = ScenarioLoader.Parse("imageDurations: { spread: 0, heavyShare: 0 }");
        Assert.Equal(RunSeconds(plain, "r.io/a:1"), RunSeconds(explicitZero, "r.io/a:1"));
    }

    [Fact]
    public void Factor_IsTheSameForTheSameImage_AndSpreadsAcrossImages()
    {
        var scenario = ScenarioLoader.Parse("imageDurations: { spread: 0.5 }");
        var factors = Enumerable.Range(0, 2000).Select(i => scenario.ImageDurations.FactorOf($"r.io/img-{i}")).Order().ToList();
        Assert.Equal(scenario.ImageDurations.FactorOf("r.io/img-7"), ScenarioLoader.Parse("imageDurations: { spread: 0.5 }").ImageDurations.FactorOf("r.io/img-7"));
        // Lognormal of sigma 0.5: median ≈ 1, 95th percentile ≈ e^(0.5·1.645) ≈ 2.27.
        Assert.InRange(factors[1000], 0.9, 1.1);
        Assert.InRange(factors[1900], 1.9, 2.7);
        // A tag does not change the image; the same pod stream builds a slower image slower.
        var slow = Enumerable.Range(0, 2000).MaxBy(i => scenario.ImageDurations.FactorOf($"r.io/img-{i}"));
        var fast = Enumerable.Range(0, 2000).MinBy(i => scenario.ImageDurations.FactorOf($"r.io/img-{i}"));
        Assert.Equal(RunSeconds(scenario, $"r.io/img-{slow}:1"), RunSeconds(scenario, $"r.io/img-{slow}:2"));
        // Same random stream: only the RUN steps differ, by their factor (about 5.5 against 0.2 here).
        Assert.True(RunSeconds(scenario, $"r.io/img-{slow}:1") > RunSeconds(scenario, $"r.io/img-{fast}:1") + 10);
    }

    [Fact]
    public void HeavyShare_MakesThatShareOfImagesHeavyFactorSlower()
    {
        var scenario = ScenarioLoader.Parse("imageDurations: { heavyShare: 0.01, heavyFactor: 20 }");
        var factors = Enumerable.Range(0, 10_000).Select(i => scenario.ImageDurations.FactorOf($"r.io/img-{i}")).ToList();
        Assert.All(factors, f => Assert.True(f is 1 or 20, $"factor {f}"));
        Assert.InRange(factors.Count(f => f == 20), 70, 130);
    }

    [Fact]
    public void Scale_FirstMatchingGlobApplies()
    {
        var scenario = ScenarioLoader.Parse("""
            imageDurations:
              scale:
                "r.io/team/*-heavy": 10
                "r.io/team/*": 2
            """);
        Assert.Equal(10, scenario.ImageDurations.FactorOf("r.io/team/ml-heavy"));
        Assert.Equal(2, scenario.ImageDurations.FactorOf("r.io/team/web"));
        Assert.Equal(1, scenario.ImageDurations.FactorOf("q.io/other"));
    }

    [Theory]
    [InlineData("*", "anything", true)]
    [InlineData("a*c", "abbbc", true)]
    [InlineData("a*c", "abbb", false)]
    [InlineData("a*b*c", "ac", false)]
    [InlineData("a*a", "a", false)]
    [InlineData("R.IO/x", "r.io/x", true)]
    public void Glob_Matches(string glob, string text, bool matches) => Assert.Equal(matches, ImageDurationSettings.Matches(glob, text));

    [Theory]
    [InlineData("imageDurations: { spread: -1 }", "imageDurations.spread")]
    [InlineData("imageDurations: { heavyShare: 2 }", "imageDurations.heavyShare")]
    [InlineData("imageDurations: { heavyFactor: 0.5 }", "imageDurations.heavyFactor")]
    [InlineData("imageDurations: { scale: { \"r.io/*\": 0 } }", "imageDurations.scale.r.io/*")]
    public void BadValues_AreRejected_NamingTheField(string yaml, string field)
    {
        var e = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(yaml, "s.yaml"));
        Assert.Contains(field, e.Message, StringComparison.Ordinal);
    }
}
