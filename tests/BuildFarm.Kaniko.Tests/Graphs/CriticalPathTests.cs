using BuildFarm.Kaniko.Graphs;

namespace BuildFarm.Kaniko.Tests.Graphs;

public sealed class CriticalPathTests
{
    private sealed record Node(string Name, double Seconds, params string[] DependsOn);

    private static double[] Remaining(params Node[] nodes) => CriticalPath.Remaining(nodes, n => n.Name, n => n.DependsOn, n => n.Seconds);

    [Fact]
    public void Diamond_EachNodeIsItsOwnSecondsPlusItsLongestDependent()
    {
        // base → (slow 100, fast 10) → app 5
        var remaining = Remaining(new("app", 5, "slow", "fast"), new("slow", 100, "base"), new("fast", 10, "base"), new("base", 20));
        Assert.Equal([5, 105, 15, 125], remaining);
        Assert.Equal(125, CriticalPath.Length(remaining));
    }

    [Fact]
    public void IndependentNodes_AreTheirOwnSeconds()
    {
        Assert.Equal([3, 7], Remaining(new("a", 3), new("b", 7)));
        Assert.Empty(Remaining());
        Assert.Equal(0, CriticalPath.Length([]));
    }

    [Fact]
    public void FanOut_TheLeafOnTheLongChainOutranksTheShortLeaves()
    {
        var nodes = new List<Node> { new("root", 10) };
        nodes.AddRange(Enumerable.Range(0, 50).Select(i => new Node($"leaf{i}", 5, "root")));
        nodes.Add(new("chain1", 5, "root"));
        nodes.Add(new("chain2", 300, "chain1"));
        var remaining = Remaining([.. nodes]);
        Assert.Equal(315, remaining[0]);
        Assert.Equal(5, remaining[1]);
        Assert.Equal(305, remaining[^2]);
    }

    [Fact]
    public void DeepChain_OfFiveThousand_DoesNotRecurse()
    {
        var nodes = Enumerable.Range(0, 5000).Select(i => new Node($"n{i}", 1, i == 0 ? [] : [$"n{i - 1}"])).ToArray();
        var remaining = Remaining(nodes);
        Assert.Equal(5000, remaining[0]);
        Assert.Equal(1, remaining[4999]);
    }

    [Fact]
    public void WideLayeredGraph_OfAHundredThousandEdges_IsLinear()
    {
        // 10 layers of 100, each depending on all of the layer before: 90,000 edges.
        var nodes = Enumerable.Range(0, 1000).Select(i => new Node($"n{i}", i % 7,
            i < 100 ? [] : [.. Enumerable.Range((i / 100 - 1) * 100, 100).Select(d => $"n{d}")])).ToArray();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var remaining = Remaining(nodes);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"took {watch.Elapsed}");
        // Every layer's longest is 6; a first-layer node is its own seconds plus 9 layers of 6.
        Assert.Equal(3 + (9 * 6), remaining[3]);
    }

    [Fact]
    public void Durations_AreClamped_NegativeAndNaNCountAsZero()
    {
        Assert.Equal([0, 0, CriticalPath.MaxSeconds], Remaining(new("a", -5), new("b", double.NaN), new("c", double.PositiveInfinity)));
    }

    [Fact]
    public void Cycle_OrWrongCount_IsRejected()
    {
        var cycle = Assert.Throws<ArgumentException>(() => Remaining(new("a", 1, "b"), new("b", 1, "a")));
        Assert.Contains("cycle", cycle.Message, StringComparison.Ordinal);
        var graph = DependencyGraph.Of(new[] { new Node("a", 1) }, n => n.Name, n => n.DependsOn);
        Assert.Throws<ArgumentException>(() => CriticalPath.Remaining(graph, [1, 2]));
    }
}
