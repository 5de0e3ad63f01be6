using BuildFarm.Coordination.Scheduling;
using BuildFarm.Kaniko.Pods;
using BuildFarm.Messaging;
using BuildFarm.Worker.Hosting;
using BuildFarm.Worker.Options;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using YamlDotNet.RepresentationModel;

namespace BuildFarm.Deploy.Tests;

[NeedsServer(Server.Kubectl)]
public sealed class DeployTests
{
    private static readonly string[] s_overlays = ["overlays/dev", "overlays/production"];

    private static readonly Dictionary<string, string> s_operatorConnections = new()
    {
        ["Bus:Host"] = "rabbitmq.example",
        ["Bus:Username"] = "buildfarm",
        ["Bus:Password"] = "secret",
        ["Redis:ConnectionString"] = "redis.example:6379",
    };

    private static readonly HashSet<string> s_clusterScoped = ["Namespace", "ClusterRole", "ClusterRoleBinding"];

    [Fact]
    public void Overlays_Render_WithTheFarmAndItsBuildsInTheirOwnNamespaces()
    {
        foreach (var overlay in s_overlays)
        {
            var objects = Kustomize.Render(overlay);
            Assert.Contains(objects, o => o.Kind == "Deployment" && o.Name == "buildfarm-worker");
            Assert.Contains(objects, o => o.Kind == "Deployment" && o.Name == "buildfarm-api");
            Assert.Contains(objects, o => o.Kind == "CronJob" && o.Name == "buildfarm-nightly");
            foreach (var o in objects.Where(o => !s_clusterScoped.Contains(o.Kind)))
            {
                Assert.True(o.Namespace is "buildfarm" or "buildfarm-builds", $"{overlay}: {o.Kind}/{o.Name} is in namespace '{o.Namespace}'");
            }
        }
    }

    [Fact]
    public void DevOverlay_EveryConfigMapAndSecretAWorkloadNamesIsRendered()
    {
        var objects = Kustomize.Render("overlays/dev");
        var missing = new List<string>();
        foreach (var workload in objects.Where(o => o.Kind is "Deployment" or "StatefulSet" or "CronJob"))
        {
            foreach (var (kind, name) in References(RenderedConfig.PodSpec(workload)))
            {
                if (!objects.Any(o => o.Kind == kind && o.Name == name && o.Namespace == workload.Namespace))
                {
                    missing.Add($"{workload.Kind}/{workload.Name} → {kind}/{name}");
                }
            }
        }
        Assert.Empty(missing);
    }

    [Fact]
    public void ProductionOverlay_EveryConfigMapAWorkloadNamesIsRendered()
    {
        // Secrets are the operator's in production (docs/deploy.md); ConfigMaps come with the overlay.
        var objects = Kustomize.Render("overlays/production");
        foreach (var workload in objects.Where(o => o.Kind is "Deployment" or "StatefulSet" or "CronJob"))
        {
            foreach (var (kind, name) in References(RenderedConfig.PodSpec(workload)).Where(r => r.Kind == "ConfigMap"))
            {
                Assert.True(objects.Any(o => o.Kind == kind && o.Name == name), $"{workload.Name} names ConfigMap {name}, which is not rendered");
            }
        }
    }

    [Fact]
    public void WorkerConfiguration_EveryKeyIsAKnownSettingAndTheWorkerAcceptsIt()
    {
        foreach (var overlay in s_overlays)
        {
            var objects = Kustomize.Render(overlay);
            var worker = RenderedConfig.Workload(objects, "Deployment", "buildfarm-worker");
            var settings = RenderedConfig.AsConfiguration(RenderedConfig.Environment(objects, worker, "worker"));
            // Production's connection Secrets are the operator's (docs/deploy.md lists their keys): the values they
            // would give are unknown here (null), so stand in values for them.
            foreach (var (key, value) in s_operatorConnections)
            {
                if (settings.TryGetValue(key, out var rendered) && rendered is null)
                {
                    settings[key] = value;
                }
            }
            Assert.DoesNotContain(settings, kv => kv.Value is null);
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();

            // A misspelt key would be silently ignored by the host: binding with ErrorOnUnknownConfiguration names it.
            var sections = new Dictionary<string, Type>
            {
                [WorkerOptions.SectionName] = typeof(WorkerOptions),
                [KanikoPodOptions.SectionName] = typeof(KanikoPodOptions),
                [BusOptions.SectionName] = typeof(BusOptions),
                [RedisOptions.SectionName] = typeof(RedisOptions),
                [KubernetesOptions.SectionName] = typeof(KubernetesOptions),
                [AdmissionOptions.SectionName] = typeof(AdmissionOptions),
            };
            foreach (var section in configuration.GetChildren())
            {
                Assert.True(sections.TryGetValue(section.Key, out var type), $"{overlay}: worker setting section '{section.Key}' is not one the worker reads");
                var e = Record.Exception(() => section.Get(type, o => o.ErrorOnUnknownConfiguration = true));
                Assert.True(e is null, $"{overlay}: {e?.Message}");
            }

            // The worker's own start-up validation accepts the rendered settings.
            var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
            builder.Configuration.AddConfiguration(configuration);
            builder.Services.AddBuildFarmWorkerCore();
            using var provider = builder.Services.BuildServiceProvider();
            foreach (var type in sections.Values)
            {
                var options = provider.GetRequiredService(typeof(IOptions<>).MakeGenericType(type));
                var e = Record.Exception(() => options.GetType().GetProperty("Value")!.GetValue(options));
                Assert.True(e is null, $"{overlay}: {type.Name}: {e?.InnerException?.Message}");
            }
            Assert.Equal("RabbitMq", configuration["Bus:Transport"]);
            Assert.Equal("true", configuration["Kubernetes:InCluster"]);
        }
    }

