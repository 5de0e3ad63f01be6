namespace BuildFarm.Kaniko.Graphs;

/// <summary>
/// The remaining path of each build of a batch (pure): its own expected seconds plus the longest remaining path among
/// the builds that depend on it, i.e. the expected time from its start to the end of the batch if every slot were
/// free. The scheduler starts the longest first (docs/scheduling.md). Iterative over a topological order (a
/// 5,000-deep chain is fine); linear in nodes plus edges.
/// </summary>
public static class CriticalPath
{
    /// <summary>The longest expected duration of one build counted (a week): bounds every sum.</summary>
    public const double MaxSeconds = 7 * 24 * 3600;

    /// <summary>
    /// The remaining path of every node of <paramref name="graph"/>, where node <c>i</c> takes <paramref name="seconds"/>[i]
    /// (clamped to 0 … <see cref="MaxSeconds"/>; NaN counts as 0).
    /// </summary>
    /// <exception cref="ArgumentException">The counts differ, or the graph has a cycle.</exception>
    public static double[] Remaining(DependencyGraph graph, IReadOnlyList<double> seconds)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(seconds);
        if (seconds.Count != graph.Count)
        {
            throw new ArgumentException($"expected {graph.Count} durations (one per node), got {seconds.Count}", nameof(seconds));
        }
        if (!graph.TryTopologicalOrder(out var order))
        {
            throw new ArgumentException("the graph has a cycle: a batch's builds must not depend on each other in a circle", nameof(graph));
        }
        var remaining = new double[graph.Count];
        // Dependents come after their dependencies in the order: walking it backwards, every dependent is done first.
        for (var i = order.Length - 1; i >= 0; i--)
        {
            var node = order[i];
            var longest = 0.0;
            foreach (var dependent in graph.DependentsOf(node))
            {
                longest = Math.Max(longest, remaining[dependent]);
            }
            remaining[node] = Clamp(seconds[node]) + longest;
        }
        return remaining;
    }

    /// <summary>
    /// The remaining path of each of <paramref name="nodes"/> (keyed by <paramref name="id"/>; dependencies outside the
    /// nodes are left out, as <see cref="DependencyGraph.Of"/> does), each taking <paramref name="seconds"/>.
    /// </summary>
    public static double[] Remaining<T>(IReadOnlyList<T> nodes, Func<T, string> id, Func<T, IEnumerable<string>> dependsOn, Func<T, double> seconds)
    {
        ArgumentNullException.ThrowIfNull(seconds);
        var graph = DependencyGraph.Of(nodes, id, dependsOn);
        return Remaining(graph, [.. nodes.Select(seconds)]);
    }

    /// <summary>The longest remaining path: the batch's expected makespan with unlimited slots.</summary>
    public static double Length(IReadOnlyList<double> remaining) => remaining.Count == 0 ? 0 : remaining.Max();

    internal static double Clamp(double seconds) => double.IsNaN(seconds) ? 0 : Math.Clamp(seconds, 0, MaxSeconds);
}
