using YamlDotNet.RepresentationModel;

namespace BuildFarm.Dashboards.Tests;

/// <summary>
/// docker-compose.yml's prometheus and grafana services, checked without a container engine: every mounted host file
/// exists, the provisioning points at what is mounted, Prometheus' config is valid (promtool) and loads the shipped rules.
/// </summary>
public sealed class ComposeTests
{
    private static readonly YamlMappingNode s_services = LoadServices();

    [Theory]
    [InlineData("prometheus")]
    [InlineData("grafana")]
    public void Compose_Service_EveryMountedHostPathExists(string service)
    {
        var mounts = Mounts(service);
        Assert.NotEmpty(mounts);
        foreach (var (host, container) in mounts)
        {
            Assert.True(File.Exists(host) || Directory.Exists(host), $"{service}: {Path.GetRelativePath(Repo.Root, host)} (mounted at {container}) does not exist");
        }
    }

    [Theory]
    [InlineData("prometheus", "prom/prometheus:v")]
    [InlineData("grafana", "grafana/grafana:")]
    public void Compose_Service_ImagePinnedToAVersion(string service, string prefix)
    {
        var image = Scalar(Service(service), "image");
        Assert.StartsWith(prefix, image, StringComparison.Ordinal);
        Assert.Matches(@":v?\d+\.\d+\.\d+$", image);
    }

