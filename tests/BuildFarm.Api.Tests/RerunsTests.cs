using BuildFarm.Api.Submissions;
using BuildFarm.Contracts;
using BuildFarm.Manifests.Planning;
using BuildFarm.Status;

namespace BuildFarm.Api.Tests;

/// <summary>The pure selection of a re-run (<see cref="Reruns"/>): what is built again, on which digests, and what cannot be.</summary>
public sealed class RerunsTests
{
    private const string Batch = "batch-0001";
    private const string BaseDigest = "sha256:" + "ba5e000000000000000000000000000000000000000000000000000000000000";
    private const string ToolDigest = "sha256:" + "7001000000000000000000000000000000000000000000000000000000000000";

    private static StoredBuildRecord Record(string name, BuildState state, string? digest = null, string? reason = null,
        IReadOnlyDictionary<string, string>? dependencyArgs = null, IReadOnlyDictionary<string, string>? buildArgs = null, params string[] dependsOn) => new()
    {
        BuildId = Id(name),
        BatchId = Batch,
        Name = name,
        Spec = new BuildSpec
        {
            Context = "s3://ctx/mono.tar.gz",
            ContextSubPath = name,
            Destinations = [$"registry.example.com/team/{name}:1"],
            BuildArgs = buildArgs ?? new Dictionary<string, string> { ["VERSION"] = "1" },
        },
        State = state,
        Digest = digest,
        Reason = reason,
        DependsOn = [.. dependsOn.Select(Id)],
        DependencyBuildArgs = dependencyArgs ?? new Dictionary<string, string>(),
        Priority = 4,
    };

    private static string Id(string name) => $"{name}-{Batch}";

    private static BatchRecord BatchOf(params BuildRecord[] builds) => new()
    {
        BatchId = Batch,
        Source = "commit abc",
        Members = [.. builds.Select(b => new BatchMember(b.Name!, b.BuildId))],
    };

    /// <summary>base (succeeded) ← app (failed, BASE_IMAGE) ← web (dependency_failed, APP_IMAGE; also on tool) and tool (succeeded).</summary>
    private static BuildRecord[] Mixed() =>
    [
        Record("base", BuildState.Succeeded, BaseDigest),
        Record("app", BuildState.Failed, reason: FailureReasons.StepFailed,
            dependencyArgs: new Dictionary<string, string> { ["BASE_IMAGE"] = Id("base") },
            buildArgs: new Dictionary<string, string> { ["VERSION"] = "1", ["BASE_IMAGE"] = $"registry.example.com/team/base@{BaseDigest}" }, dependsOn: "base"),
        Record("web", BuildState.Failed, reason: FailureReasons.DependencyFailed,
            dependencyArgs: new Dictionary<string, string> { ["APP_IMAGE"] = Id("app"), ["TOOL_IMAGE"] = Id("tool") }, dependsOn: ["app", "tool"]),
        Record("tool", BuildState.Succeeded, ToolDigest),
    ];

    [Fact]
    public void Select_All_RebuildsEveryImage_ReusesNothing()
    {
        var builds = Mixed();

        var selection = Reruns.Select(BatchOf(builds), builds, failedOnly: false, out var problem);

        Assert.Null(problem);
        Assert.Equal(["base", "app", "web", "tool"], selection!.Rebuild.Select(b => b.Name));
        Assert.Empty(selection.Reuse);
    }

    [Fact]
    public void Select_FailedOnly_RebuildsFailedAndDependencyFailed_ReusesSucceeded()
    {
        var builds = Mixed();

        var selection = Reruns.Select(BatchOf(builds), builds, failedOnly: true, out var problem);

        Assert.Null(problem);
        Assert.Equal(["app", "web"], selection!.Rebuild.Select(b => b.Name));
        Assert.Equal(["base", "tool"], selection.Reuse.Select(b => b.Name));
    }

    [Fact]
    public void Select_FailedOnly_ASucceededDependentOfAFailedImageIsRebuiltToo()
    {
        // Cancelled after its dependent had been released (it cannot happen the other way round, but the rule holds):
        // whatever is below a rebuilt image must be built on its new digest.
        BuildRecord[] builds =
        [
            Record("base", BuildState.Cancelled),
            Record("app", BuildState.Succeeded, BaseDigest, dependsOn: "base"),
            Record("web", BuildState.Succeeded, ToolDigest, dependsOn: "app"),
            Record("tool", BuildState.Succeeded, ToolDigest),
        ];

        var selection = Reruns.Select(BatchOf(builds), builds, failedOnly: true, out _);

        Assert.Equal(["base", "app", "web"], selection!.Rebuild.Select(b => b.Name));
        Assert.Equal(["tool"], selection.Reuse.Select(b => b.Name));
    }

    [Fact]
    public void Select_ABuildNotEnded_IsAProblemNamingIt()
    {
        BuildRecord[] builds = [Record("base", BuildState.Succeeded, BaseDigest), Record("app", BuildState.Running, dependsOn: "base")];

        Assert.Null(Reruns.Select(BatchOf(builds), builds, failedOnly: false, out var problem));
        Assert.Equal($"image 'app' of batch '{Batch}' is running; a batch can be run again once every build of it has ended", problem);
    }