    [Fact]
    public void KedaTrigger_ScalesTheWorkers_OneReplicaPerWorkerSlots()
    {
        var objects = Kustomize.Render("overlays/production");
        var scaled = RenderedConfig.Workload(objects, "ScaledObject", "buildfarm-worker");
        var worker = RenderedConfig.Workload(objects, "Deployment", "buildfarm-worker");
        var env = RenderedConfig.Environment(objects, worker, "worker");

        Assert.Equal("buildfarm-worker", scaled.Scalar("spec", "scaleTargetRef", "name"));
        // Admission is on (the base): the backlog is in Redis, counted by the admission metrics (AutoscalingTests).
        Assert.Equal("prometheus", scaled.Scalar("spec", "triggers", "0", "type"));
        Assert.Equal(env["Worker__Slots"], scaled.Scalar("spec", "triggers", "0", "metadata", "threshold"));
        Assert.DoesNotContain(objects, o => o.Kind == "TriggerAuthentication");
        Assert.DoesNotContain(Kustomize.Render("overlays/dev"), o => o.Kind is "ScaledObject" or "TriggerAuthentication");
    }

    /// <summary>
    /// Scheduling:Admission must be the same on every host that reads it (docs/scheduling.md "Admission": an API queuing
    /// into Redis while the workers publish nothing strands builds): on in both overlays, off on all of them with
    /// components/admission-off; and every host with it on has the Redis its admission store lives in.
    /// </summary>
    [Fact]
    public void Admission_TheSameOnEveryHostThatReadsIt_OnInTheOverlays_OffWithTheComponent()
    {
        foreach (var (name, objects, expected) in new[]
        {
            ("overlays/dev", Kustomize.Render("overlays/dev"), "true"),
            ("overlays/production", Kustomize.Render("overlays/production"), "true"),
            ("production + components/admission-off", Kustomize.RenderWith("admission-off"), "false"),
        })
        {
            var hosts = new Dictionary<string, Dictionary<string, string?>>(StringComparer.Ordinal)
            {
                ["worker"] = RenderedConfig.Environment(objects, RenderedConfig.Workload(objects, "Deployment", "buildfarm-worker"), "worker"),
                ["api"] = RenderedConfig.Environment(objects, RenderedConfig.Workload(objects, "Deployment", "buildfarm-api"), "api"),
            };
            foreach (var (host, env) in hosts)
            {
                Assert.True(env.TryGetValue("Scheduling__Admission", out var admission), $"{name}: {host} has no Scheduling__Admission");
                Assert.Equal(expected, admission);
                // The start-up requirement of the host process (production's Redis Secret is the operator's: present, value unknown).
                Assert.True(env.ContainsKey("Redis__ConnectionString"), $"{name}: {host} has admission {admission} and no Redis__ConnectionString");
                if (env["Redis__ConnectionString"] is not null)
                {
                    Assert.Null(AdmissionOptions.SharedStoreProblem(key => RenderedConfig.AsConfiguration(env).GetValueOrDefault(key)));
                }
            }
            // No other farm container sets it differently (the CronJob submits through the API and reads none).
            foreach (var workload in objects.Where(o => o.Kind is "Deployment" or "StatefulSet" or "CronJob"))
            {
                foreach (var container in ((YamlSequenceNode)RenderedConfig.PodSpec(workload)[new YamlScalarNode("containers")]).Children.OfType<YamlMappingNode>())
                {
                    var containerName = ((YamlScalarNode)container[new YamlScalarNode("name")]).Value!;
                    var env = RenderedConfig.Environment(objects, workload, containerName);
                    Assert.True(!env.TryGetValue("Scheduling__Admission", out var value) || value == expected,
                        $"{name}: {workload.Kind}/{workload.Name}/{containerName} has Scheduling__Admission={value}, the others {expected}");
                }
            }
        }
    }

