namespace BuildFarm.Kaniko.Graphs;

/// <summary>
/// A dependency graph over nodes <c>0 … Count-1</c> (pure): each node depends on others ("must come first"). Finds the
/// cycles a depth-first walk meets and orders acyclic graphs. Every walk is iterative, so a deep chain cannot overflow
/// the stack; time and memory are linear in nodes plus edges (<see cref="MaxNodes"/> bounds the nodes). Used by the
/// manifest parser and graph (images) and the batch graph (builds).
/// </summary>
public sealed class DependencyGraph
{
    /// <summary>Nodes one graph may hold.</summary>
    public const int MaxNodes = 1_000_000;

    private readonly int[][] _dependencies;
    private readonly List<int>[] _dependents;

    private DependencyGraph(int[][] dependencies)
    {
        _dependencies = dependencies;
        _dependents = new List<int>[dependencies.Length];
        for (var i = 0; i < _dependents.Length; i++)
        {
            _dependents[i] = [];
        }
        for (var node = 0; node < dependencies.Length; node++)
        {
            foreach (var dependency in dependencies[node])
            {
                _dependents[dependency].Add(node);
            }
        }
    }

    /// <summary>The number of nodes.</summary>
    public int Count => _dependencies.Length;

    /// <summary>
    /// The graph of <paramref name="nodes"/> (node <c>i</c> is <c>nodes[i]</c>), keyed by <paramref name="id"/> (ordinal).
    /// A dependency on an id that is not among the nodes is left out, as is a repeated one (the first is kept).
    /// </summary>
    /// <exception cref="ArgumentException">Two nodes share an id, or there are more than <see cref="MaxNodes"/>.</exception>
    public static DependencyGraph Of<T>(IReadOnlyList<T> nodes, Func<T, string> id, Func<T, IEnumerable<string>> dependsOn)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(dependsOn);
        if (nodes.Count > MaxNodes)
        {
            throw new ArgumentException($"a dependency graph holds at most {MaxNodes} nodes; this one has {nodes.Count}", nameof(nodes));
        }
        var index = new Dictionary<string, int>(nodes.Count, StringComparer.Ordinal);
        for (var i = 0; i < nodes.Count; i++)
        {
            if (!index.TryAdd(id(nodes[i]), i))
            {
                throw new ArgumentException($"node id '{id(nodes[i])}' appears twice", nameof(nodes));
            }
        }
        var dependencies = new int[nodes.Count][];
        var seen = new HashSet<int>();
        var list = new List<int>();
        for (var i = 0; i < nodes.Count; i++)
        {
            seen.Clear();
            list.Clear();
            foreach (var dependency in dependsOn(nodes[i]))
            {
                if (index.TryGetValue(dependency, out var d) && seen.Add(d))
                {
                    list.Add(d);
                }
            }
            dependencies[i] = [.. list];
        }
        return new DependencyGraph(dependencies);
    }

    /// <summary>What <paramref name="node"/> depends on, in the order given.</summary>
    public IReadOnlyList<int> DependenciesOf(int node) => _dependencies[node];

    /// <summary>What depends directly on <paramref name="node"/>, in node order.</summary>
    public IReadOnlyList<int> DependentsOf(int node) => _dependents[node];

    /// <summary>
    /// The cycles a depth-first walk meets (from each node in order, dependencies in the order given), each once
    /// whatever node it was entered at, at most <paramref name="max"/>. A cycle is its path with the first node
    /// repeated at the end (<c>a → c → b → a</c>); its last step is the dependency that closed it.
    /// </summary>
    public IReadOnlyList<int[]> FindCycles(int max = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(max);
        var cycles = new List<int[]>();
        var reported = new HashSet<string>(StringComparer.Ordinal);
        var state = new byte[Count]; // 0 unseen, 1 on the path, 2 done
        var position = new int[Count]; // index in path while on it
        var path = new List<int>();
        var cursor = new List<int>(); // next dependency to follow, per path entry
        for (var start = 0; start < Count && cycles.Count < max; start++)
        {
            if (state[start] != 0)
            {
                continue;
            }
            Enter(start);
            while (path.Count > 0 && cycles.Count < max)
            {
                var top = path[^1];
                var dependencies = _dependencies[top];
                var next = cursor[^1];
                if (next == dependencies.Length)
                {
                    state[top] = 2;
                    path.RemoveAt(path.Count - 1);
                    cursor.RemoveAt(cursor.Count - 1);
                    continue;
                }
                cursor[^1] = next + 1;
                var dependency = dependencies[next];
                if (state[dependency] == 1)
                {
                    int[] cycle = [.. path.Skip(position[dependency]), dependency];
                    if (reported.Add(string.Join(",", cycle.Skip(1).Order())))
                    {
                        cycles.Add(cycle);
                    }
                }
                else if (state[dependency] == 0)
                {
                    Enter(dependency);
                }
            }
        }
        return cycles;

        void Enter(int node)
        {
            state[node] = 1;
            position[node] = path.Count;
            path.Add(node);
            cursor.Add(0);
        }
    }

    /// <summary>
    /// Every node after all it depends on (Kahn's algorithm); among the nodes ready at a time the lowest-numbered goes
    /// first, so the order keeps the nodes' own order wherever the dependencies allow it. False when there is a cycle.
    /// </summary>
    public bool TryTopologicalOrder(out int[] order)
    {
        var waiting = new int[Count];
        var ready = new PriorityQueue<int, int>();
        for (var node = 0; node < Count; node++)
        {
            waiting[node] = _dependencies[node].Length;
            if (waiting[node] == 0)
            {
                ready.Enqueue(node, node);
            }
        }
        var result = new List<int>(Count);
        while (ready.TryDequeue(out var node, out _))
        {
            result.Add(node);
            foreach (var dependent in _dependents[node])
            {
                if (--waiting[dependent] == 0)
                {
                    ready.Enqueue(dependent, dependent);
                }
            }
        }
        order = [.. result];
        return result.Count == Count;
    }
}
