using System.Security.Cryptography;
using System.Text;
using BuildFarm.Contracts;
using BuildFarm.Manifests.Graph;
using BuildFarm.Manifests.Model;
using BuildFarm.Manifests.Planning;

namespace BuildFarm.Cli.Demo;

/// <summary>
/// The batch the demo submits: the bundled sample monorepo manifest, expanded at a commit, trimmed or extended to a
/// number of images. Pure and deterministic: the same arguments give the same batch.
/// </summary>
public static class DemoBatch
{
    /// <summary>The demo's commit: derived from the seed, so a run is repeatable.</summary>
    public static string Sha(long seed) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"buildfarm-demo/{seed}")))[..40];

    /// <summary>
    /// The images of <paramref name="manifest"/> in dependency order, expanded at <paramref name="sha"/>. With
    /// <paramref name="images"/> below the manifest's size, the first N in dependency order (a dependency left out is
    /// dropped, so every image kept still has its base); above it, copies follow (<c>name-2</c>, <c>name-3</c>, …, pushing
    /// to <c>repo-2</c>, …, each copy built on the same copy of its dependencies where there is one).
    /// </summary>
    public static SubmitBatchRequest Create(Manifest manifest, int? images, string sha, DateTimeOffset submittedAt)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var order = ManifestGraph.TopologicalOrder(manifest);
        var count = images ?? order.Count;
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1, nameof(images));
        var index = order.Select((image, i) => (image.Name, i)).ToDictionary(x => x.Name, x => x.i, StringComparer.Ordinal);
        var result = new List<BatchImageRequest>(count);
        for (var i = 0; i < count; i++)
        {
            var copy = i / order.Count;
            var image = order[i % order.Count];
            var name = CopyName(image.Name, copy);
            var spec = ManifestPlanner.Expand(image, new TemplateValues(sha, submittedAt, name));
            if (copy > 0)
            {
                spec = spec with { Destinations = [.. spec.Destinations.Select(d => CopyRepository(d, copy))] };
            }
            var dependsOn = new List<BatchDependency>();
            foreach (var dependency in image.DependsOn)
            {
                var at = index[dependency.Image];
                // The same copy of the dependency when the batch has it, else the original, else none.
                var target = at + (copy * order.Count) < count ? CopyName(dependency.Image, copy) : at < count ? dependency.Image : null;
                if (target is not null)
                {
                    dependsOn.Add(new BatchDependency(target, dependency.BuildArg));
                }
            }
            result.Add(new BatchImageRequest { Name = name, Spec = spec, DependsOn = dependsOn });
        }
        return new SubmitBatchRequest { Images = result, Source = $"{manifest.Source}@{sha[..12]} (buildfarm demo, {Plural.Of(count, "image")})" };
    }

    private static string CopyName(string name, int copy) => copy == 0 ? name : $"{name}-{copy + 1}";

    /// <summary><c>registry/team/app:tag</c> → <c>registry/team/app-2:tag</c> for copy 1.</summary>
    internal static string CopyRepository(string reference, int copy)
    {
        var slash = reference.LastIndexOf('/');
        var tail = reference[(slash + 1)..];
        var cut = tail.IndexOfAny([':', '@']);
        var repo = cut < 0 ? tail : tail[..cut];
        var rest = cut < 0 ? "" : tail[cut..];
        return $"{reference[..(slash + 1)]}{repo}-{copy + 1}{rest}";
    }
}
