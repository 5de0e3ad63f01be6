using YamlDotNet.RepresentationModel;

namespace BuildFarm.Deploy.Tests;

/// <summary>
/// deploy/components: the monitoring objects carry the label kube-prometheus-stack selects on, and the patch the docs
/// give to rename it works; the registry Ingress carries the four ingress-nginx annotations large layer uploads need.
/// </summary>
[NeedsServer(Server.Kubectl)]
public sealed class OptionalComponentsTests
{
    [Fact]
    public void Monitoring_EveryObjectCarriesTheReleaseLabel_AndTheDocumentedPatchRenamesIt()
    {
        var objects = Kustomize.RenderWith("monitoring", patch: null);
        var monitoring = objects.Where(o => o.Kind is "PodMonitor" or "PrometheusRule").ToList();
        Assert.Equal(3, monitoring.Count);
        Assert.All(monitoring, o => Assert.Equal("kube-prometheus-stack", o.Scalar("metadata", "labels", "release")));
        // The label is on these objects only, not on the farm's workloads.
        Assert.DoesNotContain(objects.Where(o => o.Kind is "Deployment" or "ScaledObject"), o => o.Scalar("metadata", "labels", "release") is not null);

        const string patch = "patches:\n  - target: { group: monitoring.coreos.com }\n    patch: |-\n      - op: replace\n        path: /metadata/labels/release\n        value: my-release\n";
        var renamed = Kustomize.RenderWith("monitoring", patch).Where(o => o.Kind is "PodMonitor" or "PrometheusRule").ToList();
        Assert.Equal(3, renamed.Count);
        Assert.All(renamed, o => Assert.Equal("my-release", o.Scalar("metadata", "labels", "release")));

        var docs = File.ReadAllText(Path.Combine(Kustomize.RepoRoot, "docs", "deploy.md"));
        Assert.Contains("release: kube-prometheus-stack", docs, StringComparison.Ordinal);
        Assert.Contains("path: /metadata/labels/release", docs, StringComparison.Ordinal);
    }

    [Fact]
    public void RegistryIngress_CarriesTheFourAnnotationsForLargeLayerUploads_AndIsDocumented()
    {
        var ingress = Assert.Single(Kustomize.RenderWith("registry-ingress", patch: null), o => o.Kind == "Ingress");
        var annotations = ((YamlMappingNode)ingress.At("metadata", "annotations")!).Children
            .ToDictionary(kv => kv.Key.ToString(), kv => kv.Value.ToString(), StringComparer.Ordinal);
        var expected = new Dictionary<string, string>
        {
            ["nginx.ingress.kubernetes.io/proxy-body-size"] = "0",
            ["nginx.ingress.kubernetes.io/proxy-read-timeout"] = "900",
            ["nginx.ingress.kubernetes.io/proxy-request-buffering"] = "off",
            ["nginx.ingress.kubernetes.io/proxy-buffering"] = "off",
        };
        Assert.Equal(expected.OrderBy(kv => kv.Key, StringComparer.Ordinal), annotations.OrderBy(kv => kv.Key, StringComparer.Ordinal));
        Assert.Equal("nginx", ingress.Scalar("spec", "ingressClassName"));

        var docs = File.ReadAllText(Path.Combine(Kustomize.RepoRoot, "docs", "deploy.md"));
        foreach (var (key, value) in expected)
        {
            Assert.Contains($"{key.Split('/')[1]}: \"{value}\"", docs, StringComparison.Ordinal);
        }
    }
}
