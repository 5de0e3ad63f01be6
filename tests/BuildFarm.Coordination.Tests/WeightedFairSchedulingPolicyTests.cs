using BuildFarm.Coordination.Scheduling;

namespace BuildFarm.Coordination.Tests;

/// <summary>The farm's scheduling contract (docs/scheduling.md): fair share, priority, batches, critical path.</summary>
public sealed class WeightedFairSchedulingPolicyTests
{
    private static readonly Dictionary<string, int> None = [];

    private static WeightedFairSchedulingPolicy Policy(params (string Tenant, double Weight)[] weights) =>
        new(new FairShareOptions { TenantWeights = weights.ToDictionary(w => w.Tenant, w => w.Weight, StringComparer.Ordinal) });

    private static ReadyBuild Build(string id, string tenant = "a", string group = "", int priority = 0, double path = 0, long sequence = 0) =>
        new(id, tenant, group, priority, path, sequence);

    /// <summary><paramref name="count"/> builds of one tenant and group, ready in order.</summary>
    private static IEnumerable<ReadyBuild> Backlog(string tenant, string group, int count, long firstSequence = 0) =>
        Enumerable.Range(0, count).Select(i => Build($"{tenant}-{group}-{i}", tenant, group, sequence: firstSequence + i));

    private static SchedulingSnapshot Snapshot(IEnumerable<ReadyBuild> ready, Dictionary<string, int>? byTenant = null, Dictionary<string, int>? byGroup = null) =>
        new([.. ready], byTenant ?? None, byGroup ?? None);

    private static string[] Ids(IReadOnlyList<ReadyBuild> chosen) => [.. chosen.Select(b => b.BuildId)];

    [Fact]
    public void ZeroOrNegativeSlots_OrNothingReady_ChooseNothing()
    {
        var policy = Policy();
        Assert.Empty(policy.Choose(Snapshot(Backlog("a", "", 3)), 0));
        Assert.Empty(policy.Choose(Snapshot(Backlog("a", "", 3)), -1));
        Assert.Empty(policy.Choose(Snapshot([]), 5));
    }

    [Fact]
    public void MoreSlotsThanReady_ChoosesEveryBuildOnce()
    {
        var chosen = Policy().Choose(Snapshot(Backlog("a", "b1", 3).Concat(Backlog("c", "", 2))), 100);
        Assert.Equal(5, chosen.Count);
        Assert.Equal(5, chosen.Select(b => b.BuildId).Distinct().Count());
    }

    [Fact]
    public void TwoTenantsOfEqualWeight_Alternate_WhateverOrderTheyBecameReady()
    {
        // All of a's builds became ready before b's: FIFO would start a's ten first.
        var ready = Backlog("a", "x", 10).Concat(Backlog("b", "y", 10, firstSequence: 100));
        var chosen = Policy().Choose(Snapshot(ready), 8);
        Assert.Equal(4, chosen.Count(b => b.Tenant == "a"));
        Assert.Equal(4, chosen.Count(b => b.Tenant == "b"));
        Assert.Equal(["a-x-0", "b-y-0", "a-x-1", "b-y-1"], Ids(chosen).Take(4));
    }

    [Fact]
    public void TwoToOneWeights_SplitTheSlotsTwoToOne()
    {
        var ready = Backlog("a", "x", 50).Concat(Backlog("b", "y", 50));
        var chosen = Policy(("a", 2)).Choose(Snapshot(ready), 30);
        Assert.Equal(20, chosen.Count(b => b.Tenant == "a"));
        Assert.Equal(10, chosen.Count(b => b.Tenant == "b"));
    }

    [Fact]
    public void RunningBuildsCount_TheTenantBehindCatchesUpFirst()
    {
        var ready = Backlog("a", "x", 10).Concat(Backlog("b", "y", 10));
        var chosen = Policy().Choose(Snapshot(ready, byTenant: new() { ["a"] = 6, ["b"] = 2 }), 6);
        // b runs 2 against a's 6: b's next four slots bring it level, then they alternate.
        Assert.Equal(5, chosen.Count(b => b.Tenant == "b"));
        Assert.Equal(["b", "b", "b", "b"], chosen.Take(4).Select(b => b.Tenant));
    }

    [Fact]
    public void WeightedShare_CountsRunningByWeight()
    {
        // a (weight 3) runs 6: share 2; b (weight 1) runs 1: share 1. b first, then b level at 2, then tie.
        var ready = Backlog("a", "x", 10).Concat(Backlog("b", "y", 10));
        var chosen = Policy(("a", 3)).Choose(Snapshot(ready, byTenant: new() { ["a"] = 6, ["b"] = 1 }), 1);
        Assert.Equal("b", chosen.Single().Tenant);
    }

    [Fact]
    public void HighPrioritySingleBuild_OvertakesItsTenantsBacklog()
    {
        var ready = Backlog("a", "nightly", 200).Append(Build("urgent", "a", "", priority: 9, sequence: 500));
        var chosen = Policy().Choose(Snapshot(ready, byTenant: new() { ["a"] = 32 }), 1);
        Assert.Equal("urgent", chosen.Single().BuildId);
    }

    [Fact]
    public void AnotherTenantsSingleBuild_StartsAtTheNextFreeSlot_DuringABacklog()
    {
        var ready = Backlog("a", "nightly", 200).Append(Build("dev", "b", "", sequence: 500));
        var chosen = Policy().Choose(Snapshot(ready, byTenant: new() { ["a"] = 31 }, byGroup: new() { [SchedulingOrder.GroupKey("a", "nightly")] = 31 }), 1);
        Assert.Equal("dev", chosen.Single().BuildId);
    }

