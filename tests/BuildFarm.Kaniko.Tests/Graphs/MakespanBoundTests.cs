using BuildFarm.Kaniko.Graphs;

namespace BuildFarm.Kaniko.Tests.Graphs;

public sealed class MakespanBoundTests
{
    private sealed record Node(string Name, double Seconds, params string[] DependsOn);

    private static (DependencyGraph Graph, double[] Seconds) Of(params Node[] nodes) =>
        (DependencyGraph.Of(nodes, n => n.Name, n => n.DependsOn), [.. nodes.Select(n => n.Seconds)]);

    /// <summary>root (2 s) → four middles (2 s each) → sink (2 s), on 2 slots.</summary>
    private static (DependencyGraph Graph, double[] Seconds) Hourglass() => Of(
        new("root", 2), new("m1", 2, "root"), new("m2", 2, "root"), new("m3", 2, "root"), new("m4", 2, "root"),
        new("sink", 2, "m1", "m2", "m3", "m4"));

    [Fact]
    public void Hourglass_TheEnergeticBoundIsTheOptimum_WhereTheSimpleOneIsTwoSecondsShort()
    {
        // Critical path 6 s, work 12 s ÷ 2 slots = 6 s. But the root runs alone (one slot idle for 2 s) and so does the
        // sink: the four middles must fit between 2 s and C − 2 s on 2 slots, so C ≥ 2 + 2 + 8 ÷ 2 = 8, which the
        // obvious schedule reaches.
        var (graph, seconds) = Hourglass();
        Assert.Equal(6, MakespanBound.Simple(graph, seconds, 2));
        Assert.Equal(8, MakespanBound.Energetic(graph, seconds, 2), 9);
        Assert.Equal(8, ListSchedule(graph, seconds, 2, v => v), 9);
    }

    [Fact]
    public void FanOut_OneSidedHeadAloneBeatsTheSimpleBound()
    {
        // root (2 s) → four leaves (2 s each), 2 slots: critical path 4, work 10 ÷ 2 = 5; from 2 s on, 8 s of leaves
        // remain for 2 slots, so C ≥ 2 + 4 = 6 (the optimum).
        var (graph, seconds) = Of(new("root", 2), new("a", 2, "root"), new("b", 2, "root"), new("c", 2, "root"), new("d", 2, "root"));
        Assert.Equal(5, MakespanBound.Simple(graph, seconds, 2));
        Assert.Equal(6, MakespanBound.Energetic(graph, seconds, 2), 9);
    }

    [Fact]
    public void WideIndependentWorkOrALongChain_IsTheSimpleBound()
    {
        // Nothing forces a slot idle: the simple bound is all there is to say.
        var (wide, wideSeconds) = Of([.. Enumerable.Range(0, 8).Select(i => new Node($"n{i}", 3))]);
        Assert.Equal(12, MakespanBound.Energetic(wide, wideSeconds, 2), 9);
        var (chain, chainSeconds) = Of(new("a", 5), new("b", 7, "a"), new("c", 1, "b"));
        Assert.Equal(13, MakespanBound.Energetic(chain, chainSeconds, 4), 9);
        Assert.Equal(0, MakespanBound.Energetic(Of().Graph, [], 3));
    }

    [Fact]
    public void ALongChainOfDistinctHeads_UsesAtMostTheCappedCandidates_AndStaysTheChain()
    {
        var nodes = Enumerable.Range(0, MakespanBound.MaxHeadCandidates + 500).Select(i => new Node($"n{i}", 1 + (i % 3), i == 0 ? [] : [$"n{i - 1}"])).ToArray();
        var (graph, seconds) = Of(nodes);
        Assert.Equal(seconds.Sum(), MakespanBound.Energetic(graph, seconds, 8), 6);
    }