    [Fact]
    public void WorkerShutdown_PodGracePeriodOutlastsTheWorkersOwn()
    {
        foreach (var overlay in s_overlays)
        {
            var objects = Kustomize.Render(overlay);
            var worker = RenderedConfig.Workload(objects, "Deployment", "buildfarm-worker");
            var env = RenderedConfig.Environment(objects, worker, "worker");
            var grace = int.Parse(worker.Scalar("spec", "template", "spec", "terminationGracePeriodSeconds")!, System.Globalization.CultureInfo.InvariantCulture);
            var own = TimeSpan.Parse(env["Worker__ShutdownGracePeriod"]!, System.Globalization.CultureInfo.InvariantCulture);
            // The host's own stop (consumers, then the web server) needs a margin on top of the consumer grace period.
            Assert.True(grace >= own.TotalSeconds + 10, $"{overlay}: terminationGracePeriodSeconds {grace} leaves no margin over {own}");
        }
    }

    [Fact]
    public void WorkerRbac_AllowsExactlyWhatTheWorkerDoesInTheBuildsNamespace()
    {
        var objects = Kustomize.Render("overlays/production");
        var worker = RenderedConfig.Workload(objects, "Deployment", "buildfarm-worker");
        var env = RenderedConfig.Environment(objects, worker, "worker");
        var buildsNs = env["Kaniko__Namespace"];
        var account = worker.Scalar("spec", "template", "spec", "serviceAccountName");

        var binding = objects.Single(o => o.Kind == "RoleBinding" && o.Namespace == buildsNs);
        Assert.Contains((YamlSequenceNode)binding.At("subjects")!, s =>
            ((YamlMappingNode)s)[new YamlScalarNode("name")].ToString() == account
            && ((YamlMappingNode)s)[new YamlScalarNode("namespace")].ToString() == worker.Namespace);
        var role = objects.Single(o => o.Kind == "Role" && o.Namespace == buildsNs && o.Name == binding.Scalar("roleRef", "name"));
        var rules = ((YamlSequenceNode)role.At("rules")!).Children.OfType<YamlMappingNode>()
            .SelectMany(r => Strings(r, "resources").SelectMany(res => Strings(r, "verbs").Select(v => $"{res}:{v}")))
            .ToHashSet();
        Assert.Equal(["events:get", "events:list", "events:watch", "pods/log:get", "pods:create", "pods:delete", "pods:get", "pods:list", "pods:watch", "secrets:get"],
            rules.Order(StringComparer.Ordinal));
        // Secrets: get, and only the registry credentials the builds push with (read to push a multi-platform build's
        // image index: docs/multi-platform.md); no other Role or ClusterRole names secrets at all.
        var secretRule = Assert.Single(((YamlSequenceNode)role.At("rules")!).Children.OfType<YamlMappingNode>(), r => Strings(r, "resources").Contains("secrets"));
        Assert.Equal(["secrets"], Strings(secretRule, "resources"));
        Assert.Equal([env["Kaniko__RegistrySecretName"]!], Strings(secretRule, "resourceNames"));
        Assert.DoesNotContain(objects, o => o.Kind is "Role" or "ClusterRole" && o != role && o.Node.ToString().Contains("secrets", StringComparison.Ordinal));

        // The Kaniko pods' own account exists where they run and carries no API token.
        var kaniko = objects.Single(o => o.Kind == "ServiceAccount" && o.Name == env["Kaniko__ServiceAccountName"]);
        Assert.Equal(buildsNs, kaniko.Namespace);
        Assert.Equal("false", kaniko.Scalar("automountServiceAccountToken"));
    }

    private static IEnumerable<string> Strings(YamlMappingNode node, string key) =>
        ((YamlSequenceNode)node[new YamlScalarNode(key)]).Children.Select(c => ((YamlScalarNode)c).Value!);

    private static IEnumerable<(string Kind, string Name)> References(YamlNode node)
    {
        switch (node)
        {
            case YamlMappingNode map:
                foreach (var (key, value) in map.Children)
                {
                    var k = ((YamlScalarNode)key).Value;
                    var name = value is YamlMappingNode m && m.Children.TryGetValue(new YamlScalarNode(k == "secret" ? "secretName" : "name"), out var n)
                        ? ((YamlScalarNode)n).Value : null;
                    if (name is not null && k is "configMapRef" or "configMapKeyRef" or "configMap")
                    {
                        yield return ("ConfigMap", name);
                    }
                    else if (name is not null && k is "secretRef" or "secretKeyRef" or "secret")
                    {
                        yield return ("Secret", name);
                    }
                    foreach (var r in References(value))
                    {
                        yield return r;
                    }
                }
                break;
            case YamlSequenceNode seq:
                foreach (var r in seq.Children.SelectMany(References))
                {
                    yield return r;
                }
                break;
        }
    }
}