    [Fact]
    public void Select_FailedOnly_NothingFailed_IsAProblem()
    {
        BuildRecord[] builds = [Record("base", BuildState.Succeeded, BaseDigest), Record("tool", BuildState.Succeeded, ToolDigest)];

        Assert.Null(Reruns.Select(BatchOf(builds), builds, failedOnly: true, out var problem));
        Assert.Contains("nothing to run again", problem, StringComparison.Ordinal);
        Assert.NotNull(Reruns.Select(BatchOf(builds), builds, failedOnly: false, out _));
    }

    [Fact]
    public void Select_AMemberRecordGone_IsAProblemNamingIt()
    {
        var builds = Mixed();

        Assert.Null(Reruns.Select(BatchOf(builds), builds[..3], failedOnly: false, out var problem));
        Assert.Contains($"image 'tool' (build {Id("tool")}) is gone", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Plan_FailedOnly_ReusedDependencyPinnedAsBuildArg_RebuiltDependencyKept_OldPinsDropped()
    {
        var builds = Mixed();
        var batch = BatchOf(builds);
        var selection = Reruns.Select(batch, builds, failedOnly: true, out _)!;

        var plan = Reruns.Plan(batch, selection, "batch-0002");

        Assert.Equal("batch-0002", plan.BatchId);
        Assert.Equal("commit abc", plan.Source);
        Assert.Equal(4, plan.Priority);
        Assert.Null(plan.Deadline);
        Assert.Empty(BuildFarm.Status.Batches.BatchGraph.Validate(plan.Images));
        var app = plan.Images[0];
        Assert.Equal(("app", ManifestPlanner.BuildId("batch-0002", "app")), (app.Name, app.BuildId));
        // base is reused: no dependency any more, its pinned reference as the orchestrator passes it.
        Assert.Empty(app.DependsOn);
        Assert.Equal(new Dictionary<string, string> { ["VERSION"] = "1", ["BASE_IMAGE"] = $"registry.example.com/team/base@{BaseDigest}" }, app.Spec.BuildArgs);
        var web = plan.Images[1];
        // app is rebuilt: the orchestrator pins it again; tool is reused.
        Assert.Equal([new BatchDependency("app", "APP_IMAGE")], web.DependsOn);
        Assert.Equal(new Dictionary<string, string> { ["VERSION"] = "1", ["TOOL_IMAGE"] = $"registry.example.com/team/tool@{ToolDigest}" }, web.Spec.BuildArgs);
        Assert.Equal(
            [new ReusedImage { Name = "base", BuildId = Id("base"), Digest = BaseDigest }, new ReusedImage { Name = "tool", BuildId = Id("tool"), Digest = ToolDigest }],
            Reruns.ReusedImages(batch, selection));
    }

    [Fact]
    public void Plan_All_EveryDependencyKeptAndTheOrchestratorsPinsRemoved()
    {
        var builds = Mixed();
        var batch = BatchOf(builds);

        var plan = Reruns.Plan(batch, Reruns.Select(batch, builds, failedOnly: false, out _)!, "batch-0003");

        Assert.Equal(["base", "app", "web", "tool"], plan.Images.Select(i => i.Name));
        Assert.Equal([new BatchDependency("base", "BASE_IMAGE")], plan.Images[1].DependsOn);
        Assert.Equal(new Dictionary<string, string> { ["VERSION"] = "1" }, plan.Images[1].Spec.BuildArgs);
        Assert.Equal([new BatchDependency("app", "APP_IMAGE"), new BatchDependency("tool", "TOOL_IMAGE")], plan.Images[2].DependsOn);
    }

    [Theory]
    [InlineData(BuildState.Queued, false, "is queued; a build can be run again once it has ended")]
    [InlineData(BuildState.Running, true, "is running; a build can be run again once it has ended")]
    [InlineData(BuildState.Succeeded, true, "succeeded; with failed=true there is nothing to run again")]
    public void BuildProblem_NotEndedOrNothingFailed(BuildState state, bool failedOnly, string expected)
    {
        var record = Record("tool", state, state == BuildState.Succeeded ? ToolDigest : null);

        Assert.Equal($"build '{Id("tool")}' {expected}", Reruns.BuildProblem(record, failedOnly));
    }

    [Fact]
    public void BuildProblem_ABatchImageThatNeverGotItsDependencyDigests_PointsToTheBatchRerun()
    {
        var web = Mixed()[2];
        var app = Mixed()[1];

        Assert.Equal($"build '{Id("web")}' of batch '{Batch}' never received its dependencies' digests (build args APP_IMAGE, TOOL_IMAGE); "
            + $"run its batch again instead (POST /v1/batches/{Batch}/rerun?failed=true)", Reruns.BuildProblem(web, failedOnly: true));
        // app was released (its spec holds the pinned base): alone it builds on the same base again.
        Assert.Null(Reruns.BuildProblem(app, failedOnly: true));
        Assert.Equal(app.Spec, Reruns.BuildRequest(app).Spec);
        Assert.Equal(4, Reruns.BuildRequest(app).Priority);
        Assert.Null(Reruns.BuildRequest(app).Deadline);
    }
}
