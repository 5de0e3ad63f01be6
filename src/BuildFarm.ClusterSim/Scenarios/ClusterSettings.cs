namespace BuildFarm.ClusterSim.Scenarios;

public sealed class CapacitySettings
{
    /// <summary>Nodes, all <c>linux/amd64</c>, when <see cref="NodePools"/> is empty.</summary>
    public int Nodes { get; set; } = 4;
    public int PodsPerNode { get; set; } = 10;

    /// <summary>Nodes of several platforms (replacing <see cref="Nodes"/> when given): each pool's nodes carry the labels
    /// <c>kubernetes.io/os</c>, <c>kubernetes.io/arch</c> and the pool's own; a pod runs only on a node its node selector
    /// matches (docs/cluster-simulator.md).</summary>
    public List<NodePoolSettings> NodePools { get; set; } = [];

    /// <summary>Most nodes a scenario may have.</summary>
    public const int MaxNodes = 10_000;

    /// <summary>The labels of each node, in node order (<c>sim-node-1</c> first).</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, string>> NodeLabels()
    {
        var nodes = new List<IReadOnlyDictionary<string, string>>();
        if (NodePools.Count == 0)
        {
            for (var i = 0; i < Math.Clamp(Nodes, 0, MaxNodes); i++)
            {
                nodes.Add(NodePoolSettings.LabelsOf("linux", "amd64", null));
            }
            return nodes;
        }
        foreach (var pool in NodePools)
        {
            for (var i = 0; i < Math.Clamp(pool.Nodes, 0, MaxNodes) && nodes.Count < MaxNodes; i++)
            {
                nodes.Add(NodePoolSettings.LabelsOf(pool.Os, pool.Arch, pool.Labels));
            }
        }
        return nodes;
    }

    internal void Validate(List<string> errors)
    {
        if (NodePools.Count == 0)
        {
            if (Nodes < 1)
            {
                errors.Add($"capacity.nodes must be at least 1 (got {Nodes})");
            }
            else if (Nodes > MaxNodes)
            {
                errors.Add($"capacity.nodes must be at most {MaxNodes} (got {Nodes})");
            }
        }
        else
        {
            var total = 0L;
            for (var i = 0; i < NodePools.Count; i++)
            {
                NodePools[i].Validate($"capacity.nodePools[{i}]", errors);
                total += Math.Max(0, NodePools[i].Nodes);
            }
            if (total > MaxNodes)
            {
                errors.Add($"capacity.nodePools have {total} nodes in all, over the limit of {MaxNodes}");
            }
        }
        if (PodsPerNode < 1)
        {
            errors.Add($"capacity.podsPerNode must be at least 1 (got {PodsPerNode})");
        }
    }
}

/// <summary>Nodes of one platform: <c>{name: arm, nodes: 2, os: linux, arch: arm64, labels: {pool: builds}}</c>.</summary>
public sealed class NodePoolSettings
{
    public string Name { get; set; } = "pool";
    public int Nodes { get; set; } = 1;

    /// <summary>The node's <c>kubernetes.io/os</c> (GOOS): <c>linux</c>, <c>windows</c>.</summary>
    public string Os { get; set; } = "linux";

    /// <summary>The node's <c>kubernetes.io/arch</c> (GOARCH): <c>amd64</c>, <c>arm64</c>, <c>s390x</c>, …</summary>
    public string Arch { get; set; } = "amd64";

    /// <summary>More node labels a pod's node selector may name.</summary>
    public Dictionary<string, string> Labels { get; set; } = new(StringComparer.Ordinal);

    internal static IReadOnlyDictionary<string, string> LabelsOf(string os, string arch, IReadOnlyDictionary<string, string>? more)
    {
        var labels = new Dictionary<string, string>(more ?? new Dictionary<string, string>(), StringComparer.Ordinal)
        {
            ["kubernetes.io/os"] = os,
            ["kubernetes.io/arch"] = arch,
        };
        return labels;
    }

    internal void Validate(string field, List<string> errors)
    {
        if (Nodes < 1)
        {
            errors.Add($"{field}.nodes must be at least 1 (got {Nodes})");
        }
        foreach (var (name, value) in new[] { ("os", Os), ("arch", Arch) })
        {
            if (string.IsNullOrEmpty(value) || value.Length > 20 || !value.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_'))
            {
                errors.Add($"{field}.{name} must be 1-20 lower-case letters, digits or '_' (got '{value}')");
            }
        }
        if (Labels.Count > 32)
        {
            errors.Add($"{field}.labels has {Labels.Count} labels, over the limit of 32");
        }
    }
}

public sealed class QuotaSettings
{
    /// <summary>Non-terminated pods allowed per namespace; 0 = no quota.</summary>
    public int PodsPerNamespace { get; set; }

    /// <summary>
    /// A LimitRange's largest memory limit per container (a Kubernetes quantity such as <c>8Gi</c>); a pod with a container
    /// whose memory limit is above it is refused (403, as the LimitRanger admission plugin does). Empty: no limit.
    /// </summary>
    public string? MaxContainerMemory { get; set; }

    /// <summary><see cref="MaxContainerMemory"/> as a quantity, or null when unset or not a quantity.</summary>
    public k8s.Models.ResourceQuantity? MaxContainerMemoryQuantity()
    {
        if (string.IsNullOrWhiteSpace(MaxContainerMemory))
        {
            return null;
        }
        try
        {
            var quantity = new k8s.Models.ResourceQuantity(MaxContainerMemory.Trim());
            return quantity.ToDecimal() > 0 ? quantity : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
