using System.Text.RegularExpressions;
using BuildFarm.Contracts;
using BuildFarm.Kaniko.Graphs;

namespace BuildFarm.Status.Batches;

/// <summary>
/// A batch's dependency graph: images (nodes, by build id) and "must succeed first" edges, each optionally naming the
/// build arg that receives the dependency's pinned reference. Pure. Made from a <see cref="SubmitBatch"/> (validated:
/// every problem named) or from the stored build records (as the orchestrator finds them later).
/// </summary>
public sealed partial class BatchGraph
{
    private readonly Dictionary<string, BatchNode> _byId;
    private readonly Dictionary<string, List<BatchNode>> _dependents;

    private BatchGraph(IReadOnlyList<BatchNode> nodes)
    {
        Nodes = nodes;
        _byId = nodes.ToDictionary(n => n.BuildId, StringComparer.Ordinal);
        _dependents = nodes.ToDictionary(n => n.BuildId, _ => new List<BatchNode>(), StringComparer.Ordinal);
        foreach (var node in nodes)
        {
            foreach (var edge in node.DependsOn.DistinctBy(e => e.BuildId, StringComparer.Ordinal))
            {
                if (_dependents.TryGetValue(edge.BuildId, out var list))
                {
                    list.Add(node);
                }
            }
        }
    }

    /// <summary>The images, in the order given.</summary>
    public IReadOnlyList<BatchNode> Nodes { get; }

    /// <summary>Images without dependencies: published at once.</summary>
    public IReadOnlyList<BatchNode> Roots => [.. Nodes.Where(n => n.DependsOn.Count == 0)];

    public BatchNode this[string buildId] => _byId.TryGetValue(buildId, out var node)
        ? node
        : throw new KeyNotFoundException($"build '{buildId}' is not in the batch");

    public bool Contains(string buildId) => _byId.ContainsKey(buildId);

    /// <summary>The images that depend directly on <paramref name="buildId"/>.</summary>
    public IReadOnlyList<BatchNode> DependentsOf(string buildId) =>
        _dependents.TryGetValue(buildId, out var list) ? list : [];

