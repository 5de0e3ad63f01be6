using BuildFarm.Contracts;
using BuildFarm.Kaniko.Pods;
using Microsoft.Extensions.Configuration;
using YamlDotNet.RepresentationModel;

namespace BuildFarm.Deploy.Tests;

/// <summary>A pod as the cluster would run it: from a rendered workload's template, or a Kaniko pod as the worker creates it.</summary>
public sealed record PodTemplate(string Source, string Namespace, IReadOnlyDictionary<string, string> Labels, YamlMappingNode Spec)
{
    /// <summary>The ports its containers name, name → number.</summary>
    public IReadOnlyDictionary<string, int> NamedPorts =>
        Containers().SelectMany(c => c.At("ports") is YamlSequenceNode ports ? ports.Children.OfType<YamlMappingNode>() : [])
            .Select(p => new K8sObject("Port", string.Empty, null, p))
            .Where(p => p.Scalar("name") is not null)
            .ToDictionary(p => p.Scalar("name")!, p => int.Parse(p.Scalar("containerPort")!, System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Containers, init containers and ephemeral containers, each as a <see cref="K8sObject"/> to navigate.</summary>
    public IEnumerable<K8sObject> Containers() =>
        new[] { "containers", "initContainers", "ephemeralContainers" }
            .SelectMany(key => Spec.Children.TryGetValue(new YamlScalarNode(key), out var list) && list is YamlSequenceNode s
                ? s.Children.OfType<YamlMappingNode>()
                : [])
            .Select(c => new K8sObject("Container", ((YamlScalarNode)c[new YamlScalarNode("name")]).Value!, null, c));

    public K8sObject PodSpec => new("PodSpec", Source, Namespace, Spec);
}

public static class PodTemplates
{
    public static readonly string[] WorkloadKinds = ["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod"];

    /// <summary>The pod template of every rendered workload.</summary>
    public static IReadOnlyList<PodTemplate> Farm(IReadOnlyList<K8sObject> objects) =>
        [.. objects.Where(o => WorkloadKinds.Contains(o.Kind)).Select(o =>
        {
            var template = o.Kind switch
            {
                "CronJob" => o.At("spec", "jobTemplate", "spec", "template"),
                "Pod" => o.Node,
                _ => o.At("spec", "template"),
            } as YamlMappingNode ?? throw new InvalidOperationException($"{o.Kind}/{o.Name} has no pod template");
            var t = new K8sObject("Template", o.Name, o.Namespace, template);
            return new PodTemplate($"{o.Kind}/{o.Name}", o.Namespace!, Labels(t.At("metadata", "labels")),
                (YamlMappingNode)t.At("spec")!);
        })];

    /// <summary>The Kaniko pods of one build, a normal and a debug one, as <see cref="KanikoPodFactory"/> makes them
    /// with the Kaniko settings the rendered worker runs with.</summary>
    public static IReadOnlyList<PodTemplate> Builds(IReadOnlyList<K8sObject> objects)
    {
        var worker = RenderedConfig.Workload(objects, "Deployment", "buildfarm-worker");
        var settings = RenderedConfig.AsConfiguration(RenderedConfig.Environment(objects, worker, "worker"));
        var options = new ConfigurationBuilder().AddInMemoryCollection(settings).Build()
            .GetSection(KanikoPodOptions.SectionName).Get<KanikoPodOptions>() ?? new KanikoPodOptions();
        var spec = new BuildSpec
        {
            Context = "git://github.com/example/monorepo.git#refs/heads/main",
            ContextSubPath = "images/base",
            Destinations = ["registry.example.com/example/base:1"],
        };
        return
        [
            FromPod("KanikoPodFactory.Create", k8s.KubernetesYaml.Serialize(KanikoPodFactory.Create(spec, "deploy-test", 1, options))),
            FromPod("KanikoPodFactory.CreateDebug", k8s.KubernetesYaml.Serialize(KanikoPodFactory.CreateDebug(spec, "deploy-test", 1, options))),
        ];
    }

    private static PodTemplate FromPod(string source, string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        var pod = new K8sObject("Pod", source, null, (YamlMappingNode)stream.Documents[0].RootNode);
        return new PodTemplate(source, pod.Scalar("metadata", "namespace") ?? throw new InvalidOperationException($"{source}: the pod has no namespace"),
            Labels(pod.At("metadata", "labels")), (YamlMappingNode)pod.At("spec")!);
    }

    public static IReadOnlyDictionary<string, string> Labels(YamlNode? node) =>
        node is YamlMappingNode m
            ? m.Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => ((YamlScalarNode)kv.Value).Value ?? string.Empty, StringComparer.Ordinal)
            : new Dictionary<string, string>(StringComparer.Ordinal);
}
