using System.Globalization;
using System.Net;
using YamlDotNet.RepresentationModel;

namespace BuildFarm.Deploy.Tests;

/// <summary>One end of a connection: a pod (namespace, labels, address, named ports) or an address outside the cluster
/// (<see cref="Namespace"/> null).</summary>
public sealed record Endpoint(string Description, string? Namespace, IReadOnlyDictionary<string, string>? PodLabels, IPAddress Address,
    IReadOnlyDictionary<string, int>? NamedPorts = null)
{
    public static Endpoint Pod(PodTemplate pod, string address) =>
        new(pod.Source, pod.Namespace, pod.Labels, IPAddress.Parse(address), pod.NamedPorts);

    public static Endpoint Pod(string description, string ns, IReadOnlyDictionary<string, string> labels, string address) =>
        new(description, ns, labels, IPAddress.Parse(address));

    public static Endpoint External(string description, string address) => new(description, null, null, IPAddress.Parse(address));

    public override string ToString() => $"{Description} ({Address})";
}

/// <summary>
/// The rendered NetworkPolicies evaluated as the Kubernetes API defines them (networking.k8s.io/v1): a pod is isolated in
/// a direction when a policy of its namespace selects it with that policy type; an isolated pod allows only what some
/// rule of a selecting policy allows; a connection between two pods needs the sender's egress and the receiver's
/// ingress. ipBlock peers also match pod addresses (what Calico does; the stricter reading for a deny test). Named
/// ports resolve against the receiving pod's container ports.
/// </summary>
public sealed class NetworkPolicyModel(IReadOnlyList<K8sObject> objects)
{
    private readonly IReadOnlyList<K8sObject> _policies = [.. objects.Where(o => o.Kind == "NetworkPolicy")];

    public IReadOnlyList<K8sObject> Policies => _policies;

    /// <summary>A namespace's labels: the rendered Namespace's, plus the <c>kubernetes.io/metadata.name</c> label the
    /// API server sets on every namespace.</summary>
    public IReadOnlyDictionary<string, string> NamespaceLabels(string ns)
    {
        var rendered = objects.SingleOrDefault(o => o.Kind == "Namespace" && o.Name == ns);
        var labels = new Dictionary<string, string>(PodTemplates.Labels(rendered?.At("metadata", "labels")), StringComparer.Ordinal)
        {
            ["kubernetes.io/metadata.name"] = ns,
        };
        return labels;
    }

    /// <summary>Whether <paramref name="from"/> may open a connection to <paramref name="to"/> on the port.</summary>
    public bool Allows(Endpoint from, Endpoint to, int port, string protocol = "TCP") =>
        (from.Namespace is null || Allowed(from, to, to, port, protocol, "Egress"))
        && (to.Namespace is null || Allowed(to, from, to, port, protocol, "Ingress"));

    /// <summary>The policies of the pod's namespace that select it, for one direction.</summary>
    public IEnumerable<K8sObject> Selecting(string ns, IReadOnlyDictionary<string, string> labels, string direction) =>
        _policies.Where(p => p.Namespace == ns && Matches(p.At("spec", "podSelector"), labels) && Types(p).Contains(direction));

    private bool Allowed(Endpoint pod, Endpoint peer, Endpoint receiver, int port, string protocol, string direction)
    {
        var selecting = Selecting(pod.Namespace!, pod.PodLabels!, direction).ToList();
        if (selecting.Count == 0)
        {
            return true;
        }
        var rulesKey = direction == "Egress" ? "egress" : "ingress";
        var peersKey = direction == "Egress" ? "to" : "from";
        return selecting.Any(policy => policy.At("spec", rulesKey) is YamlSequenceNode rules && rules.Children.OfType<YamlMappingNode>().Any(rule =>
        {
            var r = new K8sObject("Rule", policy.Name, policy.Namespace, rule);
            var peersAllowed = r.At(peersKey) is not YamlSequenceNode { Children.Count: > 0 } peers
                || peers.Children.OfType<YamlMappingNode>().Any(p => PeerMatches(new K8sObject("Peer", policy.Name, policy.Namespace, p), peer));
            var portsAllowed = r.At("ports") is not YamlSequenceNode { Children.Count: > 0 } ports
                || ports.Children.OfType<YamlMappingNode>().Any(p => PortMatches(new K8sObject("Port", policy.Name, null, p), receiver, port, protocol));
            return peersAllowed && portsAllowed;
        }));
    }

