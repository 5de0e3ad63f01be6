using YamlDotNet.RepresentationModel;

namespace BuildFarm.Dashboards.Tests;

/// <summary>One rule of a Prometheus rules file.</summary>
internal sealed record PromRule(string Group, string? Record, string? Alert, string Expr, string? For,
    IReadOnlyDictionary<string, string> Labels, IReadOnlyDictionary<string, string> Annotations)
{
    public string Name => Record ?? Alert!;
}

/// <summary>dashboards/prometheus/buildfarm-rules.yml, read with YamlDotNet.</summary>
internal static class RulesFile
{
    public static IReadOnlyList<PromRule> Load(string path)
    {
        var yaml = new YamlStream();
        using (var reader = new StringReader(Repo.ReadText(path)))
        {
            yaml.Load(reader);
        }
        var rules = new List<PromRule>();
        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        foreach (YamlMappingNode group in (YamlSequenceNode)root["groups"])
        {
            var groupName = Scalar(group, "name") ?? throw new FormatException($"{path}: a group without a name");
            foreach (YamlMappingNode rule in (YamlSequenceNode)group["rules"])
            {
                rules.Add(new PromRule(groupName, Scalar(rule, "record"), Scalar(rule, "alert"),
                    Scalar(rule, "expr") ?? throw new FormatException($"{path}: a rule of {groupName} without expr"),
                    Scalar(rule, "for"), Map(rule, "labels"), Map(rule, "annotations")));
            }
        }
        return rules;
    }

    public static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? (value as YamlScalarNode)?.Value : null;

    private static Dictionary<string, string> Map(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlMappingNode map
            ? map.Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => ((YamlScalarNode)kv.Value).Value ?? "", StringComparer.Ordinal)
            : new Dictionary<string, string>(StringComparer.Ordinal);
}
