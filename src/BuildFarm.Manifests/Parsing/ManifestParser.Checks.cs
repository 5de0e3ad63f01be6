using BuildFarm.Kaniko.Graphs;
using BuildFarm.Kaniko.Specs;
using BuildFarm.Manifests.Model;
using BuildFarm.Manifests.Planning;

namespace BuildFarm.Manifests.Parsing;

// Checks across images.
public static partial class ManifestParser
{
    /// <summary>Reports each dependency cycle once, as a path, at the dependsOn entry that closes it.</summary>
    private static void CheckCycles(YamlFieldReader reader, List<ManifestImage> images, Dictionary<string, RawFields> named)
    {
        var graph = DependencyGraph.Of(images, i => i.Name, i => i.DependsOn.Select(d => d.Image));
        foreach (var cycle in graph.FindCycles())
        {
            var name = images[cycle[^2]].Name;
            var next = images[cycle[^1]].Name;
            var entry = named[name].DependsOn!.First(d => d.Image == next);
            reader.Error(name, $"dependsOn[{entry.Index}]", entry.Location,
                $"dependency cycle: {string.Join(" -> ", cycle.Select(i => images[i].Name))}");
        }
    }

    private static void CheckSharedDestinations(YamlFieldReader reader, List<ManifestImage> images)
    {
        var owners = new Dictionary<string, (string Image, ManifestLocation Location)>(StringComparer.Ordinal);
        foreach (var image in images)
        {
            if (!image.Spec.Destinations.All(d => ManifestTemplates.TryCheck(d, out _)) || !ManifestTemplates.TryCheck(image.Spec.Context, out _)
                || !image.Spec.BuildArgs.Values.Concat(image.Spec.Labels.Values).Append(image.Spec.CacheRepo ?? "").All(v => ManifestTemplates.TryCheck(v, out _)))
            {
                continue; // already reported
            }
            var expanded = ManifestPlanner.Expand(image, new TemplateValues(ManifestTemplates.PlaceholderSha, CheckTime, image.Name));
            for (var i = 0; i < expanded.Destinations.Count; i++)
            {
                if (!ImageReference.TryParse(expanded.Destinations[i], out var reference))
                {
                    continue;
                }
                var key = reference.ToString();
                var at = image.LocationOf($"destinations[{i}]");
                if (owners.TryGetValue(key, out var owner) && owner.Image != image.Name)
                {
                    reader.Error(image.Name, $"destinations[{i}]", at,
                        $"'{image.Spec.Destinations[i]}' is also pushed by image '{owner.Image}' ({owner.Location}); two images of a batch must not push the same tag");
                }
                else
                {
                    owners.TryAdd(key, (image.Name, at));
                }
            }
        }
    }
}