    [Fact]
    public void NeverAboveTheMakespanOfAnyListSchedule_AndNeverBelowTheSimpleBound()
    {
        var random = new Random(1234);
        var tighter = 0;
        for (var round = 0; round < 300; round++)
        {
            var n = 1 + random.Next(24);
            var nodes = Enumerable.Range(0, n).Select(i => new Node($"n{i}",
                random.Next(10) == 0 ? 0 : Math.Round(random.NextDouble() * 50, 1),
                [.. Enumerable.Range(0, i).Where(_ => random.Next(4) == 0).Select(d => $"n{d}")])).ToArray();
            var (graph, seconds) = Of(nodes);
            // Half the rounds on as many slots as make work ÷ slots about the critical path (both simple bounds bind,
            // where the energetic one has the most to add), half on 1 to 5.
            var length = CriticalPath.Length(CriticalPath.Remaining(graph, seconds));
            var slots = round % 2 == 0 || length <= 0 ? 1 + random.Next(5) : Math.Clamp((int)Math.Round(seconds.Sum() / length), 1, 16);
            var simple = MakespanBound.Simple(graph, seconds, slots);
            var bound = MakespanBound.Energetic(graph, seconds, slots);
            Assert.True(bound >= simple - 1e-9, $"round {round}: energetic {bound} below simple {simple}");
            var paths = CriticalPath.Remaining(graph, seconds);
            var orders = new List<Func<int, double>> { v => -v, v => paths[v], v => -paths[v], v => seconds[v] };
            for (var o = 0; o < 4; o++)
            {
                var priority = Enumerable.Range(0, n).Select(_ => random.NextDouble()).ToArray();
                orders.Add(v => priority[v]);
            }
            var best = orders.Min(order => ListSchedule(graph, seconds, slots, order));
            Assert.True(bound <= best + 1e-9, $"round {round}: bound {bound} above a schedule of {best} ({n} nodes, {slots} slots)");
            tighter += bound > simple + 1e-9 ? 1 : 0;
        }
        // The check is not vacuous: in many rounds the energetic bound says more than the simple one.
        Assert.True(tighter >= 25, $"only {tighter} of 300 rounds tighter");
    }

    [Fact]
    public void BadInput_IsRejected_AndDurationsAreClampedAsForTheCriticalPath()
    {
        var (graph, seconds) = Hourglass();
        Assert.Throws<ArgumentOutOfRangeException>(() => MakespanBound.Energetic(graph, seconds, 0));
        Assert.Throws<ArgumentException>(() => MakespanBound.Energetic(graph, [1, 2], 2));
        var (cycle, cycleSeconds) = Of(new("a", 1, "b"), new("b", 1, "a"));
        Assert.Contains("cycle", Assert.Throws<ArgumentException>(() => MakespanBound.Energetic(cycle, cycleSeconds, 2)).Message, StringComparison.Ordinal);
        var (odd, oddSeconds) = Of(new("a", -5), new("b", double.NaN), new("c", 4, "a", "b"));
        Assert.Equal(4, MakespanBound.Energetic(odd, oddSeconds, 1), 9);
    }

    /// <summary>
    /// A list schedule: whenever a slot is free, the ready node with the highest <paramref name="priority"/> starts.
    /// Returns its makespan.
    /// </summary>
    private static double ListSchedule(DependencyGraph graph, double[] seconds, int slots, Func<int, double> priority)
    {
        var waiting = Enumerable.Range(0, graph.Count).Select(v => graph.DependenciesOf(v).Count).ToArray();
        var ready = Enumerable.Range(0, graph.Count).Where(v => waiting[v] == 0).ToList();
        var running = new PriorityQueue<int, double>();
        double now = 0, makespan = 0;
        for (var started = 0; started < graph.Count || running.Count > 0;)
        {
            while (running.Count < slots && ready.Count > 0)
            {
                var next = ready.MaxBy(priority);
                ready.Remove(next);
                running.Enqueue(next, now + Math.Max(0, double.IsNaN(seconds[next]) ? 0 : seconds[next]));
                started++;
            }
            Assert.True(running.TryDequeue(out var done, out var end), "nothing runs yet nodes remain");
            now = end;
            makespan = Math.Max(makespan, end);
            foreach (var dependent in graph.DependentsOf(done))
            {
                if (--waiting[dependent] == 0)
                {
                    ready.Add(dependent);
                }
            }
        }
        return makespan;
    }
}
