using BuildFarm.Contracts;
using BuildFarm.Kaniko.Pods;
using BuildFarm.Manifests.Graph;
using BuildFarm.Manifests.Model;
using BuildFarm.Manifests.Parsing;
using BuildFarm.Manifests.Planning;

namespace BuildFarm.Manifests.Tests;

public sealed class ManifestGraphTests
{
    // base <- lang <- svc-a, svc-b;  base <- tool;  lonely (root folder)
    private static readonly Manifest Small = ManifestParser.Parse("""
        defaults:
          context: git://github.com/acme/mono.git#main
          destinations: ["r.example.com/acme/{name}:{short_sha}"]
        images:
          - name: svc-a
            contextSubPath: services/a
            dependsOn: [{ image: lang, buildArg: BASE_IMAGE }]
          - name: lang
            contextSubPath: images/lang
            dependsOn: [{ image: base, buildArg: BASE_IMAGE }]
          - name: base
            contextSubPath: images/base
            dockerfile: docker/base.Dockerfile
          - name: svc-b
            contextSubPath: services/b
            dependsOn: [{ image: lang, buildArg: BASE_IMAGE }, svc-a]
          - name: tool
            contextSubPath: tools/x
            dependsOn: [base]
          - name: services-all
            contextSubPath: services
        """);

    private static string[] Names(IEnumerable<ManifestImage> images) => [.. images.Select(i => i.Name)];

    [Fact]
    public void TopologicalOrder_DependenciesFirst_ManifestOrderOtherwise()
    {
        Assert.Equal(["base", "lang", "svc-a", "svc-b", "tool", "services-all"], Names(ManifestGraph.TopologicalOrder(Small)));
    }

    [Fact]
    public void Select_Only_AddsTransitiveDependencies()
    {
        Assert.Equal(["base", "lang", "svc-a", "svc-b"], Names(ManifestGraph.Select(Small, ManifestSelection.Only(["svc-b"]))));
        Assert.Equal(["base", "tool"], Names(ManifestGraph.Select(Small, ManifestSelection.Only(["tool", " tool "]))));
    }

