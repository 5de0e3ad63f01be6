using System.Globalization;

namespace BuildFarm.Deploy.Tests;

/// <summary>The rendered NetworkPolicies against the pods they are meant for: the farm's own pod templates and the
/// Kaniko pods as <c>KanikoPodFactory</c> makes them (docs/security.md "Cluster").</summary>
[NeedsServer(Server.Kubectl)]
public sealed class NetworkPolicyTests
{
    private static readonly string[] s_overlays = ["overlays/dev", "overlays/production"];

    /// <summary>Address layouts of common clusters: where pods, the Kubernetes API's Service and its real endpoint are.
    /// The build pods' egress policy must fence all of them without knowing which one it runs on.</summary>
    private static readonly (string Cluster, string PodPrefix, string ApiService, string ApiEndpoint)[] s_layouts =
    [
        ("kind", "10.244.1.", "10.96.0.1", "172.18.0.2"),
        ("minikube", "10.244.0.", "10.96.0.1", "192.168.49.2"),
        ("kubeadm + Calico", "192.168.12.", "10.96.0.1", "10.0.0.10"),
        ("EKS", "10.0.37.", "172.20.0.1", "10.0.3.200"),
        ("AKS", "10.244.2.", "10.0.0.1", "10.224.0.4"),
        ("carrier-grade NAT pods", "100.64.7.", "100.96.0.1", "100.64.0.1"),
    ];

    private static readonly string[] s_kubernetesApiPorts = ["443", "6443"];

    private static readonly Endpoint s_clusterDns = Endpoint.Pod("CoreDNS", "kube-system", new Dictionary<string, string> { ["k8s-app"] = "kube-dns" }, "10.244.0.2");

    private static readonly Endpoint[] s_outside =
    [
        Endpoint.External("a registry", "104.18.10.20"),
        Endpoint.External("github.com", "140.82.112.3"),
        Endpoint.External("an S3 endpoint", "52.216.0.1"),
    ];

    /// <summary>Every pod of the overlay: the farm's and the build pods.</summary>
    private static List<PodTemplate> Pods(IReadOnlyList<K8sObject> objects) => [.. PodTemplates.Farm(objects), .. PodTemplates.Builds(objects)];

    [Fact]
    public void EveryPolicy_SelectsExactlyThePodsItIsMeantFor()
    {
        // Policy → the pods it is written for, by source. Pod labels come from the rendered templates and the factory.
        var builds = new[] { "KanikoPodFactory.Create", "KanikoPodFactory.CreateDebug" };
        var meantFor = new Dictionary<string, string[]>
        {
            ["default-deny"] = builds,
            ["kaniko-egress"] = builds,
            ["redis-ingress"] = ["Deployment/redis"],
            ["rabbitmq-ingress"] = ["StatefulSet/rabbitmq"],
        };
        foreach (var overlay in s_overlays)
        {
            var objects = Kustomize.Render(overlay);
            var model = new NetworkPolicyModel(objects);
            var pods = Pods(objects);
            Assert.NotEmpty(model.Policies);
            foreach (var policy in model.Policies)
            {
                Assert.True(meantFor.TryGetValue(policy.Name, out var expected), $"{overlay}: NetworkPolicy {policy.Name} has no entry in this test");
                var selected = pods.Where(p => p.Namespace == policy.Namespace && NetworkPolicyModel.Matches(policy.At("spec", "podSelector"), p.Labels))
                    .Select(p => p.Source).Order(StringComparer.Ordinal);
                Assert.Equal(expected.Order(StringComparer.Ordinal), selected);
            }
            // Build pods are where the Kaniko options put them, and the policies are there.
            Assert.All(PodTemplates.Builds(objects), p => Assert.Contains(model.Policies, x => x.Name == "kaniko-egress" && x.Namespace == p.Namespace));
        }
    }

    [Fact]
    public void BuildPods_ReachDnsAndAddressesOutsideTheCluster()
    {
        foreach (var overlay in s_overlays)
        {
            var objects = Kustomize.Render(overlay);
            var model = new NetworkPolicyModel(objects);
            foreach (var build in PodTemplates.Builds(objects))
            {
                var pod = Endpoint.Pod(build, "10.244.3.7");
                Assert.True(model.Allows(pod, s_clusterDns, 53, "UDP"), $"{overlay}: {build.Source} cannot resolve names (UDP 53)");
                Assert.True(model.Allows(pod, s_clusterDns, 53, "TCP"), $"{overlay}: {build.Source} cannot resolve names (TCP 53)");
                Assert.False(model.Allows(pod, s_clusterDns, 9153), $"{overlay}: {build.Source} reaches CoreDNS's metrics port");
                foreach (var outside in s_outside)
                {
                    foreach (var port in new[] { 443, 80, 22, 5000, 9418 })
                    {
                        Assert.True(model.Allows(pod, outside, port), $"{overlay}: {build.Source} cannot reach {outside}:{port}");
                    }
                }
            }
        }
    }

