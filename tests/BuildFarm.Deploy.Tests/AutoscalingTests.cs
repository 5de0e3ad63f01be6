using System.Globalization;
using BuildFarm.Worker.Messaging;
using BuildFarm.Worker.Options;
using MassTransit;
using YamlDotNet.RepresentationModel;

namespace BuildFarm.Deploy.Tests;

/// <summary>
/// Issue 16: the rendered ScaledObject (issue 17: on the admission figures, or on the queue with components/admission-off),
/// the HPA behaviour KEDA gives the HPA it creates, the worker's disruption budget, spread, probes and resources, checked
/// against the worker's own settings and what KEDA's scalers document (keda.sh/docs/latest/scalers/rabbitmq-queue: over
/// amqp QueueLength counts ready messages only; over http it is the management API's queue `messages`, ready +
/// unacknowledged; value is the target per replica; scalers/prometheus: threshold is the target per replica).
/// </summary>
public sealed class AutoscalingTests
{
    private static int Int(string? value) => int.Parse(value!, CultureInfo.InvariantCulture);

    /// <summary>The worker's ScaledObject, its environment (checked for <paramref name="admission"/>) and its one trigger.</summary>
    private static (K8sObject Scaled, Dictionary<string, string?> Env, K8sObject Trigger) WorkerScaling(IReadOnlyList<K8sObject> objects, bool admission)
    {
        var scaled = RenderedConfig.Workload(objects, "ScaledObject", "buildfarm-worker");
        var env = RenderedConfig.Environment(objects, RenderedConfig.Workload(objects, "Deployment", "buildfarm-worker"), "worker");
        Assert.Equal(admission ? "true" : "false", env["Scheduling__Admission"]);
        var trigger = Assert.Single(((YamlSequenceNode)scaled.At("spec", "triggers")!).Children);
        return (scaled, env, new K8sObject("Trigger", string.Empty, null, (YamlMappingNode)trigger));
    }

    /// <summary>The farm-wide demand with admission: ready builds (by tenant) plus builds in flight, max over the workers
    /// (each reports the same figure).</summary>
    public const string AdmissionDemandQuery =
        "(sum(max by (tenant) (buildfarm_admission_ready)) or vector(0)) + (max(buildfarm_admission_in_flight) or vector(0))";

    [NeedsServer(Server.Kubectl)]
    [Fact]
    public void KedaTrigger_WithAdmission_CountsReadyAndInFlightBuilds_MaxOverWorkers_TargetIsWorkerSlots()
    {
        var (scaled, env, t) = WorkerScaling(Kustomize.Render("overlays/production"), admission: true);
        Assert.Equal("prometheus", t.Scalar("type"));
        // The backlog waits in Redis: the queue holds only what starts at once. The admission gauges every worker reports
        // are farm-wide: max over workers (a sum would count the backlog once per worker). docs/deploy.md shows the same query.
        Assert.Equal(AdmissionDemandQuery, t.Scalar("metadata", "query"));
        Assert.Equal(env["Worker__Slots"], t.Scalar("metadata", "threshold"));
        Assert.StartsWith("http://", t.Scalar("metadata", "serverAddress"), StringComparison.Ordinal);
        // With no worker there is no heartbeat, no capacity and no metric: never scale to zero.
        Assert.True(Int(scaled.Scalar("spec", "minReplicaCount")) >= 1);
        var deployDoc = File.ReadAllText(Path.Combine(Kustomize.RepoRoot, "docs", "deploy.md"));
        Assert.Contains(AdmissionDemandQuery, deployDoc, StringComparison.Ordinal);
    }

