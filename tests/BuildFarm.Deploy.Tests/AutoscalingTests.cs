using System.Globalization;
using BuildFarm.Worker.Messaging;
using BuildFarm.Worker.Options;
using MassTransit;
using YamlDotNet.RepresentationModel;

namespace BuildFarm.Deploy.Tests;

/// <summary>
/// Issue 16: the rendered ScaledObject, the HPA behaviour KEDA gives the HPA it creates, the worker's disruption budget,
/// spread, probes and resources, checked against the worker's own settings and what KEDA's RabbitMQ scaler documents
/// (keda.sh/docs/latest/scalers/rabbitmq-queue: over amqp QueueLength counts ready messages only; over http it is the
/// management API's queue `messages`, ready + unacknowledged; value is the target per replica).
/// </summary>
public sealed class AutoscalingTests
{
    private static int Int(string? value) => int.Parse(value!, CultureInfo.InvariantCulture);

    [NeedsServer(Server.Kubectl)]
    [Fact]
    public void KedaTrigger_CountsReadyAndUnacknowledgedMessagesOfTheWorkerQueue_TargetIsWorkerSlots()
    {
        var objects = Kustomize.Render("overlays/production");
        var scaled = RenderedConfig.Workload(objects, "ScaledObject", "buildfarm-worker");
        var env = RenderedConfig.Environment(objects, RenderedConfig.Workload(objects, "Deployment", "buildfarm-worker"), "worker");
        IConsumerDefinition definition = new BuildImageConsumerDefinition(Microsoft.Extensions.Options.Options.Create(new WorkerOptions()));

        var trigger = Assert.Single(((YamlSequenceNode)scaled.At("spec", "triggers")!).Children);
        var t = new K8sObject("Trigger", string.Empty, null, (YamlMappingNode)trigger);
        Assert.Equal("rabbitmq", t.Scalar("type"));
        // Workers hold a message unacknowledged for the whole build: only the management API (http) counts those.
        Assert.Equal("http", t.Scalar("metadata", "protocol"));
        Assert.Equal("QueueLength", t.Scalar("metadata", "mode"));
        Assert.Equal(definition.GetEndpointName(DefaultEndpointNameFormatter.Instance), t.Scalar("metadata", "queueName"));
        Assert.Equal(env["Worker__Slots"], t.Scalar("metadata", "value"));
        Assert.Null(t.Scalar("metadata", "host"));

        // The URL (with its password) comes from the TriggerAuthentication's Secret, documented as an http URL.
        var auth = RenderedConfig.Workload(objects, "TriggerAuthentication", t.Scalar("authenticationRef", "name")!);
        Assert.Equal("host", auth.Scalar("spec", "secretTargetRef", "0", "parameter"));
        var deployDoc = File.ReadAllText(Path.Combine(Kustomize.RepoRoot, "docs", "deploy.md"));
        Assert.Contains("--from-literal=host=\"http://", deployDoc, StringComparison.Ordinal);
        Assert.DoesNotContain("--from-literal=host=\"amqp://", deployDoc, StringComparison.Ordinal);
    }

    [NeedsServer(Server.Kubectl)]
    [Fact]
    public void HpaBehaviour_ScalesDownOnePodAtATime_AfterAStabilisationWindow_EachRemovalOutlastingTheHandBack()
    {
        var objects = Kustomize.Render("overlays/production");
        var scaled = RenderedConfig.Workload(objects, "ScaledObject", "buildfarm-worker");
        var worker = RenderedConfig.Workload(objects, "Deployment", "buildfarm-worker");
        var grace = Int(worker.Scalar("spec", "template", "spec", "terminationGracePeriodSeconds"));
        var polling = Int(scaled.Scalar("spec", "pollingInterval"));
        var down = new K8sObject("ScaleDown", string.Empty, null,
            (YamlMappingNode)scaled.At("spec", "advanced", "horizontalPodAutoscalerConfig", "behavior", "scaleDown")!);

        // cooldownPeriod covers only scaling to zero: with minReplicaCount ≥ 1 the HPA's behaviour is all there is.
        Assert.True(Int(scaled.Scalar("spec", "minReplicaCount")) >= 1);
        // Longer than the HPA's default (300 s) and many polling intervals: a dip in the queue does not stop workers.
        var window = Int(down.Scalar("stabilizationWindowSeconds"));
        Assert.True(window >= 300 && window >= 10 * polling, $"scale-down stabilisation window {window} s is too short");
        Assert.Equal("Min", down.Scalar("selectPolicy"));
        var policies = ((YamlSequenceNode)down.At("policies")!).Children.Select(p => new K8sObject("Policy", string.Empty, null, (YamlMappingNode)p)).ToList();
        Assert.NotEmpty(policies);
        foreach (var p in policies)
        {
            Assert.Equal("Pods", p.Scalar("type"));
            Assert.Equal(1, Int(p.Scalar("value")));
            // A removed worker has finished handing its builds back before the next one is removed.
            Assert.True(Int(p.Scalar("periodSeconds")) > grace, $"one pod every {p.Scalar("periodSeconds")} s is not longer than the pod's grace period {grace} s");
        }

        // Scaling up is not held back: waiting builds cost queue time.
        var up = scaled.At("spec", "advanced", "horizontalPodAutoscalerConfig", "behavior", "scaleUp");
        Assert.NotNull(up);
        Assert.Equal(0, Int(new K8sObject("ScaleUp", string.Empty, null, (YamlMappingNode)up).Scalar("stabilizationWindowSeconds")));
    }

