using BuildFarm.Kaniko.Graphs;

namespace BuildFarm.Kaniko.Tests.Graphs;

public sealed class DependencyGraphTests
{
    private sealed record Node(string Name, params string[] DependsOn);

    private static DependencyGraph Graph(params Node[] nodes) => DependencyGraph.Of(nodes, n => n.Name, n => n.DependsOn);

    private static string Path(IReadOnlyList<Node> nodes, int[] cycle) => string.Join(" -> ", cycle.Select(i => nodes[i].Name));

    [Fact]
    public void TopologicalOrder_DependenciesFirst_GivenOrderWhereFree()
    {
        Node[] nodes = [new("app", "py", "node"), new("tool"), new("py", "base"), new("base"), new("node", "base")];

        Assert.True(Graph(nodes).TryTopologicalOrder(out var order));

        // "tool" is ready at once and comes before "base" by its place; "py" before "node" likewise.
        Assert.Equal(["tool", "base", "py", "node", "app"], order.Select(i => nodes[i].Name));
    }

    [Fact]
    public void TopologicalOrder_EarliestReadyFirst_NotFirstReadied()
    {
        // c is ready from the start, b only after a; b still goes before c because it comes first.
        Node[] nodes = [new("a"), new("b", "a"), new("c")];

        Assert.True(Graph(nodes).TryTopologicalOrder(out var order));

        Assert.Equal([0, 1, 2], order);
    }

    [Fact]
    public void TopologicalOrder_Cycle_IsRefusedWithTheAcyclicPartOrdered()
    {
        Node[] nodes = [new("free"), new("a", "b"), new("b", "a")];

        Assert.False(Graph(nodes).TryTopologicalOrder(out var order));

        Assert.Equal([0], order);
    }

    [Fact]
    public void Of_UnknownAndRepeatedDependencies_AreLeftOut()
    {
        var graph = Graph(new Node("a"), new Node("b", "a", "missing", "a"));

        Assert.Equal([0], graph.DependenciesOf(1));
        Assert.Equal([1], graph.DependentsOf(0));
        Assert.Empty(graph.DependentsOf(1));
    }

    [Fact]
    public void Of_DuplicateId_IsRefusedNamingIt()
    {
        var e = Assert.Throws<ArgumentException>(() => Graph(new Node("a"), new Node("a")));

        Assert.Contains("node id 'a' appears twice", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FindCycles_PathFromTheFirstNode_ClosedByTheLastStep()
    {
        Node[] nodes = [new("a", "c"), new("b", "a"), new("c", "b"), new("d")];

        var cycle = Assert.Single(Graph(nodes).FindCycles());

        // Walked from "a" (first in order): a needs c, c needs b, b needs a, which closes it.
        Assert.Equal("a -> c -> b -> a", Path(nodes, cycle));
    }

    [Fact]
    public void FindCycles_SelfDependency_IsACycleOfOne()
    {
        Node[] nodes = [new("x"), new("a", "a")];

        Assert.Equal("a -> a", Path(nodes, Assert.Single(Graph(nodes).FindCycles())));
    }

    [Fact]
    public void FindCycles_EachCycleOnce_InTheOrderMet()
    {
        // Two cycles through a; the first is met from a and again from b, but named once.
        Node[] nodes = [new("a", "b", "c"), new("b", "a"), new("c", "a"), new("d", "e"), new("e", "d")];

        var cycles = Graph(nodes).FindCycles();

        Assert.Equal(["a -> b -> a", "a -> c -> a", "d -> e -> d"], cycles.Select(c => Path(nodes, c)));
        Assert.Equal(["a -> b -> a"], Graph(nodes).FindCycles(max: 1).Select(c => Path(nodes, c)));
    }

    [Fact]
    public void FindCycles_Acyclic_None()
    {
        Assert.Empty(Graph(new Node("a"), new Node("b", "a"), new Node("c", "a", "b")).FindCycles());
    }

    [Fact]
    public void DeepChain_NoStackOverflow_OrderedAndCycleFound()
    {
        // A chain far deeper than a recursive walk could follow on a 1 MB stack, listed last-first.
        const int depth = 200_000;
        var nodes = Enumerable.Range(0, depth).Select(i => new Node($"n{i}", i == 0 ? [] : [$"n{i - 1}"])).Reverse().ToArray();

        var graph = Graph(nodes);
        Assert.True(graph.TryTopologicalOrder(out var order));
        Assert.Equal("n0", nodes[order[0]].Name);
        Assert.Equal($"n{depth - 1}", nodes[order[^1]].Name);
        Assert.Empty(graph.FindCycles());

        nodes[^1] = new Node("n0", $"n{depth - 1}");
        var cycle = Assert.Single(Graph(nodes).FindCycles());
        Assert.Equal(depth + 1, cycle.Length);
    }

    [Fact]
    public void MaxNodes_IsABound()
    {
        var nodes = new Node[DependencyGraph.MaxNodes + 1];
        Array.Fill(nodes, new Node("same"));

        var e = Assert.Throws<ArgumentException>(() => Graph(nodes));

        Assert.Contains($"at most {DependencyGraph.MaxNodes} nodes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FindCycles_MaxMustBePositive()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Graph(new Node("a")).FindCycles(max: 0));
    }
}
