using BuildFarm.Cli.Demo;
using BuildFarm.Manifests;
using BuildFarm.Manifests.Graph;

namespace BuildFarm.Cli.Tests;

public sealed class DemoBatchTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Create_Default_WholeSampleInDependencyOrder()
    {
        var manifest = SampleManifests.Monorepo();

        var batch = DemoBatch.Create(manifest, null, DemoBatch.Sha(1), At);

        Assert.Equal(ManifestGraph.TopologicalOrder(manifest).Select(i => i.Name), batch.Images.Select(i => i.Name));
        Assert.All(batch.Images, i => Assert.DoesNotContain("{", string.Join(",", i.Spec.Destinations), StringComparison.Ordinal));
    }

    [Fact]
    public void Create_Six_KeepsOnlyDependenciesInTheBatch()
    {
        var batch = DemoBatch.Create(SampleManifests.Monorepo(), 6, DemoBatch.Sha(1), At);
        var names = batch.Images.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);

        Assert.Equal(6, batch.Images.Count);
        Assert.Contains("base", names);
        Assert.All(batch.Images.SelectMany(i => i.DependsOn), d => Assert.Contains(d.Image, names));
    }

    [Fact]
    public void Create_MoreThanTheSample_CopiesPushElsewhereAndDependOnTheirCopies()
    {
        var manifest = SampleManifests.Monorepo();
        var size = manifest.Images.Count;

        var batch = DemoBatch.Create(manifest, size + 2, DemoBatch.Sha(1), At);

        Assert.Equal(size + 2, batch.Images.Count);
        Assert.Equal(batch.Images.Count, batch.Images.Select(i => i.Name).Distinct(StringComparer.Ordinal).Count());
        var destinations = batch.Images.SelectMany(i => i.Spec.Destinations).ToList();
        Assert.Equal(destinations.Count, destinations.Distinct(StringComparer.Ordinal).Count());
        var secondCopy = batch.Images[size + 1];
        Assert.EndsWith("-2", secondCopy.Name, StringComparison.Ordinal);
        Assert.All(secondCopy.DependsOn, d => Assert.EndsWith("-2", d.Image, StringComparison.Ordinal));
    }

    [Fact]
    public void Create_SameSeed_SameBatch()
    {
        var a = DemoBatch.Create(SampleManifests.Monorepo(), 8, DemoBatch.Sha(7), At);
        var b = DemoBatch.Create(SampleManifests.Monorepo(), 8, DemoBatch.Sha(7), At);

        Assert.Equal(a.Images.SelectMany(i => i.Spec.Destinations), b.Images.SelectMany(i => i.Spec.Destinations));
        Assert.NotEqual(DemoBatch.Sha(7), DemoBatch.Sha(8));
    }

    [Theory]
    [InlineData("registry.example.com/acme/base:abc", "registry.example.com/acme/base-2:abc")]
    [InlineData("registry.example.com:5000/acme/app@sha256:00", "registry.example.com:5000/acme/app-2@sha256:00")]
    [InlineData("app", "app-2")]
    public void CopyRepository_RenamesTheRepositoryOnly(string reference, string expected)
    {
        Assert.Equal(expected, DemoBatch.CopyRepository(reference, 1));
    }
}