    /// <summary>Every image that depends on <paramref name="buildId"/>, directly or not, nearest first (breadth first).</summary>
    public IReadOnlyList<BatchNode> TransitiveDependentsOf(string buildId)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal) { buildId };
        var result = new List<BatchNode>();
        var queue = new Queue<string>([buildId]);
        while (queue.TryDequeue(out var current))
        {
            foreach (var dependent in DependentsOf(current))
            {
                if (seen.Add(dependent.BuildId))
                {
                    result.Add(dependent);
                    queue.Enqueue(dependent.BuildId);
                }
            }
        }
        return result;
    }

    /// <summary>The images with every dependency before its dependents (Kahn's algorithm; among the images ready at a
    /// time the earliest in the given order goes first).</summary>
    public IReadOnlyList<BatchNode> TopologicalOrder()
    {
        if (!Graph(Nodes).TryTopologicalOrder(out var order))
        {
            throw new InvalidOperationException($"the batch has a dependency cycle: {DescribeCycle(Nodes)}");
        }
        return [.. order.Select(i => Nodes[i])];
    }

    /// <summary>The graph of a submitted batch; <see cref="ArgumentException"/> naming every problem when it is not valid.</summary>
    public static BatchGraph FromImages(IReadOnlyList<BatchImage> images)
    {
        var errors = Validate(images);
        if (errors.Count > 0)
        {
            throw new ArgumentException("invalid batch: " + string.Join("; ", errors), nameof(images));
        }
        var idOf = images.ToDictionary(i => i.Name, i => i.BuildId, StringComparer.Ordinal);
        return new BatchGraph([.. images.Select(i => new BatchNode(i.Name, i.BuildId,
            [.. i.DependsOn.Select(d => new BatchEdge(idOf[d.Image], d.BuildArg))]))]);
    }

    /// <summary>
    /// The graph as stored: each record's <see cref="BuildRecord.DependsOn"/> with the build args of
    /// <see cref="StoredBuildRecord.DependencyBuildArgs"/>. Not validated again (the orchestrator did that on submit); an edge to a
    /// build that is not in <paramref name="records"/> is kept, and never satisfied.
    /// </summary>
    public static BatchGraph FromRecords(IReadOnlyList<BuildRecord> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        return new BatchGraph([.. records.Select(r =>
        {
            var args = r.Stored().DependencyBuildArgs.ToLookup(kv => kv.Value, kv => kv.Key, StringComparer.Ordinal);
            var edges = r.DependsOn.SelectMany(d => args[d].Any()
                ? args[d].Select(arg => new BatchEdge(d, arg))
                : [new BatchEdge(d, null)]);
            return new BatchNode(r.Name ?? r.BuildId, r.BuildId, [.. edges]);
        })]);
    }

    /// <summary>Every problem with a batch's images, each naming the image and field; empty when valid.</summary>
    public static IReadOnlyList<string> Validate(IReadOnlyList<BatchImage>? images)
    {
        var errors = new List<string>();
        if (images is null || images.Count == 0)
        {
            errors.Add("images: a batch needs at least one image");
            return errors;
        }
        for (var i = 0; i < images.Count; i++)
        {
            if (images[i] is null)
            {
                errors.Add($"images[{i}]: is null");
            }
            else if (string.IsNullOrWhiteSpace(images[i].Name))
            {
                errors.Add($"images[{i}].name: is required");
            }
            else if (string.IsNullOrWhiteSpace(images[i].BuildId))
            {
                errors.Add($"images[{i}] ('{images[i].Name}').buildId: is required");
            }
        }
        if (errors.Count > 0)
        {
            return errors;
        }
        foreach (var group in images.GroupBy(i => i.Name, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            errors.Add($"image '{group.Key}': the name appears {group.Count()} times");
        }
        foreach (var group in images.GroupBy(i => i.BuildId, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            errors.Add($"build id '{group.Key}': used by {string.Join(", ", group.Select(i => $"'{i.Name}'"))}");
        }
        var names = images.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var image in images)
        {
            var dependsOn = image.DependsOn ?? [];
            foreach (var dependency in dependsOn)
            {
                if (dependency is null || string.IsNullOrWhiteSpace(dependency.Image))
                {
                    errors.Add($"image '{image.Name}': a dependsOn entry names no image");
                    continue;
                }
                if (string.Equals(dependency.Image, image.Name, StringComparison.Ordinal))
                {
                    errors.Add($"image '{image.Name}': depends on itself");
                }
                else if (!names.Contains(dependency.Image))
                {
                    errors.Add($"image '{image.Name}': depends on '{dependency.Image}', which is not in the batch");
                }
                if (dependency.BuildArg is { } arg)
                {
                    if (!BuildArgName().IsMatch(arg))
                    {
                        errors.Add($"image '{image.Name}': build arg '{arg}' for dependency '{dependency.Image}' is not a valid name (letters, digits, '_'; not starting with a digit)");
                    }
                    else if (image.Spec?.BuildArgs.ContainsKey(arg) == true)
                    {
                        errors.Add($"image '{image.Name}': build arg '{arg}' is set in its buildArgs and also by its dependency on '{dependency.Image}'");
                    }
                }
            }
            foreach (var group in dependsOn.Where(d => d?.Image is not null).GroupBy(d => d.Image, StringComparer.Ordinal).Where(g => g.Count() > 1))
            {
                errors.Add($"image '{image.Name}': depends on '{group.Key}' {group.Count()} times");
            }
            foreach (var group in dependsOn.Where(d => d?.BuildArg is not null).GroupBy(d => d.BuildArg!, StringComparer.Ordinal).Where(g => g.Count() > 1))
            {
                errors.Add($"image '{image.Name}': build arg '{group.Key}' receives {string.Join(" and ", group.Select(d => $"'{d.Image}'"))}");
            }
            if (image.Spec is null)
            {
                errors.Add($"image '{image.Name}': spec is required");
            }
        }
        if (errors.Count == 0)
        {
            var nodes = images.Select(i => new BatchNode(i.Name, i.Name, [.. i.DependsOn.Select(d => new BatchEdge(d.Image, d.BuildArg))])).ToList();
            if (FindCycle(nodes) is { } cycle)
            {
                errors.Add($"dependency cycle: {string.Join(" → ", cycle)}");
            }
        }
        return errors;
    }

    private static string DescribeCycle(IReadOnlyList<BatchNode> nodes) =>
        FindCycle(nodes) is { } cycle ? string.Join(" → ", cycle) : "(not found)";

    /// <summary>The first cycle a depth-first walk in the given order meets, as names (first repeated at the end), or null.</summary>
    private static List<string>? FindCycle(IReadOnlyList<BatchNode> nodes) =>
        Graph(nodes).FindCycles(max: 1) is [var cycle] ? [.. cycle.Select(i => nodes[i].Name)] : null;

    private static DependencyGraph Graph(IReadOnlyList<BatchNode> nodes) =>
        DependencyGraph.Of(nodes, n => n.BuildId, n => n.DependsOn.Select(e => e.BuildId));

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex BuildArgName();
}

/// <summary>One image of a batch.</summary>
public sealed record BatchNode(string Name, string BuildId, IReadOnlyList<BatchEdge> DependsOn);

/// <summary>"Must succeed first": the dependency's build id and the build arg that receives its pinned reference, if any.</summary>
public sealed record BatchEdge(string BuildId, string? BuildArg);
