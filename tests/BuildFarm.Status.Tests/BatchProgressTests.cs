using BuildFarm.Contracts;
using BuildFarm.Status.Batches;

namespace BuildFarm.Status.Tests;

public sealed class BatchProgressTests
{
    private const string Token = "msg-1";
    private static readonly string BaseDigest = "sha256:" + new string('b', 64);
    private static readonly string PyDigest = "sha256:" + new string('c', 64);
    private static readonly string NodeDigest = "sha256:" + new string('d', 64);

    /// <summary>The diamond of <see cref="BatchGraphTests.Diamond"/> as the orchestrator stores it: all waiting.</summary>
    private static Dictionary<string, BuildRecord> Stored() => BatchGraphTests.Diamond().ToDictionary(i => i.Name, BuildRecord (i) =>
        Records.Build(i.BuildId, BuildState.Waiting, "batch").Stored() with
        {
            Name = i.Name,
            Spec = i.Spec,
            DependsOn = [.. i.DependsOn.Select(d => $"id-{d.Image}")],
            DependencyBuildArgs = i.DependsOn.Where(d => d.BuildArg is not null).ToDictionary(d => d.BuildArg!, d => $"id-{d.Image}"),
        });

    private static BuildRecord Succeeded(BuildRecord r, string digest) => r.Stored() with { State = BuildState.Succeeded, Digest = digest, ReleasedBy = "earlier" };

    private static BuildRecord FailedOwn(BuildRecord r, string reason) => r.Stored() with { State = BuildState.Failed, Reason = reason, ReleasedBy = "earlier" };

    private static BatchPlan Plan(Dictionary<string, BuildRecord> records, string token = Token) => BatchProgress.Plan([.. records.Values], token);

    [Fact]
    public void Plan_NothingBuiltYet_ReleasesTheRootsOnly()
    {
        var plan = Plan(Stored());

        Assert.Equal(["base", "tool"], plan.Release.Select(s => s.Build.Name).Order());
        Assert.Empty(plan.Fail);
        Assert.Empty(plan.Release.Single(s => s.Build.Name == "base").Spec.BuildArgs);
    }

    [Fact]
    public void Plan_BaseSucceeded_ReleasesBothMiddlesWithThePinnedBase()
    {
        var r = Stored();
        r["base"] = Succeeded(r["base"], BaseDigest);
        r["tool"] = r["tool"].Stored() with { ReleasedBy = "earlier", State = BuildState.Running };

        var plan = Plan(r);

        Assert.Equal(["node", "py"], plan.Release.Select(s => s.Build.Name).Order());
        Assert.All(plan.Release, s => Assert.Equal($"registry.example.com/team/base@{BaseDigest}", s.Spec.BuildArgs["BASE_IMAGE"]));
    }

    [Fact]
    public void Plan_DiamondOneSideDone_AppWaitsForBoth()
    {
        var r = Stored();
        r["base"] = Succeeded(r["base"], BaseDigest);
        r["py"] = Succeeded(r["py"], PyDigest);
        r["node"] = r["node"].Stored() with { State = BuildState.Running, ReleasedBy = "earlier" };

        Assert.DoesNotContain(Plan(r).Release, s => s.Build.Name == "app");

        r["node"] = Succeeded(r["node"], NodeDigest);
        var app = Assert.Single(Plan(r).Release, s => s.Build.Name == "app");
        Assert.Equal($"registry.example.com/team/py@{PyDigest}", app.Spec.BuildArgs["PY_IMAGE"]);
        Assert.Equal($"registry.example.com/team/node@{NodeDigest}", app.Spec.BuildArgs["NODE_IMAGE"]);
    }

    [Fact]
    public void Plan_BaseFailed_EveryTransitiveDependentFailsNamingBase()
    {
        var r = Stored();
        r["base"] = FailedOwn(r["base"], FailureReasons.StepFailed);

        var plan = Plan(r);

        Assert.Equal(["app", "node", "py"], plan.Fail.Select(s => s.Build.Name).Order());
        Assert.All(plan.Fail, s => Assert.Equal($"dependency 'base' (build id-base) failed: {FailureReasons.StepFailed}", s.Detail));
        Assert.Equal(["tool"], plan.Release.Select(s => s.Build.Name));
    }

