using System.Text;
using YamlDotNet.RepresentationModel;

namespace BuildFarm.Deploy.Tests;

/// <summary>
/// deploy/components/monitoring: PodMonitors for the worker and the API under the job names the rules expect, and the
/// rules of dashboards/prometheus/buildfarm-rules.yml as a PrometheusRule (a copy: kustomize cannot read outside the folder).
/// </summary>
public sealed class MonitoringComponentTests
{
    private static readonly string s_component = Path.Combine(Kustomize.RepoRoot, "deploy", "components", "monitoring");

    [Fact]
    public void PrometheusRule_Spec_EqualsTheShippedRules()
    {
        var copy = Load(Path.Combine(s_component, "prometheusrule.yaml"));
        var source = Load(Path.Combine(Kustomize.RepoRoot, "dashboards", "prometheus", "buildfarm-rules.yml"));
        var copyGroups = ((YamlMappingNode)copy["spec"])["groups"];
        Assert.True(Canonical(source["groups"]) == Canonical(copyGroups),
            "deploy/components/monitoring/prometheusrule.yaml differs from dashboards/prometheus/buildfarm-rules.yml: regenerate it with the command in its header");
    }

    [NeedsServer(Server.Kubectl)]
    [Fact]
    public void ProductionWithMonitoring_Renders_PodMonitorsSelectTheFarmsPodsUnderTheRulesJobNames()
    {
        // An overlay of the test's own: production plus the component (relative paths: kustomize refuses absolute ones).
        var dir = Directory.CreateTempSubdirectory("buildfarm-monitoring-");
        try
        {
            var production = Path.GetRelativePath(dir.FullName, Path.Combine(Kustomize.RepoRoot, "deploy", "overlays", "production"));
            var component = Path.GetRelativePath(dir.FullName, s_component);
            File.WriteAllText(Path.Combine(dir.FullName, "kustomization.yaml"),
                $"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - {production}\ncomponents:\n  - {component}\n");
            // Render takes a folder under deploy/; an absolute path replaces that prefix (Path.Combine).
            var objects = Kustomize.Render(dir.FullName);

            foreach (var (name, port) in new[] { ("buildfarm-worker", "metrics"), ("buildfarm-api", "http") })
            {
                var monitor = Assert.Single(objects, o => o.Kind == "PodMonitor" && o.Name == name);
                Assert.Equal("buildfarm", monitor.Namespace);
                var deployment = Assert.Single(objects, o => o.Kind == "Deployment" && o.Name == name);
                var podLabels = (YamlMappingNode)deployment.At("spec", "template", "metadata", "labels")!;
                foreach (var (key, value) in (YamlMappingNode)monitor.At("spec", "selector", "matchLabels")!)
                {
                    Assert.Equal(value.ToString(), podLabels[key].ToString());
                }
                // The job label comes from this pod label: it must be the job name the rules expect.
                var jobLabel = monitor.Scalar("spec", "jobLabel")!;
                Assert.Equal(name, podLabels[jobLabel].ToString());
                Assert.Equal(port, monitor.Scalar("spec", "podMetricsEndpoints", "0", "port"));
                var ports = ((YamlSequenceNode)deployment.At("spec", "template", "spec", "containers", "0", "ports")!).Children
                    .Select(p => ((YamlMappingNode)p)["name"].ToString());
                Assert.Contains(port, ports);
            }
            var rule = Assert.Single(objects, o => o.Kind == "PrometheusRule");
            Assert.Equal("buildfarm", rule.Namespace);
            Assert.Contains(((YamlSequenceNode)rule.At("spec", "groups")!).Children, g => ((YamlMappingNode)g)["name"].ToString() == "buildfarm.alerts");
            // Every alert's runbook_url is absolute, on the base of runbooks.yaml (read by kustomize, not output).
            var runbookBase = ((YamlMappingNode)Load(Path.Combine(s_component, "runbooks.yaml"))["data"])["url"].ToString();
            Assert.StartsWith("https://", runbookBase, StringComparison.Ordinal);
            Assert.DoesNotContain(objects, o => o.Kind == "ConfigMap" && o.Name == "buildfarm-runbooks");
            var alerts = ((YamlSequenceNode)rule.At("spec", "groups")!).Children.Cast<YamlMappingNode>()
                .SelectMany(g => ((YamlSequenceNode)g["rules"]).Children.Cast<YamlMappingNode>())
                .Where(r => r.Children.ContainsKey(new YamlScalarNode("alert"))).ToList();
            Assert.NotEmpty(alerts);
            foreach (var alert in alerts)
            {
                var name = alert["alert"].ToString();
                Assert.Equal($"{runbookBase}#{name.ToLowerInvariant()}", ((YamlMappingNode)alert["annotations"])["runbook_url"].ToString());
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static YamlMappingNode Load(string path)
    {
        var yaml = new YamlStream();
        using var reader = new StringReader(File.ReadAllText(path));
        yaml.Load(reader);
        return (YamlMappingNode)yaml.Documents[0].RootNode;
    }

    /// <summary>A YAML tree as text with mapping keys sorted: equal for equal content whatever the layout.</summary>
    private static string Canonical(YamlNode node)
    {
        var text = new StringBuilder();
        Write(node, text);
        return text.ToString();

        static void Write(YamlNode node, StringBuilder text)
        {
            switch (node)
            {
                case YamlScalarNode scalar:
                    text.Append('"').Append(scalar.Value).Append('"');
                    break;
                case YamlSequenceNode sequence:
                    text.Append('[');
                    foreach (var child in sequence.Children)
                    {
                        Write(child, text);
                        text.Append(',');
                    }
                    text.Append(']');
                    break;
                case YamlMappingNode mapping:
                    text.Append('{');
                    foreach (var (key, value) in mapping.Children.OrderBy(kv => kv.Key.ToString(), StringComparer.Ordinal))
                    {
                        text.Append(key).Append(':');
                        Write(value, text);
                        text.Append(',');
                    }
                    text.Append('}');
                    break;
            }
        }
    }
}