    [Fact]
    public void BuildPods_ReachNothingInsideTheCluster_FarmPodsServicesKubernetesApiMetadata()
    {
        foreach (var overlay in s_overlays)
        {
            var objects = Kustomize.Render(overlay);
            var model = new NetworkPolicyModel(objects);
            var farm = PodTemplates.Farm(objects);
            // Every port the farm serves on: its Services' ports and target ports and its containers' ports.
            var farmPorts = objects.Where(o => o.Kind == "Service")
                .SelectMany(s => ((YamlDotNet.RepresentationModel.YamlSequenceNode)s.At("spec", "ports")!).Children
                    .Select(p => new K8sObject("Port", s.Name, null, (YamlDotNet.RepresentationModel.YamlMappingNode)p)))
                .SelectMany(p => new[] { p.Scalar("port"), p.Scalar("targetPort") })
                .Concat(farm.SelectMany(p => p.NamedPorts.Values.Select(v => v.ToString(CultureInfo.InvariantCulture))))
                .Concat(s_kubernetesApiPorts)
                .Where(p => int.TryParse(p, out _)).Select(p => int.Parse(p!, CultureInfo.InvariantCulture))
                .ToHashSet();
            Assert.Contains(8080, farmPorts);
            Assert.Contains(9464, farmPorts);

            foreach (var build in PodTemplates.Builds(objects))
            {
                foreach (var (cluster, prefix, apiService, apiEndpoint) in s_layouts)
                {
                    var pod = Endpoint.Pod(build, prefix + "200");
                    var inside = farm.Select((p, i) => Endpoint.Pod(p, prefix + (10 + i).ToString(CultureInfo.InvariantCulture)))
                        .Append(Endpoint.Pod(PodTemplates.Builds(objects)[0], prefix + "201") with { Description = "another build pod" })
                        .Append(Endpoint.Pod("a pod of another team", "default", new Dictionary<string, string> { ["app"] = "web" }, prefix + "99"))
                        .Append(Endpoint.External("the Kubernetes API's Service", apiService))
                        .Append(Endpoint.External("the Kubernetes API server", apiEndpoint))
                        .Append(Endpoint.External("the cloud metadata service", "169.254.169.254"))
                        .Append(Endpoint.External("NodeLocal DNSCache", "169.254.20.10"))
                        .Append(Endpoint.External("the node's loopback", "127.0.0.1"));
                    foreach (var target in inside)
                    {
                        foreach (var port in farmPorts.Append(80).Append(53))
                        {
                            Assert.False(model.Allows(pod, target, port), $"{overlay} on {cluster}: {build.Source} reaches {target} on port {port}");
                        }
                    }
                    // Nothing opens a connection to a build pod either.
                    foreach (var source in farm.Select(p => Endpoint.Pod(p, prefix + "11")).Concat(s_outside))
                    {
                        Assert.False(model.Allows(source, pod, 8080), $"{overlay} on {cluster}: {source} reaches {build.Source}");
                    }
                }
                // IPv6 is not allowed at all.
                Assert.False(model.Allows(Endpoint.Pod(build, "10.244.3.7"), Endpoint.External("an IPv6 registry", "2606:4700::6810:1"), 443));
            }
        }
    }

    [Fact]
    public void DevStores_AcceptOnlyTheWorkersAndTheApi()
    {
        var objects = Kustomize.Render("overlays/dev");
        var model = new NetworkPolicyModel(objects);
        var farm = PodTemplates.Farm(objects);
        var address = 10;
        Endpoint At(PodTemplate p) => Endpoint.Pod(p, "10.244.1." + (address++).ToString(CultureInfo.InvariantCulture));
        var byName = farm.ToDictionary(p => p.Source, At);
        var worker = byName["Deployment/buildfarm-worker"];
        var api = byName["Deployment/buildfarm-api"];
        var stores = new[] { (Pod: byName["Deployment/redis"], Port: "redis"), (Pod: byName["StatefulSet/rabbitmq"], Port: "amqp") };
        var strangers = byName.Values.Where(e => e != worker && e != api)
            .Concat(PodTemplates.Builds(objects).Select(At))
            // Another namespace's pod dressed up with the worker's labels is still not the worker.
            .Append(Endpoint.Pod("a pod in default labelled as the worker", "default", worker.PodLabels!, "10.244.7.7"))
            .Append(Endpoint.External("an address outside the cluster", "104.18.10.20"))
            .ToList();

        foreach (var (store, portName) in stores)
        {
            var port = store.NamedPorts![portName];
            Assert.True(model.Allows(worker, store, port), $"the worker cannot reach {store} on {port}");
            Assert.True(model.Allows(api, store, port), $"the API cannot reach {store} on {port}");
            foreach (var stranger in strangers.Where(s => s != store))
            {
                Assert.False(model.Allows(stranger, store, port), $"{stranger} reaches {store} on {port}");
            }
            foreach (var other in store.NamedPorts.Where(p => p.Key != portName))
            {
                Assert.False(model.Allows(worker, store, other.Value), $"the worker reaches {store} on {other.Key} ({other.Value}), which it does not use");
            }
        }
    }
}