    [Fact]
    public void Plan_OneSideOfDiamondFailed_AppFailsEvenThoughTheOtherSucceeds()
    {
        var r = Stored();
        r["base"] = Succeeded(r["base"], BaseDigest);
        r["py"] = FailedOwn(r["py"], FailureReasons.Unauthorized);
        r["node"] = Succeeded(r["node"], NodeDigest);

        var plan = Plan(r);

        var app = Assert.Single(plan.Fail);
        Assert.Equal("app", app.Build.Name);
        Assert.Contains("'py'", app.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(plan.Release, s => s.Build.Name == "app");
    }

    [Fact]
    public void Plan_DependencyCancelled_DependentsFailSayingSo()
    {
        var r = Stored();
        r["base"] = r["base"].Stored() with { State = BuildState.Cancelled, Reason = FailureReasons.Cancelled, ReleasedBy = "earlier" };

        Assert.All(Plan(r).Fail, s => Assert.Equal("dependency 'base' (build id-base) was cancelled", s.Detail));
    }

    [Fact]
    public void Plan_ChainAlreadyFailedByAnotherMessage_NothingToDo()
    {
        var r = Stored();
        r["base"] = FailedOwn(r["base"], FailureReasons.StepFailed);
        foreach (var name in new[] { "py", "node", "app" })
        {
            r[name] = r[name].Stored() with { State = BuildState.Failed, Reason = FailureReasons.DependencyFailed, ReleasedBy = "other-msg" };
        }
        r["tool"] = Succeeded(r["tool"], NodeDigest);

        var plan = Plan(r);

        Assert.Empty(plan.Fail);
        Assert.Empty(plan.Release);
    }

    [Fact]
    public void Plan_RedeliveredMessage_RepeatsOnlyItsOwnClaims()
    {
        var r = Stored();
        r["base"] = Succeeded(r["base"], BaseDigest);
        r["py"] = r["py"].Stored() with { State = BuildState.Queued, ReleasedBy = Token };
        r["node"] = r["node"].Stored() with { State = BuildState.Queued, ReleasedBy = "other-msg" };
        r["tool"] = r["tool"].Stored() with { State = BuildState.Running, ReleasedBy = "earlier" };

        Assert.Equal(["py"], Plan(r).Release.Select(s => s.Build.Name));
    }

    [Fact]
    public void Claim_TwoMessagesRaceForOneBuild_OnlyTheFirstWins()
    {
        var waiting = Stored()["app"];

        var (first, change) = BatchProgress.ClaimRelease(waiting, "msg-a", waiting.Spec);
        var (second, none) = BatchProgress.ClaimRelease(change!.Record, "msg-b", waiting.Spec);
        var (again, _) = BatchProgress.ClaimRelease(change.Record, "msg-a", waiting.Spec);

        Assert.Equal((ClaimOutcome.Claimed, ClaimOutcome.Taken, ClaimOutcome.AlreadyOurs), (first, second, again));
        Assert.Null(none);
        Assert.Equal((BuildState.Queued, "msg-a", "released"), (change.Record.State, change.Record.Stored().ReleasedBy, change.Event));
    }

    [Fact]
    public void ClaimFailure_WaitingBuild_FailedAsDependencyFailed()
    {
        var (outcome, change) = BatchProgress.ClaimFailure(Stored()["app"], Token, "dependency 'base' failed", Records.T0);

        Assert.Equal(ClaimOutcome.Claimed, outcome);
        Assert.Equal((BuildState.Failed, FailureReasons.DependencyFailed, "dependency 'base' failed", (DateTimeOffset?)Records.T0),
            (change!.Record.State, change.Record.Reason, change.Record.Detail, change.Record.EndedAt));
        Assert.Equal(ClaimOutcome.Taken, BatchProgress.ClaimRelease(change.Record, "msg-b", change.Record.Spec).Outcome);
    }

    [Fact]
    public void Claim_BuildAlreadyRunning_Taken()
    {
        var running = Stored()["tool"] with { State = BuildState.Running };
        Assert.Equal(ClaimOutcome.Taken, BatchProgress.ClaimRelease(running, Token, running.Spec).Outcome);
    }

    [Theory]
    [InlineData("registry.example.com/team/base:1.2", "registry.example.com/team/base")]
    [InlineData("localhost:5000/base", "localhost:5000/base")]
    [InlineData("alpine:3.20", "docker.io/library/alpine")]
    [InlineData("registry.example.com/team/base:1@sha256:0000000000000000000000000000000000000000000000000000000000000000", "registry.example.com/team/base")]
    public void PinnedReference_FirstDestinationRepositoryAtDigest(string destination, string repository)
    {
        var dependency = Records.Build("b") with
        {
            State = BuildState.Succeeded, Digest = BaseDigest,
            Spec = Records.Spec("b") with { Destinations = [destination, "other.example.com/x:2"] },
        };

        Assert.Equal($"{repository}@{BaseDigest}", BatchProgress.PinnedReference(dependency));
    }

    [Fact]
    public void PinnedReference_NoDigest_ErrorNamesTheBuild()
    {
        var error = Assert.Throws<InvalidOperationException>(() => BatchProgress.PinnedReference(Records.Build("b9")));
        Assert.Contains("'b9' has no digest", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Plan_ExistingBuildArgsKept_DependencyArgAdded()
    {
        var r = Stored();
        r["base"] = Succeeded(r["base"], BaseDigest);
        r["py"] = r["py"] with { Spec = r["py"].Spec with { BuildArgs = new Dictionary<string, string> { ["PY_VERSION"] = "3.12" } } };

        var py = Plan(r).Release.Single(s => s.Build.Name == "py");

        Assert.Equal("3.12", py.Spec.BuildArgs["PY_VERSION"]);
        Assert.Equal($"registry.example.com/team/base@{BaseDigest}", py.Spec.BuildArgs["BASE_IMAGE"]);
    }

    private static Dictionary<string, BuildRecord> Known(params BuildRecord[] records) => records.ToDictionary(r => r.BuildId);

    /// <summary>c0 ← c1 ← … ← c(n-1): each link passes BASE_IMAGE.</summary>
    private static List<BuildRecord> Chain(int n) => [.. Enumerable.Range(0, n).Select(i =>
        Records.Build($"c{i}", BuildState.Waiting, "batch").Stored() with
        {
            Name = $"c{i}",
            DependsOn = i == 0 ? [] : [$"c{i - 1}"],
            DependencyBuildArgs = i == 0 ? new Dictionary<string, string>() : new Dictionary<string, string> { ["BASE_IMAGE"] = $"c{i - 1}" },
            Dependents = i == n - 1 ? [] : [$"c{i + 1}"],
        })];

    [Fact]
    public void PlanFor_BaseSucceeded_ReleasesTheDependentsReadWithThePinnedBase()
    {
        var r = Stored();
        var done = Succeeded(r["base"], BaseDigest);

        var plan = BatchProgress.PlanFor([r["py"], r["node"]], Known(done), Token);

        Assert.Equal(["node", "py"], plan.Release.Select(s => s.Build.Name).Order());
        Assert.All(plan.Release, s => Assert.Equal($"registry.example.com/team/base@{BaseDigest}", s.Spec.BuildArgs["BASE_IMAGE"]));
        Assert.Empty(plan.Fail);
    }

    [Fact]
    public void PlanFor_DiamondOtherDependencyStillRunning_AppNeitherReleasedNorFailed()
    {
        var r = Stored();
        var py = Succeeded(r["py"], PyDigest);
        var node = r["node"].Stored() with { State = BuildState.Running, ReleasedBy = "earlier" };

        var plan = BatchProgress.PlanFor([r["app"]], Known(py, node), Token);

        Assert.Empty(plan.Release);
        Assert.Empty(plan.Fail);
    }

    [Fact]
    public void PlanFor_DiamondBothSidesDone_AppReleasedWithBothPins()
    {
        var r = Stored();

        var app = Assert.Single(BatchProgress.PlanFor([r["app"]], Known(Succeeded(r["py"], PyDigest), Succeeded(r["node"], NodeDigest)), Token).Release);

        Assert.Equal($"registry.example.com/team/py@{PyDigest}", app.Spec.BuildArgs["PY_IMAGE"]);
        Assert.Equal($"registry.example.com/team/node@{NodeDigest}", app.Spec.BuildArgs["NODE_IMAGE"]);
    }

    [Fact]
    public void PlanFor_DependencyNotRead_CountsAsNotDone()
    {
        var r = Stored();

        var plan = BatchProgress.PlanFor([r["app"]], Known(Succeeded(r["py"], PyDigest)), Token);

        Assert.Empty(plan.Release);
        Assert.Empty(plan.Fail);
    }

    [Fact]
    public void PlanFor_DiamondBaseFailed_WalkedLevelByLevel_EveryLevelNamesBase()
    {
        var r = Stored();
        var failed = FailedOwn(r["base"], FailureReasons.Unauthorized);
        var expected = $"dependency 'base' (build id-base) failed: {FailureReasons.Unauthorized}";

        var first = BatchProgress.PlanFor([r["py"], r["node"]], Known(failed), Token);
        var claimed = first.Fail.Select(s => BatchProgress.ClaimFailure(s.Build, Token, s.Detail, Records.T0).Change!.Record).ToArray();
        var second = BatchProgress.PlanFor([r["app"]], Known(claimed), Token);

        Assert.Equal(["node", "py"], first.Fail.Select(s => s.Build.Name).Order());
        Assert.All(first.Fail, s => Assert.Equal(expected, s.Detail));
        Assert.Equal(expected, Assert.Single(second.Fail).Detail);
        Assert.Empty(first.Release);
        Assert.Empty(second.Release);
    }

    [Fact]
    public void PlanFor_DeepChainFailsInTheMiddle_EveryLaterLinkNamesTheMiddleOnly()
    {
        var chain = Chain(40);
        for (var i = 0; i < 20; i++)
        {
            chain[i] = Succeeded(chain[i], BaseDigest);
        }
        var level = new List<BuildRecord> { FailedOwn(chain[20], FailureReasons.StepFailed) };
        var details = new List<string>();

        // The orchestrator's walk: each level's subjects are the dependents of the builds failed at the level above.
        while (level.Count > 0)
        {
            var subjects = level.SelectMany(f => f.Stored().Dependents!).Select(id => chain.Single(c => c.BuildId == id)).ToList();
            var plan = BatchProgress.PlanFor(subjects, Known([.. level]), Token);
            Assert.Empty(plan.Release);
            details.AddRange(plan.Fail.Select(s => s.Detail));
            level = [.. plan.Fail.Select(s => BatchProgress.ClaimFailure(s.Build, Token, s.Detail, Records.T0).Change!.Record)];
        }

        Assert.Equal(19, details.Count);
        Assert.All(details, d => Assert.Equal($"dependency 'c20' (build c20) failed: {FailureReasons.StepFailed}", d));
    }

    [Fact]
    public void PlanFor_DeepChainLinkSucceeded_ReleasesOnlyTheNextLink()
    {
        var chain = Chain(50);
        chain[10] = Succeeded(chain[10], BaseDigest);

        var plan = BatchProgress.PlanFor([chain[11]], Known(chain[10]), Token);

        var next = Assert.Single(plan.Release);
        Assert.Equal(("c11", $"registry.example.com/team/c10@{BaseDigest}"), (next.Build.Name, next.Spec.BuildArgs["BASE_IMAGE"]));
    }

    [Fact]
    public void PlanFor_OneDependencyFailedOnItsOwnAnotherDependencyFailed_DetailNamesTheOwnFailure()
    {
        var r = Stored();
        var py = r["py"].Stored() with { State = BuildState.Failed, Reason = FailureReasons.DependencyFailed, Detail = "dependency 'x' (build id-x) failed: unknown", ReleasedBy = "m" };
        var node = FailedOwn(r["node"], FailureReasons.Unauthorized);

        var app = Assert.Single(BatchProgress.PlanFor([r["app"]], Known(py, node), Token).Fail);

        Assert.Equal($"dependency 'node' (build id-node) failed: {FailureReasons.Unauthorized}", app.Detail);
    }

    [Fact]
    public void PlanFor_OtherDependencyFailedWhileThisOneSucceeded_DependentFailsInsteadOfReleased()
    {
        var r = Stored();
        var py = Succeeded(r["py"], PyDigest);
        var node = r["node"].Stored() with { State = BuildState.Cancelled, Reason = FailureReasons.Cancelled, ReleasedBy = "earlier" };

        var plan = BatchProgress.PlanFor([r["app"]], Known(py, node), Token);

        Assert.Empty(plan.Release);
        Assert.Equal("dependency 'node' (build id-node) was cancelled", Assert.Single(plan.Fail).Detail);
    }

    [Fact]
    public void PlanFor_SubjectsClaimedElsewhere_Skipped_OwnClaimRepeated()
    {
        var r = Stored();
        var done = Succeeded(r["base"], BaseDigest);
        var py = r["py"].Stored() with { State = BuildState.Queued, ReleasedBy = Token };
        var node = r["node"].Stored() with { State = BuildState.Queued, ReleasedBy = "other-msg" };

        Assert.Equal(["py"], BatchProgress.PlanFor([py, node], Known(done), Token).Release.Select(s => s.Build.Name));
    }

    [Fact]
    public void FailureDetail_BuildNotFailed_ErrorNamesIt()
    {
        var error = Assert.Throws<InvalidOperationException>(() => BatchProgress.FailureDetail(Records.Build("b7", BuildState.Running)));
        Assert.Contains("'b7' has not failed (state running)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Plan_OriginGoneButDependencyFailedParentKept_DetailStillNamesTheOrigin()
    {
        var r = Stored();
        r.Remove("base"); // expired, say
        r["py"] = r["py"].Stored() with { State = BuildState.Failed, Reason = FailureReasons.DependencyFailed, ReleasedBy = "m",
            Detail = $"dependency 'base' (build id-base) failed: {FailureReasons.StepFailed}" };
        r["node"] = r["node"].Stored() with { State = BuildState.Running, ReleasedBy = "earlier" };

        var app = Assert.Single(Plan(r).Fail);

        Assert.Equal($"dependency 'base' (build id-base) failed: {FailureReasons.StepFailed}", app.Detail);
    }
}
