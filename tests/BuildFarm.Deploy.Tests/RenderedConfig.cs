using System.Text;
using YamlDotNet.RepresentationModel;

namespace BuildFarm.Deploy.Tests;

/// <summary>What one container of a rendered workload sees as configuration: its env and envFrom, resolved against the
/// rendered ConfigMaps and Secrets (generated names included).</summary>
public static class RenderedConfig
{
    public static K8sObject Workload(IReadOnlyList<K8sObject> objects, string kind, string name) =>
        objects.SingleOrDefault(o => o.Kind == kind && o.Name == name)
        ?? throw new InvalidOperationException($"{kind}/{name} is not rendered");

    public static YamlMappingNode PodSpec(K8sObject workload) =>
        (YamlMappingNode)(workload.Kind == "CronJob"
            ? workload.At("spec", "jobTemplate", "spec", "template", "spec")!
            : workload.At("spec", "template", "spec")!);

    public static YamlMappingNode Container(K8sObject workload, string container) =>
        ((YamlSequenceNode)PodSpec(workload)[new YamlScalarNode("containers")]).Children.OfType<YamlMappingNode>()
            .Single(c => ((YamlScalarNode)c[new YamlScalarNode("name")]).Value == container);

    /// <summary>The container's environment as key → value. A value from a Secret or ConfigMap the overlay does not
    /// render (created by the operator) is <c>null</c>.</summary>
    public static Dictionary<string, string?> Environment(IReadOnlyList<K8sObject> objects, K8sObject workload, string container)
    {
        var ns = workload.Namespace;
        var c = Container(workload, container);
        var env = new Dictionary<string, string?>(StringComparer.Ordinal);
        if (c.Children.TryGetValue(new YamlScalarNode("envFrom"), out var envFrom))
        {
            foreach (var source in ((YamlSequenceNode)envFrom).Children.OfType<YamlMappingNode>())
            {
                foreach (var (kind, key) in new[] { ("ConfigMap", "configMapRef"), ("Secret", "secretRef") })
                {
                    if (source.Children.TryGetValue(new YamlScalarNode(key), out var reference))
                    {
                        var name = ((YamlScalarNode)((YamlMappingNode)reference)[new YamlScalarNode("name")]).Value!;
                        foreach (var (k, v) in Data(objects, kind, name, ns) ?? [])
                        {
                            env[k] = v;
                        }
                    }
                }
            }
        }
        if (c.Children.TryGetValue(new YamlScalarNode("env"), out var list))
        {
            foreach (var e in ((YamlSequenceNode)list).Children.OfType<YamlMappingNode>())
            {
                var name = ((YamlScalarNode)e[new YamlScalarNode("name")]).Value!;
                if (e.Children.TryGetValue(new YamlScalarNode("value"), out var value))
                {
                    env[name] = ((YamlScalarNode)value).Value;
                    continue;
                }
                var from = (YamlMappingNode)e[new YamlScalarNode("valueFrom")];
                foreach (var (kind, key) in new[] { ("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef") })
                {
                    if (from.Children.TryGetValue(new YamlScalarNode(key), out var reference))
                    {
                        var r = (YamlMappingNode)reference;
                        var source = ((YamlScalarNode)r[new YamlScalarNode("name")]).Value!;
                        var item = ((YamlScalarNode)r[new YamlScalarNode("key")]).Value!;
                        env[name] = Data(objects, kind, source, ns)?.GetValueOrDefault(item);
                    }
                }
            }
        }
        return env;
    }

    /// <summary>A rendered ConfigMap's or Secret's data (Secrets decoded), or null when the overlay does not render it.</summary>
    public static Dictionary<string, string>? Data(IReadOnlyList<K8sObject> objects, string kind, string name, string? ns)
    {
        var o = objects.SingleOrDefault(x => x.Kind == kind && x.Name == name && x.Namespace == ns);
        if (o?.At("data") is not YamlMappingNode data)
        {
            return o is null ? null : [];
        }
        return data.Children.ToDictionary(
            kv => ((YamlScalarNode)kv.Key).Value!,
            kv => kind == "Secret"
                ? Encoding.UTF8.GetString(Convert.FromBase64String(((YamlScalarNode)kv.Value).Value!))
                : ((YamlScalarNode)kv.Value).Value!);
    }

    /// <summary>The environment as .NET configuration keys (<c>Section__Key</c> → <c>Section:Key</c>), as the host reads it.</summary>
    public static Dictionary<string, string?> AsConfiguration(Dictionary<string, string?> env) =>
        env.Where(kv => kv.Key.Contains("__", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key.Replace("__", ":", StringComparison.Ordinal), kv => kv.Value, StringComparer.OrdinalIgnoreCase);
}
