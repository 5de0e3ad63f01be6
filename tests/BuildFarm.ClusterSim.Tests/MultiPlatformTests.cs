using System.Text.Json;
using BuildFarm.ClusterSim.Scenarios;
using BuildFarm.Registry;
using k8s;
using k8s.Models;

namespace BuildFarm.ClusterSim.Tests;

/// <summary>Nodes of several architectures, node selectors, and the simulated Kaniko pushing genuine images to a real registry.</summary>
public sealed class MultiPlatformTests
{
    private static Scenario Pools(string extra = "") => ScenarioLoader.Parse(ScenarioLoader.FastYaml() + """

        capacity:
          podsPerNode: 2
          nodePools:
            - { name: amd, nodes: 1, os: linux, arch: amd64 }
            - { name: arm, nodes: 2, os: linux, arch: arm64, labels: { pool: builds } }

        """ + extra, "test scenario");

    private static V1Pod WithSelector(V1Pod pod, Dictionary<string, string> selector)
    {
        pod.Spec.NodeSelector = selector;
        return pod;
    }

    [Fact]
    public void Node_pools_give_each_node_its_platform_labels_and_are_validated()
    {
        var labels = Pools().Capacity.NodeLabels();
        Assert.Equal(["amd64", "arm64", "arm64"], labels.Select(l => l["kubernetes.io/arch"]));
        Assert.Equal("builds", labels[2]["pool"]);
        Assert.False(labels[0].ContainsKey("pool"));
        Assert.Equal(4, new CapacitySettings().NodeLabels().Count);

        var bad = Assert.Throws<ScenarioException>(() => ScenarioLoader.Parse(ScenarioLoader.FastYaml()
            + "\ncapacity: { nodePools: [ { nodes: 0, arch: ARM64 } ] }\nregistries: { r.example: { endpoint: 'ftp://x' } }\n", "bad"));
        Assert.Contains("capacity.nodePools[0].nodes", bad.Message, StringComparison.Ordinal);
        Assert.Contains("capacity.nodePools[0].arch", bad.Message, StringComparison.Ordinal);
        Assert.Contains("registries.r.example.endpoint", bad.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Each_pod_runs_on_a_node_matching_its_selector_and_an_unmatchable_one_stays_pending()
    {
        await using var sim = await Sim.StartAsync(Pools());
        using var client = Sim.Client(sim);
        await client.CoreV1.CreateNamespacedPodAsync(WithSelector(Sim.KanikoPod("arm"), new() { ["kubernetes.io/os"] = "linux", ["kubernetes.io/arch"] = "arm64" }), "default");
        await client.CoreV1.CreateNamespacedPodAsync(WithSelector(Sim.KanikoPod("amd"), new() { ["kubernetes.io/os"] = "linux", ["kubernetes.io/arch"] = "amd64" }), "default");
        await client.CoreV1.CreateNamespacedPodAsync(WithSelector(Sim.KanikoPod("s390x"), new() { ["kubernetes.io/arch"] = "s390x" }), "default");
        // A selector key no simulated node carries is not matched on (a farm's own pool label against the default scenario).
        await client.CoreV1.CreateNamespacedPodAsync(WithSelector(Sim.KanikoPod("other-key"), new() { ["example.com/pool"] = "x", ["kubernetes.io/arch"] = "amd64" }), "default");

        var arm = await Sim.WaitForPhaseAsync(client, "arm", "Succeeded", "Failed");
        var amd = await Sim.WaitForPhaseAsync(client, "amd", "Succeeded", "Failed");
        var other = await Sim.WaitForPhaseAsync(client, "other-key", "Succeeded", "Failed");
        Assert.Contains(arm.Spec.NodeName, new[] { "sim-node-2", "sim-node-3" });
        Assert.Equal("sim-node-1", amd.Spec.NodeName);
        Assert.Equal("sim-node-1", other.Spec.NodeName);

        var pending = await Eventually.ValueAsync(
            async () => await client.CoreV1.ReadNamespacedPodAsync("s390x", "default"),
            p => p?.Status?.Conditions?.Any(c => c.Type == "PodScheduled" && c.Reason == "Unschedulable") == true, "s390x Unschedulable");
        Assert.Equal("Pending", pending.Status.Phase);
        Assert.Null(pending.Spec.NodeName);
        Assert.Contains("3 node(s) didn't match Pod's node affinity/selector", pending.Status.Conditions.Single(c => c.Type == "PodScheduled").Message, StringComparison.Ordinal);
        var events = await client.CoreV1.ListNamespacedEventAsync("default", fieldSelector: "involvedObject.name=s390x");
        Assert.Contains(events.Items, e => e.Reason == "FailedScheduling");
    }

    [Fact]
    public async Task A_full_architecture_does_not_hold_up_pods_for_another()
    {
        // Arm builds that last (one simulated second per second, ten minutes of RUN): 4 arm slots, 6 arm pods.
        var scenario = Pools();
        scenario.TimeScale = 1;
        scenario.Timings.Run = new(600, 700);
        await using var sim = await Sim.StartAsync(scenario);
        using var client = Sim.Client(sim);
        var arm = new Dictionary<string, string> { ["kubernetes.io/arch"] = "arm64" };
        for (var i = 0; i < 6; i++)
        {
            await client.CoreV1.CreateNamespacedPodAsync(WithSelector(Sim.KanikoPod($"arm-{i}"), arm), "default");
        }
        await client.CoreV1.CreateNamespacedPodAsync(WithSelector(Sim.KanikoPod("amd-late"), new() { ["kubernetes.io/arch"] = "amd64" }), "default");

        var amd = await Eventually.ValueAsync(
            async () => await client.CoreV1.ReadNamespacedPodAsync("amd-late", "default"),
            p => !string.IsNullOrEmpty(p?.Spec?.NodeName), "amd-late scheduled");
        Assert.Equal("sim-node-1", amd.Spec.NodeName);
    }

    [Fact]
    [NeedsServer(Server.Registry)]
    public async Task A_mapped_registry_receives_a_genuine_image_of_the_pods_platform_and_the_pod_reports_its_digest()
    {
        var registry = Environment.GetEnvironmentVariable("BUILDFARM_TEST_REGISTRY")
            ?? throw new InvalidOperationException("BUILDFARM_TEST_REGISTRY is not set: run the tests with ./test.sh, which starts docker-registry");
        var repo = $"sim/{Guid.NewGuid():N}";
        await using var sim = await Sim.StartAsync(Pools($"registries:\n  registry.test:\n    endpoint: http://{registry}\n"));
        using var client = Sim.Client(sim);
        await client.CoreV1.CreateNamespacedPodAsync(WithSelector(
            Sim.KanikoPod("push-arm", [$"registry.test/{repo}:staging-arm64"], "json", ["--custom-platform=linux/arm64"]),
            new() { ["kubernetes.io/arch"] = "arm64" }), "default");
        await client.CoreV1.CreateNamespacedPodAsync(WithSelector(
            Sim.KanikoPod("push-amd", [$"registry.test/{repo}:staging-amd64"], "json"),
            new() { ["kubernetes.io/arch"] = "amd64" }), "default");

        var armPod = await Sim.WaitForPhaseAsync(client, "push-arm", "Succeeded", "Failed");
        var amdPod = await Sim.WaitForPhaseAsync(client, "push-amd", "Succeeded", "Failed");
        Assert.Equal("Succeeded", armPod.Status.Phase);
        Assert.Equal("Succeeded", amdPod.Status.Phase);
        var armDigest = armPod.Status.ContainerStatuses[0].State.Terminated.Message;
        var amdDigest = amdPod.Status.ContainerStatuses[0].State.Terminated.Message;

        var options = new RegistryClientOptions();
        options.PlainHttpRegistries.Add(registry);
        using var registryClient = new RegistryClient(options);
        var repository = RegistryReference.Parse($"{registry}/{repo}");
        Assert.Equal(armDigest, (await registryClient.HeadManifestAsync(repository.WithTag("staging-arm64")))!.Digest);
        Assert.Equal(amdDigest, (await registryClient.HeadManifestAsync(repository.WithTag("staging-amd64")))!.Digest);
        foreach (var (digest, arch) in new[] { (armDigest, "arm64"), (amdDigest, "amd64") })
        {
            var manifest = await registryClient.GetManifestAsync(repository.WithDigest(digest));
            using var json = JsonDocument.Parse(manifest!.Body);
            var config = await registryClient.GetBlobAsync(repository, json.RootElement.GetProperty("config").GetProperty("digest").GetString()!);
            using var configJson = JsonDocument.Parse(config!);
            Assert.Equal(arch, configJson.RootElement.GetProperty("architecture").GetString());
        }
        using (var log = await client.CoreV1.ReadNamespacedPodLogAsync("push-arm", "default"))
        using (var reader = new StreamReader(log))
        {
            Assert.Contains($"Pushed registry.test/{repo}@{armDigest}", await reader.ReadToEndAsync(), StringComparison.Ordinal);
        }

        // The index over them, as the worker will push it.
        var index = await registryClient.PushIndexAsync([$"{registry}/{repo}:1.0"],
            [new PlatformManifest(OciPlatform.Parse("linux/amd64"), amdDigest), new PlatformManifest(OciPlatform.Parse("linux/arm64"), armDigest)]);
        Assert.Equal(OciMediaTypes.DockerManifestList, index.MediaType);
    }
}
