namespace BuildFarm.Kaniko.Graphs;

/// <summary>
/// Lower bounds on the makespan of a batch on a number of identical slots (pure), for judging a schedule: no order,
/// however clever, finishes the batch sooner. <see cref="Simple"/> is max(critical path, total work ÷ slots);
/// <see cref="Energetic"/> also counts the work that cannot have started near the beginning nor can wait until near
/// the end (energetic reasoning), which is where the simple bound is loose when both of its parts are close.
/// </summary>
public static class MakespanBound
{
    /// <summary>The most start-offset candidates <see cref="Energetic"/> tries (its cost is this times n log n).</summary>
    public const int MaxHeadCandidates = 1024;

    /// <summary>
    /// max(critical path, total work ÷ <paramref name="slots"/>), where node <c>i</c> takes <paramref name="seconds"/>[i]
    /// (clamped as <see cref="CriticalPath.Remaining(DependencyGraph, IReadOnlyList{double})"/> does).
    /// </summary>
    /// <exception cref="ArgumentException">The counts differ, the graph has a cycle, or <paramref name="slots"/> is below 1.</exception>
    public static double Simple(DependencyGraph graph, IReadOnlyList<double> seconds, int slots)
    {
        var remaining = Checked(graph, seconds, slots);
        return Math.Max(CriticalPath.Length(remaining), Work(seconds) / slots);
    }

    /// <summary>
    /// A lower bound at least <see cref="Simple"/>. For node v of duration d, let head(v) be the longest chain of
    /// dependencies before it (it cannot start earlier) and tail(v) the longest chain of dependents after it (the batch
    /// cannot end sooner than that after v ends). In any schedule of makespan C, for any a, b ≥ 0 at most
    /// max(0, a − head(v)) of v's work fits before a and at most max(0, b − tail(v)) after C − b; what is left of each
    /// node, E(a, b) = Σ max(0, d − max(0, a − head) − max(0, b − tail)), must run on the slots between a and C − b, so
    /// C ≥ a + b + E(a, b) ÷ slots whenever E(a, b) &gt; 0. The bound is the largest of these: for each a among 0 and
    /// the heads (at most <see cref="MaxHeadCandidates"/> of them, evenly picked when there are more), the best b
    /// exactly (the right side is piecewise linear in b, so a sweep over its breakpoints finds it).
    /// O(min(n, <see cref="MaxHeadCandidates"/>) · n log n) for n nodes; meant for benchmarks and reports, not per request.
    /// </summary>
    /// <exception cref="ArgumentException">The counts differ, the graph has a cycle, or <paramref name="slots"/> is below 1.</exception>
    public static double Energetic(DependencyGraph graph, IReadOnlyList<double> seconds, int slots)
    {
        var remaining = Checked(graph, seconds, slots);
        var bound = Math.Max(CriticalPath.Length(remaining), Work(seconds) / slots);
        var n = graph.Count;
        var duration = new double[n];
        var tail = new double[n];
        for (var v = 0; v < n; v++)
        {
            duration[v] = CriticalPath.Clamp(seconds[v]);
            tail[v] = remaining[v] - duration[v];
        }
        var head = Heads(graph, duration);
        var candidates = head.Prepend(0).Distinct().Order().ToArray();
        if (candidates.Length > MaxHeadCandidates)
        {
            candidates = [.. Enumerable.Range(0, MaxHeadCandidates).Select(i => candidates[(int)((long)i * (candidates.Length - 1) / (MaxHeadCandidates - 1))])];
        }
        var events = new List<(double At, int Slope)>(2 * n);
        foreach (var a in candidates)
        {
            bound = Math.Max(bound, a + BestEnd(a, head, tail, duration, slots, events));
        }
        return bound;
    }

    /// <summary>
    /// For a fixed start offset <paramref name="a"/>: max over b ≥ 0 with E(a, b) &gt; 0 of b + E(a, b) ÷ slots. E is the
    /// sum of each node's left-over work, flat while b ≤ tail and falling by 1 per second until it reaches 0, so its
    /// slope changes only at tail and tail + left-over: the maximum is at one of those points.
    /// </summary>
    private static double BestEnd(double a, double[] head, double[] tail, double[] duration, int slots, List<(double At, int Slope)> events)
    {
        events.Clear();
        var energy = 0.0;
        for (var v = 0; v < duration.Length; v++)
        {
            var left = duration[v] - Math.Min(duration[v], Math.Max(0, a - head[v]));
            if (left > 0)
            {
                energy += left;
                events.Add((tail[v], -1));
                events.Add((tail[v] + left, +1));
            }
        }
        events.Sort((x, y) => x.At.CompareTo(y.At));
        var best = energy > 0 ? energy / slots : double.NegativeInfinity;
        double at = 0;
        var falling = 0;
        foreach (var (point, slope) in events)
        {
            energy -= falling * (point - at);
            at = point;
            falling -= slope;
            // A little slack for rounding: only where work is really left does the inequality hold.
            if (energy > 1e-9)
            {
                best = Math.Max(best, at + (energy / slots));
            }
        }
        return best;
    }

    /// <summary>The longest chain of dependencies before each node (its earliest start with unlimited slots).</summary>
    private static double[] Heads(DependencyGraph graph, double[] duration)
    {
        graph.TryTopologicalOrder(out var order);
        var head = new double[graph.Count];
        foreach (var node in order)
        {
            foreach (var dependency in graph.DependenciesOf(node))
            {
                head[node] = Math.Max(head[node], head[dependency] + duration[dependency]);
            }
        }
        return head;
    }

    private static double[] Checked(DependencyGraph graph, IReadOnlyList<double> seconds, int slots)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 1);
        return CriticalPath.Remaining(graph, seconds);
    }

    private static double Work(IReadOnlyList<double> seconds) => seconds.Sum(CriticalPath.Clamp);
}