    [NeedsServer(Server.Kubectl)]
    [Fact]
    public void Workers_DisruptionBudgetOnePodAtATime_SpreadOverNodesAndZones_SelectingTheWorkerPods()
    {
        foreach (var overlay in new[] { "overlays/dev", "overlays/production" })
        {
            var objects = Kustomize.Render(overlay);
            var worker = RenderedConfig.Workload(objects, "Deployment", "buildfarm-worker");
            var podLabels = (YamlMappingNode)worker.At("spec", "template", "metadata", "labels")!;
            var pdb = Assert.Single(objects, o => o.Kind == "PodDisruptionBudget" && Selects(o.At("spec", "selector", "matchLabels"), podLabels));
            Assert.Equal("buildfarm", pdb.Namespace);
            Assert.Equal("1", pdb.Scalar("spec", "maxUnavailable"));

            var spread = ((YamlSequenceNode)worker.At("spec", "template", "spec", "topologySpreadConstraints")!).Children
                .Select(c => new K8sObject("Spread", string.Empty, null, (YamlMappingNode)c)).ToList();
            Assert.Equal(["kubernetes.io/hostname", "topology.kubernetes.io/zone"], spread.Select(s => s.Scalar("topologyKey")).Order(StringComparer.Ordinal));
            Assert.All(spread, s => Assert.True(Selects(s.At("labelSelector", "matchLabels"), podLabels), $"{overlay}: a spread constraint does not select the worker pods"));
        }
    }

    [NeedsServer(Server.Kubectl)]
    [Fact]
    public void FarmAndDevStores_StartupProbesOnNamedPorts_ResourcesOnEveryContainer()
    {
        var objects = Kustomize.Render("overlays/dev");
        foreach (var (kind, name) in new[] { ("Deployment", "buildfarm-worker"), ("Deployment", "buildfarm-api"), ("StatefulSet", "rabbitmq") })
        {
            var container = new K8sObject("Container", name, null, (YamlMappingNode)((YamlSequenceNode)RenderedConfig.PodSpec(RenderedConfig.Workload(objects, kind, name))[new YamlScalarNode("containers")]).Children[0]);
            Assert.True(container.At("startupProbe") is YamlMappingNode, $"{kind}/{name} has no startupProbe");
            var port = container.Scalar("startupProbe", "tcpSocket", "port") ?? container.Scalar("startupProbe", "httpGet", "port");
            if (port is not null)
            {
                Assert.Contains(((YamlSequenceNode)container.At("ports")!).Children, p => new K8sObject("Port", string.Empty, null, (YamlMappingNode)p).Scalar("name") == port);
            }
            // The start-up budget is longer than the liveness probe would allow on its own.
            var budget = Int(container.Scalar("startupProbe", "periodSeconds")) * Int(container.Scalar("startupProbe", "failureThreshold"));
            Assert.True(budget >= 60, $"{kind}/{name}: a start-up budget of {budget} s is short for a loaded node");
        }
        foreach (var pod in PodTemplates.Farm(objects))
        {
            foreach (var c in pod.Containers())
            {
                Assert.True(c.Scalar("resources", "requests", "cpu") is not null && c.Scalar("resources", "requests", "memory") is not null,
                    $"{pod.Source}/{c.Name} has no cpu and memory requests");
                Assert.True(c.Scalar("resources", "limits", "memory") is not null, $"{pod.Source}/{c.Name} has no memory limit");
            }
        }
    }

    [NeedsServer(Server.Kubectl)]
    [Fact]
    public void DevRedis_IsABsdLicensedImage()
    {
        var redis = RenderedConfig.Workload(Kustomize.Render("overlays/dev"), "Deployment", "redis");
        var image = new K8sObject("Container", "redis", null, RenderedConfig.Container(redis, "redis")).Scalar("image")!;
        Assert.True(IsBsdRedis(image), $"{image}: Redis 7.4 and later are RSALv2/SSPL; use redis:7.2 or valkey");
    }

    /// <summary>Redis up to 7.2 (BSD-3-Clause) or Valkey (BSD-3-Clause).</summary>
    public static bool IsBsdRedis(string image)
    {
        var (name, tag) = image.Split(':') is [var n, var t] ? (n, t) : (image, "latest");
        if (name.EndsWith("valkey/valkey", StringComparison.Ordinal) || name == "valkey")
        {
            return true;
        }
        var parts = tag.Split('.', '-');
        return name.EndsWith("redis", StringComparison.Ordinal) && parts.Length >= 2
            && int.TryParse(parts[0], CultureInfo.InvariantCulture, out var major) && int.TryParse(parts[1], CultureInfo.InvariantCulture, out var minor)
            && (major < 7 || (major == 7 && minor <= 2));
    }

    [Theory]
    [InlineData("redis:7.2", true)]
    [InlineData("redis:7.2.5-alpine", true)]
    [InlineData("redis:6.2", true)]
    [InlineData("valkey/valkey:8", true)]
    [InlineData("redis:7.4", false)]
    [InlineData("redis:8.0", false)]
    [InlineData("redis", false)]
    [InlineData("redis:latest", false)]
    public void IsBsdRedis_KnowsTheLicenceLines(string image, bool bsd) => Assert.Equal(bsd, IsBsdRedis(image));

    private static bool Selects(YamlNode? matchLabels, YamlMappingNode podLabels) =>
        matchLabels is YamlMappingNode m && m.Children.Count > 0
        && m.Children.All(kv => podLabels.Children.TryGetValue(kv.Key, out var v) && v.ToString() == kv.Value.ToString());
}
