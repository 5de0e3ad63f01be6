using System.Text.Json;

namespace BuildFarm.Deploy.Tests;

/// <summary>
/// The project graph's boundaries, read from each project's restore result (<c>obj/project.assets.json</c>: every package
/// and project it gets, transitively, and the shared frameworks those bring).
/// </summary>
public sealed class ProjectGraphTests
{
    /// <summary>What a user of the typed client must never get with it.</summary>
    private static readonly string[] s_serverOnly = ["StackExchange.Redis", "MassTransit", "KubernetesClient", "Microsoft.AspNetCore"];

    [Fact]
    public void Client_GetsOnlyTheWireModel_NoRedisMassTransitKubernetesOrAspNet()
    {
        var graph = Restored("BuildFarm.Client");
        Assert.Empty(ServerOnly(graph));
        Assert.Equal(["BuildFarm.Contracts", "BuildFarm.Wire"], graph.Projects.Order(StringComparer.Ordinal));
        Assert.Empty(graph.Packages);
    }

    [Fact]
    public void Wire_HasNoPackages()
    {
        var graph = Restored("BuildFarm.Wire");
        Assert.Empty(graph.Packages);
        Assert.Empty(ServerOnly(graph));
    }

    [Fact]
    public void ServerOnlyCheck_FindsWhatTheStatusStoreBrings()
    {
        // The check above must be able to fail: the status store gets all four kinds.
        var found = ServerOnly(Restored("BuildFarm.Status"));
        Assert.Contains(found, f => f.StartsWith("StackExchange.Redis", StringComparison.Ordinal));
        Assert.Contains(found, f => f.StartsWith("MassTransit", StringComparison.Ordinal));
        Assert.Contains(found, f => f.StartsWith("KubernetesClient", StringComparison.Ordinal));
        Assert.Contains("framework Microsoft.AspNetCore.App", found);
    }

    private static List<string> ServerOnly(Graph graph) =>
    [
        .. graph.Packages.Where(p => s_serverOnly.Any(s => p.StartsWith(s, StringComparison.OrdinalIgnoreCase))),
        .. graph.Frameworks.Where(f => f.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal)).Select(f => "framework " + f),
    ];

    private sealed record Graph(List<string> Packages, List<string> Projects, HashSet<string> Frameworks);

    private static Graph Restored(string project)
    {
        var path = Path.Combine(Kustomize.RepoRoot, "src", project, "obj", "project.assets.json");
        Assert.True(File.Exists(path), $"{path} is missing: restore the solution first (dotnet build BuildFarm.sln)");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        var packages = new List<string>();
        var projects = new List<string>();
        var frameworks = new HashSet<string>(StringComparer.Ordinal);
        foreach (var target in root.GetProperty("targets").EnumerateObject())
        {
            foreach (var library in target.Value.EnumerateObject())
            {
                var name = library.Name.Split('/')[0];
                (library.Value.GetProperty("type").GetString() == "project" ? projects : packages).Add(name);
                if (library.Value.TryGetProperty("frameworkReferences", out var refs))
                {
                    frameworks.UnionWith(refs.EnumerateArray().Select(r => r.GetString()!));
                }
            }
        }
        foreach (var framework in root.GetProperty("project").GetProperty("frameworks").EnumerateObject())
        {
            if (framework.Value.TryGetProperty("frameworkReferences", out var refs))
            {
                frameworks.UnionWith(refs.EnumerateObject().Select(r => r.Name));
            }
        }
        return new Graph(packages, projects, frameworks);
    }
}
