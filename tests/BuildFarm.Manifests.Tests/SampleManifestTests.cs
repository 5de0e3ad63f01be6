using BuildFarm.Manifests.Graph;
using BuildFarm.Manifests.Planning;

namespace BuildFarm.Manifests.Tests;

public sealed class SampleManifestTests
{
    [Fact]
    public void Monorepo_Parses_TwentyImagesOneScheduledBase()
    {
        var manifest = SampleManifests.Monorepo();

        Assert.Equal(20, manifest.Images.Count);
        var scheduled = Assert.Single(manifest.Scheduled);
        Assert.Equal("base", scheduled.Name);
        Assert.Equal(["base"], ManifestGraph.TopologicalOrder(manifest).Take(1).Select(i => i.Name));
        // Everything but the two independent images is built on base.
        Assert.Equal(17, ManifestGraph.DependentsOf(manifest, ["base"]).Count);
    }

    [Fact]
    public void Monorepo_Plan_EveryImageHasItsTemplatedDestination()
    {
        var manifest = SampleManifests.Monorepo();
        var batch = ManifestPlanner.Plan(manifest, new ManifestPlanRequest
        {
            BatchId = "b1",
            Sha = "abcdef0123456789abcdef0123456789abcdef01",
            SubmittedAt = new DateTimeOffset(2026, 11, 28, 23, 0, 0, TimeSpan.Zero),
        });

        Assert.Equal(20, batch.Images.Count);
        var api = batch.Images.Single(i => i.Name == "api-gateway");
        Assert.Equal(["registry.example.com/acme/api-gateway:abcdef012345"], api.Spec.Destinations);
        Assert.Equal("registry.example.com/acme/cache/api-gateway", api.Spec.CacheRepo);
        Assert.Equal([new Contracts.BatchDependency("base-go", "BASE_IMAGE")], api.DependsOn);
        var baseImage = batch.Images.Single(i => i.Name == "base");
        Assert.Contains("registry.example.com/acme/base:nightly-20261128", baseImage.Spec.Destinations);
    }

    [Fact]
    public void Chain30_Parses_ThirtyImagesFiveLevelsDeep()
    {
        var manifest = SampleManifests.Chain30();

        Assert.Equal(SampleManifests.ChainImageCount, manifest.Images.Count);
        Assert.Equal(5, Depth(manifest, "app-0"));
        // svc-0 is FROM lib-0 and after lib-1; ready images go in manifest order.
        Assert.Equal(["chain-base", "lang-0", "lang-1", "lib-0", "lib-1", "svc-0"],
            ManifestGraph.Select(manifest, ManifestSelection.Only(["svc-0"])).Select(i => i.Name));
    }

    private static int Depth(Model.Manifest manifest, string name) =>
        1 + manifest[name].DependsOn.Select(d => Depth(manifest, d.Image)).DefaultIfEmpty(0).Max();
}