    private bool PeerMatches(K8sObject peer, Endpoint endpoint)
    {
        if (peer.At("ipBlock") is YamlMappingNode)
        {
            var cidr = IPNetwork.Parse(peer.Scalar("ipBlock", "cidr")!);
            var except = peer.At("ipBlock", "except") is YamlSequenceNode e
                ? e.Children.Select(x => IPNetwork.Parse(((YamlScalarNode)x).Value!))
                : [];
            return cidr.Contains(endpoint.Address) && !except.Any(x => x.Contains(endpoint.Address));
        }
        if (endpoint.Namespace is null)
        {
            // Pod and namespace selectors select pods only.
            return false;
        }
        var podSelector = peer.At("podSelector");
        var namespaceSelector = peer.At("namespaceSelector");
        var namespaceMatches = namespaceSelector is null
            ? endpoint.Namespace == peer.Namespace
            : Matches(namespaceSelector, NamespaceLabels(endpoint.Namespace));
        return namespaceMatches && (podSelector is null || Matches(podSelector, endpoint.PodLabels!));
    }

    private static bool PortMatches(K8sObject entry, Endpoint receiver, int port, string protocol)
    {
        if (!string.Equals(entry.Scalar("protocol") ?? "TCP", protocol, StringComparison.Ordinal))
        {
            return false;
        }
        var value = entry.Scalar("port");
        if (value is null)
        {
            return true;
        }
        int first;
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out first))
        {
            if (receiver.NamedPorts is null || !receiver.NamedPorts.TryGetValue(value, out first))
            {
                return false;
            }
        }
        var last = entry.Scalar("endPort") is { } end ? int.Parse(end, CultureInfo.InvariantCulture) : first;
        return port >= first && port <= last;
    }

    private static IReadOnlyList<string> Types(K8sObject policy) =>
        policy.At("spec", "policyTypes") is YamlSequenceNode types
            ? [.. types.Children.Select(t => ((YamlScalarNode)t).Value!)]
            : policy.At("spec", "egress") is null ? ["Ingress"] : ["Ingress", "Egress"];

    /// <summary>A label selector (matchLabels and matchExpressions) against labels; an empty selector matches everything.</summary>
    public static bool Matches(YamlNode? selector, IReadOnlyDictionary<string, string> labels)
    {
        if (selector is not YamlMappingNode s)
        {
            return selector is null || selector is YamlScalarNode { Value: "" or null };
        }
        var sel = new K8sObject("Selector", string.Empty, null, s);
        if (sel.At("matchLabels") is YamlMappingNode matchLabels
            && !matchLabels.Children.All(kv => labels.TryGetValue(((YamlScalarNode)kv.Key).Value!, out var v) && v == ((YamlScalarNode)kv.Value).Value))
        {
            return false;
        }
        if (sel.At("matchExpressions") is YamlSequenceNode expressions)
        {
            foreach (var expression in expressions.Children.OfType<YamlMappingNode>().Select(e => new K8sObject("Expression", string.Empty, null, e)))
            {
                var key = expression.Scalar("key")!;
                var values = expression.At("values") is YamlSequenceNode vs ? vs.Children.Select(v => ((YamlScalarNode)v).Value!).ToHashSet() : [];
                var has = labels.TryGetValue(key, out var value);
                var ok = expression.Scalar("operator") switch
                {
                    "In" => has && values.Contains(value!),
                    "NotIn" => !has || !values.Contains(value!),
                    "Exists" => has,
                    "DoesNotExist" => !has,
                    var op => throw new InvalidOperationException($"unknown selector operator '{op}'"),
                };
                if (!ok)
                {
                    return false;
                }
            }
        }
        return true;
    }
}
