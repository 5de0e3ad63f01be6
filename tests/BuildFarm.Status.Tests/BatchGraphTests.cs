using BuildFarm.Contracts;
using BuildFarm.Status.Batches;

namespace BuildFarm.Status.Tests;

public sealed class BatchGraphTests
{
    internal static BatchImage Image(string name, params BatchDependency[] dependsOn) => new()
    {
        Name = name, BuildId = $"id-{name}", Spec = Records.Spec(name), DependsOn = dependsOn,
    };

    internal static BatchDependency On(string image, string? arg = null) => new(image, arg);

    /// <summary>base ← {py, node} ← app (a diamond), plus a lone tool.</summary>
    internal static IReadOnlyList<BatchImage> Diamond() =>
    [
        Image("app", On("py", "PY_IMAGE"), On("node", "NODE_IMAGE")),
        Image("py", On("base", "BASE_IMAGE")),
        Image("node", On("base", "BASE_IMAGE")),
        Image("base"),
        Image("tool"),
    ];

    [Fact]
    public void FromImages_Diamond_RootsDependentsAndOrder()
    {
        var graph = BatchGraph.FromImages(Diamond());

        Assert.Equal(["id-base", "id-tool"], graph.Roots.Select(n => n.BuildId));
        Assert.Equal(["id-py", "id-node"], graph.DependentsOf("id-base").Select(n => n.BuildId));
        Assert.Equal(["id-app"], graph.DependentsOf("id-py").Select(n => n.BuildId));
        Assert.Equal(["id-py", "id-node", "id-app"], graph.TransitiveDependentsOf("id-base").Select(n => n.BuildId));
        Assert.Empty(graph.TransitiveDependentsOf("id-tool"));
        var order = graph.TopologicalOrder().Select(n => n.Name).ToList();
        Assert.True(order.IndexOf("base") < order.IndexOf("py") && order.IndexOf("py") < order.IndexOf("app") && order.IndexOf("node") < order.IndexOf("app"),
            string.Join(",", order));
        Assert.Equal(new BatchEdge("id-py", "PY_IMAGE"), graph["id-app"].DependsOn[0]);
    }

    [Fact]
    public void Validate_Cycle_NamedAlongItsPath()
    {
        var errors = BatchGraph.Validate([Image("a", On("c")), Image("b", On("a")), Image("c", On("b")), Image("d")]);

        var error = Assert.Single(errors);
        Assert.Matches("^dependency cycle: (a → c → b → a|b → a → c → b|c → b → a → c)$", error);
    }

    [Fact]
    public void Validate_EveryProblem_NamedWithItsImage()
    {
        var withArg = Image("x", On("base", "BASE")) with { Spec = Records.Spec("x") with { BuildArgs = new Dictionary<string, string> { ["BASE"] = "alpine" } } };
        var errors = BatchGraph.Validate(
        [
            Image("base"),
            Image("base"),
            Image("self", On("self")),
            Image("lost", On("nowhere")),
            Image("twice", On("base"), On("base")),
            Image("badarg", On("base", "1-bad")),
            Image("samearg", On("base", "A"), On("self", "A")),
            withArg,
            Image("other") with { BuildId = "id-base" },
        ]);

        Assert.Contains("image 'base': the name appears 2 times", errors);
        Assert.Contains("image 'self': depends on itself", errors);
        Assert.Contains("image 'lost': depends on 'nowhere', which is not in the batch", errors);
        Assert.Contains("image 'twice': depends on 'base' 2 times", errors);
        Assert.Contains(errors, e => e.StartsWith("image 'badarg': build arg '1-bad'", StringComparison.Ordinal));
        Assert.Contains("image 'samearg': build arg 'A' receives 'base' and 'self'", errors);
        Assert.Contains("image 'x': build arg 'BASE' is set in its buildArgs and also by its dependency on 'base'", errors);
        Assert.Contains(errors, e => e.StartsWith("build id 'id-base': used by", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_Empty_Rejected()
    {
        Assert.Equal(["images: a batch needs at least one image"], BatchGraph.Validate([]));
    }

    [Fact]
    public void FromImages_Invalid_ThrowsWithEveryError()
    {
        var error = Assert.Throws<ArgumentException>(() => BatchGraph.FromImages([Image("a", On("b")), Image("b", On("a")), Image("c", On("z"))]));
        Assert.Contains("depends on 'z'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromRecords_SameGraphAsTheImages()
    {
        var records = Diamond().Select(i => Records.Build(i.BuildId, BuildState.Waiting, "batch").Stored() with
        {
            Name = i.Name,
            DependsOn = [.. i.DependsOn.Select(d => $"id-{d.Image}")],
            DependencyBuildArgs = i.DependsOn.Where(d => d.BuildArg is not null).ToDictionary(d => d.BuildArg!, d => $"id-{d.Image}"),
        }).ToList();

        var fromRecords = BatchGraph.FromRecords(records);
        var fromImages = BatchGraph.FromImages(Diamond());

        foreach (var node in fromImages.Nodes)
        {
            Assert.Equal(node.Name, fromRecords[node.BuildId].Name);
            Assert.Equal(node.DependsOn, fromRecords[node.BuildId].DependsOn);
        }
    }

    [Fact]
    public void DeepChain_TopologicalOrderFollowsIt()
    {
        var images = Enumerable.Range(0, 200).Select(i => i == 0 ? Image("l0") : Image($"l{i}", On($"l{i - 1}"))).Reverse().ToList();

        var order = BatchGraph.FromImages(images).TopologicalOrder();

        Assert.Equal(Enumerable.Range(0, 200).Select(i => $"l{i}"), order.Select(n => n.Name));
    }
}