    [Fact]
    public void BatchesOfOneTenant_ShareItsSlots_FewestRunningFirst()
    {
        var ready = Backlog("a", "old", 20).Concat(Backlog("a", "new", 20, firstSequence: 100));
        var chosen = Policy().Choose(Snapshot(ready, byTenant: new() { ["a"] = 4 }, byGroup: new() { [SchedulingOrder.GroupKey("a", "old")] = 4 }), 8);
        // "new" runs nothing: it gets four slots to draw level, then the two alternate.
        Assert.Equal(["a-new-0", "a-new-1", "a-new-2", "a-new-3"], Ids(chosen).Take(4));
        Assert.Equal(6, chosen.Count(b => b.Group == "new"));
    }

    [Fact]
    public void WithinAGroup_LongerPathFirst_ThenReadyOrder()
    {
        var ready = new[]
        {
            Build("leaf1", path: 10, sequence: 1),
            Build("chain", path: 900, sequence: 2),
            Build("leaf2", path: 10, sequence: 0),
            Build("mid", path: 300, sequence: 3),
        };
        Assert.Equal(["chain", "mid", "leaf2", "leaf1"], Ids(Policy().Choose(Snapshot(ready), 4)));
    }

    [Fact]
    public void EqualPriorityAndRunning_AcrossGroups_LongerPathFirst()
    {
        var ready = new[] { Build("short", group: "g1", path: 5, sequence: 0), Build("long", group: "g2", path: 50, sequence: 1) };
        Assert.Equal(["long", "short"], Ids(Policy().Choose(Snapshot(ready), 2)));
    }

    [Fact]
    public void RespectsWithinGroupOrder_ForEveryGroup()
    {
        var random = new Random(17);
        var ready = Enumerable.Range(0, 600).Select(i => Build($"b{i}", $"t{random.Next(3)}", $"g{random.Next(5)}",
            random.Next(10), random.Next(1000), random.Next(100_000))).ToList();
        var chosen = Policy(("t1", 2.5)).Choose(Snapshot(ready), 250);
        foreach (var group in ready.GroupBy(b => SchedulingOrder.GroupKey(b.Tenant, b.Group)))
        {
            var expected = group.OrderBy(b => b, SchedulingOrder.WithinGroup).ToList();
            var started = chosen.Where(b => SchedulingOrder.GroupKey(b.Tenant, b.Group) == group.Key).ToList();
            Assert.Equal(expected.Take(started.Count), started);
        }
    }

    [Fact]
    public void TenantTie_BetterNextBuildFirst_ThenName()
    {
        var byPriority = new[] { Build("z0", "z", priority: 5), Build("a0", "a", priority: 1) };
        Assert.Equal("z0", Policy().Choose(Snapshot(byPriority), 1).Single().BuildId);

        var byName = new[] { Build("z0", "z", sequence: 0), Build("a0", "a", sequence: 0) };
        Assert.Equal(["a0", "z0"], Ids(Policy().Choose(Snapshot(byName), 2)));
    }

    [Fact]
    public void SameSnapshot_SameAnswer_WhateverTheOrderOffered()
    {
        var random = new Random(3);
        var ready = Enumerable.Range(0, 300).Select(i => Build($"b{i}", $"t{random.Next(4)}", $"g{random.Next(6)}",
            random.Next(3), random.Next(50), i)).ToList();
        var shuffled = ready.OrderBy(_ => random.Next()).ToList();
        Assert.Equal(Ids(Policy().Choose(Snapshot(ready), 100)), Ids(Policy().Choose(Snapshot(shuffled), 100)));
    }

    [Fact]
    public void TenThousandCandidates_AreChosenQuickly()
    {
        var ready = Enumerable.Range(0, 10_000).Select(i => Build($"b{i}", $"t{i % 50}", $"g{i % 400}", i % 10, i % 977, i)).ToList();
        var policy = Policy(("t1", 4));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var chosen = policy.Choose(Snapshot(ready), 10_000);
        watch.Stop();
        Assert.Equal(10_000, chosen.Select(b => b.BuildId).Distinct().Count());
        // O(n log n): ~10 ms here; a quadratic walk takes seconds.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"took {watch.Elapsed}");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(2_000_000)]
    public void OptionsValidation_RejectsWeights_NotAboveZero_OrTooLarge(double weight)
    {
        var tenant = new FairShareOptions { TenantWeights = new(StringComparer.Ordinal) { ["team-a"] = weight } };
        Assert.Contains(tenant.Validate(), e => e.Contains("Scheduling:FairShare:TenantWeights:team-a", StringComparison.Ordinal));
        var fallback = new FairShareOptions { DefaultWeight = weight };
        Assert.Contains(fallback.Validate(), e => e.Contains("Scheduling:FairShare:DefaultWeight", StringComparison.Ordinal));
        Assert.Throws<ArgumentException>(() => new WeightedFairSchedulingPolicy(tenant));
    }

    [Fact]
    public void OptionsValidation_BoundsTenantNames_AndAcceptsTheDefaults()
    {
        Assert.Empty(new FairShareOptions().Validate());
        var longName = new FairShareOptions { TenantWeights = new(StringComparer.Ordinal) { [new string('t', 300)] = 1 } };
        Assert.Contains(longName.Validate(), e => e.Contains("at most 256 characters", StringComparison.Ordinal));
    }
}