    /// <summary>
    /// The shipped query evaluated by the real promtool over two workers' series: every worker reports the farm-wide
    /// figures (one may lag behind), so the demand is Σ over tenants of the max over workers, plus the max in flight;
    /// with nothing waiting it is the in-flight count, with no series at all 0 (not "no answer").
    /// </summary>
    [NeedsServer(Server.Kubectl, Server.Prometheus)]
    [Fact]
    public void KedaTrigger_WithAdmission_QueryEvaluatedByPromtool_MaxOverWorkers_SumOverTenants_ZeroWhenEmpty()
    {
        var objects = Kustomize.Render("overlays/production");
        var query = RenderedConfig.Workload(objects, "ScaledObject", "buildfarm-worker").Scalar("spec", "triggers", "0", "metadata", "query")!;
        Assert.DoesNotContain("'", query, StringComparison.Ordinal);
        static string Series(string name, string labels, int value) => $"      - series: '{name}{{{labels}}}'\n        values: '{value}'\n";
        string Case(string series, int expected) =>
            $"  - interval: 1m\n    input_series:{(series.Length == 0 ? " []" : "")}\n{series}    promql_expr_test:\n"
            + $"      - expr: '{query}'\n        eval_time: 0m\n        exp_samples:\n          - labels: '{{}}'\n            value: {expected}\n";
        var twoWorkers = Series("buildfarm_admission_ready", "instance=\"w1\",tenant=\"a\"", 5) + Series("buildfarm_admission_ready", "instance=\"w2\",tenant=\"a\"", 5)
            + Series("buildfarm_admission_ready", "instance=\"w1\",tenant=\"b\"", 2) + Series("buildfarm_admission_ready", "instance=\"w2\",tenant=\"b\"", 1)
            + Series("buildfarm_admission_in_flight", "instance=\"w1\"", 8) + Series("buildfarm_admission_in_flight", "instance=\"w2\"", 8);
        var tests = "rule_files: []\nevaluation_interval: 1m\ntests:\n"
            + Case(twoWorkers, 5 + 2 + 8)
            + Case(Series("buildfarm_admission_in_flight", "instance=\"w1\"", 3), 3)
            + Case(string.Empty, 0);
        var file = Path.Combine(Path.GetTempPath(), $"buildfarm-keda-query-{Guid.NewGuid():N}.test.yml");
        File.WriteAllText(file, tests);
        try
        {
            var (code, stdout, stderr) = Kustomize.RunTool(TestEnvironment.Promtool, ["test", "rules", file]);
            Assert.True(code == 0, $"promtool test rules exited {code}:\n{stdout}{stderr}\n{tests}");
            Assert.Contains("SUCCESS", stdout, StringComparison.Ordinal);

            // The test can fail: a sum over workers counts the backlog once per worker.
            File.WriteAllText(file, tests.Replace(query, "sum(buildfarm_admission_ready) + sum(buildfarm_admission_in_flight)", StringComparison.Ordinal));
            Assert.NotEqual(0, Kustomize.RunTool(TestEnvironment.Promtool, ["test", "rules", file]).ExitCode);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [NeedsServer(Server.Kubectl)]
    [Fact]
    public void KedaTrigger_AdmissionOff_CountsReadyAndUnacknowledgedMessagesOfTheWorkerQueue_TargetIsWorkerSlots()
    {
        var objects = Kustomize.RenderWith("admission-off");
        var (_, env, t) = WorkerScaling(objects, admission: false);
        IConsumerDefinition definition = new BuildImageConsumerDefinition(Microsoft.Extensions.Options.Options.Create(new WorkerOptions()));
        Assert.Equal("rabbitmq", t.Scalar("type"));
        // Workers hold a message unacknowledged for the whole build: only the management API (http) counts those.
        Assert.Equal("http", t.Scalar("metadata", "protocol"));
        Assert.Equal("QueueLength", t.Scalar("metadata", "mode"));
        Assert.Equal(definition.GetEndpointName(DefaultEndpointNameFormatter.Instance), t.Scalar("metadata", "queueName"));
        // The overlay's per-replica number (production: 8) carried over from the Prometheus trigger.
        Assert.Equal(env["Worker__Slots"], t.Scalar("metadata", "value"));
        Assert.Equal(["mode", "protocol", "queueName", "value"], ((YamlMappingNode)t.At("metadata")!).Children.Keys.Select(k => k.ToString()).Order(StringComparer.Ordinal));

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
    public void ApiAndWorker_LivenessOnHealthz_ReadinessOnReadyz_OnNamedPorts()
    {
        // Both hosts map the same endpoints (BuildFarm.Hosting): /healthz checks no dependency, /readyz checks Redis and the
        // bus. A liveness probe on /readyz would restart every pod during a Redis outage.
        var objects = Kustomize.Render("overlays/dev");
        foreach (var name in new[] { "buildfarm-worker", "buildfarm-api" })
        {
            var container = new K8sObject("Container", name, null, (YamlMappingNode)((YamlSequenceNode)RenderedConfig.PodSpec(RenderedConfig.Workload(objects, "Deployment", name))[new YamlScalarNode("containers")]).Children[0]);
            Assert.Equal("/healthz", container.Scalar("livenessProbe", "httpGet", "path"));
            Assert.Equal("/readyz", container.Scalar("readinessProbe", "httpGet", "path"));
            foreach (var probe in new[] { "livenessProbe", "readinessProbe" })
            {
                var port = container.Scalar(probe, "httpGet", "port");
                Assert.Contains(((YamlSequenceNode)container.At("ports")!).Children, p => new K8sObject("Port", string.Empty, null, (YamlMappingNode)p).Scalar("name") == port);
            }
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