    [NeedsServer(Server.Prometheus)]
    [Fact]
    public async Task Compose_PrometheusConfig_ValidLoadsTheShippedRulesAndScrapesTheJobsTheRulesExpect()
    {
        var config = HostFileMountedAt("prometheus", "/etc/prometheus/prometheus.yml");
        var root = LoadYaml(config);
        var ruleFiles = ((YamlSequenceNode)root["rule_files"]).Children.Select(n => ((YamlScalarNode)n).Value!).ToList();
        // The rules are mounted under rules-src/; the service's command writes the runbook base into the copy it loads.
        Assert.Equal([Repo.Rules], ruleFiles.Select(f => HostFileMountedAt("prometheus", RulesSource(f))));
        var command = string.Join(' ', ((YamlSequenceNode)Service("prometheus")["command"]).Children.Select(c => ((YamlScalarNode)c).Value));
        Assert.Contains($"/etc/prometheus/rules-src/buildfarm-rules.yml > {ruleFiles.Single()}", command, StringComparison.Ordinal);
        Assert.Contains("s|https://buildfarm.invalid/docs/dashboards.md#|$${BUILDFARM_RUNBOOK_URL}#|", command, StringComparison.Ordinal);
        Assert.Contains("exec /bin/prometheus --config.file=/etc/prometheus/prometheus.yml", command, StringComparison.Ordinal);
        var jobs = ((YamlSequenceNode)root["scrape_configs"]).Children.Select(c => Scalar((YamlMappingNode)c, "job_name")).Order(StringComparer.Ordinal).ToList();
        Assert.Equal([LiveFarm.ApiJob, LiveFarm.WorkerJob], jobs);
        var targetDown = RulesFile.Load(Repo.Rules).Single(r => r.Alert == "BuildFarmTargetDown");
        Assert.Contains($"job=~\"{LiveFarm.WorkerJob}|{LiveFarm.ApiJob}\"", targetDown.Expr, StringComparison.Ordinal);

        // promtool checks the config and the rule files it names: give it the host paths of the mounted files.
        var dir = Directory.CreateTempSubdirectory("buildfarm-compose-");
        try
        {
            var text = File.ReadAllText(config);
            foreach (var file in ruleFiles)
            {
                text = text.Replace(file, HostFileMountedAt("prometheus", RulesSource(file)), StringComparison.Ordinal);
            }
            var copy = Path.Combine(dir.FullName, "prometheus.yml");
            File.WriteAllText(copy, text);
            var (code, output) = await PrometheusTools.RunAsync(PrometheusTools.Promtool, ["check", "config", copy], dir.FullName, TimeSpan.FromMinutes(1));
            Assert.True(code == 0, $"promtool check config exited {code}:\n{output}");
            Assert.Contains("SUCCESS", output, StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Compose_GrafanaDatasource_IsTheComposePrometheus()
    {
        var file = HostFileMountedUnder("grafana", "/etc/grafana/provisioning/datasources/");
        var datasource = (YamlMappingNode)((YamlSequenceNode)LoadYaml(file)["datasources"]).Children.Single();
        Assert.Equal("prometheus", Scalar(datasource, "type"));
        var url = new Uri(Scalar(datasource, "url"));
        Assert.Equal("prometheus", url.Host);
        Assert.Contains(Ports("prometheus"), p => p.EndsWith($":{url.Port}", StringComparison.Ordinal));
        Assert.Equal("true", Scalar(datasource, "isDefault"));
    }

    [Fact]
    public void Compose_GrafanaDashboardProvider_PathIsTheMountedDashboardsFolder()
    {
        var file = HostFileMountedUnder("grafana", "/etc/grafana/provisioning/dashboards/");
        var provider = (YamlMappingNode)((YamlSequenceNode)LoadYaml(file)["providers"]).Children.Single();
        Assert.Equal("file", Scalar(provider, "type"));
        var path = Scalar((YamlMappingNode)provider["options"], "path");
        var host = HostFileMountedAt("grafana", path);
        Assert.True(File.Exists(Path.Combine(host, Path.GetFileName(Repo.Dashboard))), $"{path} is mounted from {host}, which does not hold the dashboard");
    }

    private static string RulesSource(string loaded) => loaded.Replace("/etc/prometheus/rules/", "/etc/prometheus/rules-src/", StringComparison.Ordinal);

    private static YamlMappingNode LoadServices() => (YamlMappingNode)LoadYaml(Repo.Compose)["services"];

    private static YamlMappingNode LoadYaml(string path)
    {
        var yaml = new YamlStream();
        using var reader = new StringReader(Repo.ReadText(path));
        yaml.Load(reader);
        return (YamlMappingNode)yaml.Documents[0].RootNode;
    }

    private static YamlMappingNode Service(string name) =>
        s_services.Children.TryGetValue(new YamlScalarNode(name), out var node) ? (YamlMappingNode)node : throw new InvalidOperationException($"docker-compose.yml has no service {name}");

    private static string Scalar(YamlMappingNode node, string key) =>
        RulesFile.Scalar(node, key) ?? throw new InvalidOperationException($"no '{key}' in {node}");

    /// <summary>The service's bind mounts "./host:container[:ro]" as (absolute host path, container path).</summary>
    private static List<(string Host, string Container)> Mounts(string service) =>
        [.. ((YamlSequenceNode)Service(service)["volumes"]).Children.Select(v => ((YamlScalarNode)v).Value!.Split(':'))
            .Where(parts => parts[0].StartsWith("./", StringComparison.Ordinal))
            .Select(parts => (Path.GetFullPath(Path.Combine(Repo.Root, parts[0])), parts[1]))];

    private static List<string> Ports(string service) =>
        [.. ((YamlSequenceNode)Service(service)["ports"]).Children.Select(p => ((YamlScalarNode)p).Value!)];

    private static string HostFileMountedAt(string service, string containerPath) =>
        Mounts(service).Where(m => m.Container == containerPath).Select(m => m.Host).SingleOrDefault()
            ?? throw new InvalidOperationException($"{service} mounts nothing at {containerPath}");

    private static string HostFileMountedUnder(string service, string containerDir) =>
        Mounts(service).Where(m => m.Container.StartsWith(containerDir, StringComparison.Ordinal)).Select(m => m.Host).SingleOrDefault()
            ?? throw new InvalidOperationException($"{service} mounts no file under {containerDir}");
}