    [Fact]
    public void Select_OnlyUnknownImage_Throws()
    {
        var e = Assert.Throws<ManifestSelectionException>(() => ManifestGraph.Select(Small, ManifestSelection.Only(["svc-c"])));

        Assert.Contains("no image 'svc-c'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Select_WithDependents_AddsEverythingBuiltOnIt()
    {
        Assert.Equal(["base", "lang", "svc-a", "svc-b", "tool"], Names(ManifestGraph.Select(Small, ManifestSelection.WithDependents(["base"]))));
        Assert.Equal(["svc-a", "svc-b"], Names(ManifestGraph.Select(Small, ManifestSelection.WithDependents(["svc-a"]))));
    }

    [Theory]
    [InlineData("services/a/main.go", "svc-a,svc-b,services-all")]
    [InlineData("./services/a/", "svc-a,svc-b,services-all")]
    [InlineData(@"services\a\main.go", "svc-a,svc-b,services-all")]
    [InlineData("services/a", "svc-a,svc-b,services-all")]
    [InlineData("services//b/x", "svc-b,services-all")]
    [InlineData("services/ab/x.go", "services-all")]
    [InlineData("services", "svc-a,svc-b,services-all")]
    [InlineData("images/base/docker/base.Dockerfile", "base,lang,svc-a,svc-b,tool")]
    [InlineData("images/lang/../base/README", "base,lang,svc-a,svc-b,tool")]
    [InlineData("images", "svc-a,lang,base,svc-b,tool")]
    [InlineData("README.md", "")]
    [InlineData("images/basement/x", "")]
    public void Select_Changed_TouchedImagesAndTheirDependents(string path, string expected)
    {
        var selected = Names(ManifestGraph.Select(Small, ManifestSelection.Changed([path])));

        string[] want = expected.Length == 0 ? [] : expected.Split(',');
        Assert.Equal(want.Order(StringComparer.Ordinal), selected.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Select_ChangedDependent_DoesNotRebuildItsUnchangedDependencies()
    {
        Assert.Equal(["lang", "svc-a", "svc-b"], Names(ManifestGraph.Select(Small, ManifestSelection.Changed(["images/lang/Dockerfile"]))));
    }

    [Fact]
    public void Select_ChangedRoot_TouchesEverything()
    {
        Assert.Equal(6, ManifestGraph.Select(Small, ManifestSelection.Changed(["."])).Count);
    }

    [Theory]
    [InlineData("/abs/path")]
    [InlineData("../outside")]
    public void Select_ChangedPathOutsideTheRepository_Throws(string path)
    {
        Assert.Throws<ManifestSelectionException>(() => ManifestGraph.Select(Small, ManifestSelection.Changed([path])));
    }

    [Fact]
    public void TouchedBy_ImageAtRepositoryRoot_IsTouchedByAnyChange()
    {
        var manifest = ManifestParser.Parse("images:\n  - name: root\n    context: git://github.com/a/b.git\n    destinations: [r.example.com/a/root:1]\n");

        Assert.Single(ManifestGraph.TouchedBy(manifest, ["docs/x.md"]));
    }
}

public sealed class ManifestPlannerTests
{
    private static readonly DateTimeOffset Submitted = new(2026, 11, 28, 23, 59, 59, TimeSpan.FromHours(-3)); // 2026-11-29 UTC
    private const string Sha = "0A1B2C3D4E5F60718293A4B5C6D7E8F901234567";

    private static readonly Manifest Manifest = ManifestParser.Parse("""
        defaults:
          context: "git://github.com/acme/mono.git#main#{sha}"
          destinations: ["r.example.com/acme/{name}:{short_sha}", "r.example.com/acme/{name}:{date}"]
          labels: { revision: "{sha}" }
        images:
          - name: base
            contextSubPath: images/base
            buildArgs: { DATE: "{date}" }
          - name: app
            contextSubPath: services/app
            cacheRepo: r.example.com/cache/{name}
            buildArgs: { VERSION: "1.0" }
            dependsOn: [{ image: base, buildArg: BASE_IMAGE }]
          - name: app-tests
            contextSubPath: services/app-tests
            dependsOn: [app]
        """);

    private static SubmitBatch Plan(ManifestSelection? selection = null, string batchId = "batch-1") =>
        ManifestPlanner.Plan(Manifest, new ManifestPlanRequest
        {
            BatchId = batchId,
            Sha = Sha,
            SubmittedAt = Submitted,
            Selection = selection ?? ManifestSelection.All,
            RequestedBy = "ci",
            Priority = 3,
        });

    [Fact]
    public void Plan_ExpandsEveryTemplate()
    {
        var batch = Plan();

        var app = batch.Images.Single(i => i.Name == "app").Spec;
        Assert.Equal("git://github.com/acme/mono.git#main#0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", app.Context);
        Assert.Equal(["r.example.com/acme/app:0a1b2c3d4e5f", "r.example.com/acme/app:20261129"], app.Destinations);
        Assert.Equal("r.example.com/cache/app", app.CacheRepo);
        Assert.Equal("0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", app.Labels["revision"]);
        Assert.Equal("20261129", batch.Images[0].Spec.BuildArgs["DATE"]);
    }

    [Fact]
    public void Plan_DependencyBuildArgs_AreDependenciesNotSpecBuildArgs()
    {
        var batch = Plan();

        var app = batch.Images.Single(i => i.Name == "app");
        Assert.Equal(new Dictionary<string, string> { ["VERSION"] = "1.0" }, app.Spec.BuildArgs);
        Assert.Equal([new BatchDependency("base", "BASE_IMAGE")], app.DependsOn);
        Assert.Equal([new BatchDependency("app")], batch.Images.Single(i => i.Name == "app-tests").DependsOn);
    }

    [Fact]
    public void Plan_BatchFields_AreCopied()
    {
        var batch = Plan();

        Assert.Equal("batch-1", batch.BatchId);
        Assert.Equal(["base", "app", "app-tests"], batch.Images.Select(i => i.Name));
        Assert.Equal(Submitted, batch.SubmittedAt);
        Assert.Equal(("ci", 3), (batch.RequestedBy, batch.Priority));
        Assert.Equal("manifest@0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", batch.Source);
    }

    [Fact]
    public void Plan_DependencyOutsideTheSelection_IsLeftOut()
    {
        var batch = Plan(ManifestSelection.Changed(["services/app/main.go"]));

        Assert.Equal(["app", "app-tests"], batch.Images.Select(i => i.Name));
        Assert.Empty(batch.Images[0].DependsOn);
        Assert.Equal([new BatchDependency("app")], batch.Images[1].DependsOn);
    }

    [Fact]
    public void Plan_NothingChanged_GivesAnEmptyBatch()
    {
        Assert.Empty(Plan(ManifestSelection.Changed(["README.md"])).Images);
    }

    [Fact]
    public void Plan_BuildIds_DeterministicPerBatchAndImage()
    {
        var first = Plan();
        var again = Plan();
        var other = Plan(batchId: "batch-2");

        Assert.Equal(first.Images.Select(i => i.BuildId), again.Images.Select(i => i.BuildId));
        Assert.Empty(first.Images.Select(i => i.BuildId).Intersect(other.Images.Select(i => i.BuildId)));
        Assert.Equal(3, first.Images.Select(i => i.BuildId).Distinct().Count());
    }

    [Theory]
    [InlineData("b", "api")]
    [InlineData("0f8fad5b-d9cb-469f-a165-70867728950e", "a-really-long-image-name-that-goes-on-and-on-and-on")]
    [InlineData("Batch/With:Odd Chars", "svc.v2_x")]
    public void BuildId_IsAValidPodNamePartKeptAsIs(string batchId, string image)
    {
        var id = ManifestPlanner.BuildId(batchId, image);

        Assert.InRange(id.Length, 13, ManifestPlanner.MaxBuildIdLength);
        Assert.Matches("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", id);
        Assert.DoesNotContain("--", id, StringComparison.Ordinal);
        // KanikoPodNames uses the id unchanged (no extra hash), debug pods included.
        Assert.Equal($"bf-{id}-12", KanikoPodNames.PodName(id, 12));
        Assert.Equal($"bf-{id}-9-debug", KanikoPodNames.DebugPodName(id, 9));
    }

    [Fact]
    public void BuildId_StartsWithTheImageName()
    {
        Assert.StartsWith("svc-v2-x-", ManifestPlanner.BuildId("b", "svc.v2_x"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("-leading-dash")]
    public void Plan_BadSha_Throws(string sha)
    {
        Assert.Throws<ArgumentException>(() => ManifestPlanner.Plan(Manifest, new ManifestPlanRequest { BatchId = "b", Sha = sha, SubmittedAt = Submitted }));
    }

    [Fact]
    public void Plan_ShaThatBreaksAnExpandedSpec_ReportsTheImageAndLine()
    {
        // A word is a fine tag, but not a git commit: the context check fails for every image, at the defaults' line.
        var e = Assert.Throws<ManifestException>(() =>
            ManifestPlanner.Plan(Manifest, new ManifestPlanRequest { BatchId = "b", Sha = "nightly", SubmittedAt = Submitted }));

        Assert.Equal(3, e.Errors.Count);
        Assert.All(e.Errors, x => Assert.Equal(("context", 2), (x.Field, x.Line)));
        Assert.Equal(["base", "app", "app-tests"], e.Errors.Select(x => x.Image));
    }

    [Theory]
    [InlineData("abc", "abc")]
    [InlineData("0123456789abcdef", "0123456789ab")]
    public void ShortSha_IsTwelveCharacters(string sha, string expected)
    {
        Assert.Equal(expected, ManifestTemplates.ShortSha(sha));
    }
}
