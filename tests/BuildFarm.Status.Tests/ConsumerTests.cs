using BuildFarm.Contracts;
using BuildFarm.Coordination.Scheduling;
using BuildFarm.Status.Hosting;
using BuildFarm.Status.Messaging;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace BuildFarm.Status.Tests;

/// <summary>The projector and the orchestrator on the MassTransit test harness, over the in-process store or the real Redis.</summary>
public abstract class ConsumerTests
{
    private static readonly string BaseDigest = "sha256:" + new string('b', 64);

    protected abstract void ConfigureStore(BuildFarm.Status.Stores.BuildStatusStoreOptions options);

    /// <summary>True once the orchestrator has published <c>BuildImage</c> for <paramref name="buildId"/> (false past the deadline).</summary>
    private static Task<bool> ImagePublishedAsync(ITestHarness harness, string buildId) =>
        SeenAsync(harness.Published.Select<BuildImage>(), m => m.Context.Message.BuildId == buildId);

    /// <summary>What an API writes before publishing: members and plain records (roots queued, the rest waiting), no build args.</summary>
    private static Task<bool> CreateAsTheApiDoesAsync(IBuildStatusStore store, SubmitBatch submit) =>
        store.CreateBatchAsync(new BatchRecord { BatchId = submit.BatchId, Members = [.. submit.Images.Select(i => new BatchMember(i.Name, i.BuildId))] },
            [.. submit.Images.Select(i => Records.Build(i.BuildId, i.DependsOn.Count == 0 ? BuildState.Queued : BuildState.Waiting, submit.BatchId) with { Name = i.Name, Spec = i.Spec })],
            CancellationToken.None);

    private async Task<(ServiceProvider Provider, ITestHarness Harness, IBuildStatusStore Store)> StartAsync(IImageDurations? durations = null)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        if (durations is not null)
        {
            services.AddSingleton(durations);
        }
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().Build());
        services.AddBuildFarmStatusStore(ConfigureStore);
        services.AddMassTransitTestHarness(x =>
        {
            x.AddBuildFarmStatusConsumers();
            x.SetTestTimeouts(testTimeout: TimeSpan.FromSeconds(30), testInactivityTimeout: TimeSpan.FromSeconds(1));
        });
        var provider = services.BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        return (provider, harness, provider.GetRequiredService<IBuildStatusStore>());
    }

    private static SubmitBatch Diamond(string batch) => new()
    {
        BatchId = batch,
        Source = "test",
        RequestedBy = "ci",
        SubmittedAt = Records.T0,
        Priority = 3,
        Images = [.. BatchGraphTests.Diamond().Select(i => i with { BuildId = $"{batch}-{i.Name}" })],
    };

    private static BuildSucceeded Success(string batch, string name, string digest) =>
        new() { BuildId = $"{batch}-{name}", BatchId = batch, Digest = digest, Attempts = 1, At = Records.T0.AddMinutes(1) };

    /// <summary>True once a message matching <paramref name="match"/> is in <paramref name="messages"/> (re-read until a deadline).</summary>
    private static async Task<bool> SeenAsync<T>(IEnumerable<T> messages, Func<T, bool> match)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(20);
        while (!messages.Any(match))
        {
            if (DateTimeOffset.UtcNow > deadline)
            {
                return false;
            }
            await Task.Delay(20);
        }
        return true;
    }

    /// <summary>Fails with the first consumer exception, if any.</summary>
    private static void AssertNoFaults(ITestHarness harness)
    {
        var fault = harness.Consumed.Select(m => m.Exception is not null).FirstOrDefault();
        Assert.True(fault is null, $"a consumer faulted on {fault?.MessageType.Name}: {fault?.Exception}");
    }

    private static IReadOnlyList<BuildImage> Published(ITestHarness harness, string buildId) =>
        [.. harness.Published.Select<BuildImage>().Select(m => m.Context.Message).Where(m => m.BuildId == buildId)];

    private static string Unique() => $"batch{Guid.NewGuid().ToString("N")[..8]}";

    [Fact]
    public async Task SubmitBatch_Diamond_RecordsCreated_OnlyRootsPublished()
    {
        var (provider, harness, store) = await StartAsync();
        await using var _ = provider;
        var batch = Unique();

        await harness.Bus.Publish(Diamond(batch));

        Assert.True(await ImagePublishedAsync(harness, $"{batch}-tool"));
        Assert.True(await ImagePublishedAsync(harness, $"{batch}-base"));
        await harness.InactivityTask;
        Assert.Empty(Published(harness, $"{batch}-py"));
        Assert.Empty(Published(harness, $"{batch}-app"));
        var basePublished = Assert.Single(Published(harness, $"{batch}-base"));
        Assert.Equal((batch, 3, "ci"), (basePublished.BatchId, basePublished.Priority, basePublished.RequestedBy));
        var records = await store.GetBatchBuildsAsync(batch, CancellationToken.None);
        Assert.Equal(["app", "py", "node", "base", "tool"], records.Select(r => r.Name));
        Assert.Equal(BuildState.Waiting, records.Single(r => r.Name == "app").State);
        Assert.Equal(BuildState.Queued, records.Single(r => r.Name == "base").State);
        Assert.Equal([$"{batch}-py", $"{batch}-node"], records.Single(r => r.Name == "app").DependsOn);
    }

    [Theory]
    [InlineData("team-a", "team-a")]
    [InlineData("not:a tenant", null)]
    [InlineData(null, null)]
    public async Task SubmitBatch_Tenant_RecordedOnTheBatchAndEveryBuild_InvalidOrNoneLeavesNone(string? sent, string? recorded)
    {
        var (provider, harness, store) = await StartAsync();
        await using var _ = provider;
        var batch = Unique();

        await harness.Bus.Publish(Diamond(batch) with { Tenant = sent });

        Assert.True(await ImagePublishedAsync(harness, $"{batch}-base"));
        AssertNoFaults(harness);
        Assert.Equal(recorded, (await store.GetBatchAsync(batch, CancellationToken.None))!.Tenant);
        var records = await store.GetBatchBuildsAsync(batch, CancellationToken.None);
        Assert.Equal(5, records.Count);
        Assert.All(records, r => Assert.Equal(recorded, r.Tenant));
    }

    [Fact]
    public async Task BaseSucceeded_MiddlesPublishedWithPinnedBase_AppOnlyAfterBoth()
    {
        var (provider, harness, store) = await StartAsync();
        await using var _ = provider;
        var batch = Unique();
        await harness.Bus.Publish(Diamond(batch));
        Assert.True(await ImagePublishedAsync(harness, $"{batch}-base"));

        await harness.Bus.Publish(Success(batch, "base", BaseDigest));

        Assert.True(await ImagePublishedAsync(harness, $"{batch}-py"));
        Assert.True(await ImagePublishedAsync(harness, $"{batch}-node"));
        var py = Assert.Single(Published(harness, $"{batch}-py"));
        Assert.Equal($"registry.example.com/team/base@{BaseDigest}", py.Spec.BuildArgs["BASE_IMAGE"]);
        Assert.Equal([$"{batch}-base"], py.DependsOn);
        await harness.Bus.Publish(Success(batch, "py", "sha256:" + new string('c', 64)));
        await harness.InactivityTask;
        Assert.Empty(Published(harness, $"{batch}-app"));

        await harness.Bus.Publish(Success(batch, "node", "sha256:" + new string('d', 64)));

        Assert.True(await ImagePublishedAsync(harness, $"{batch}-app"));
        var app = Assert.Single(Published(harness, $"{batch}-app"));
        Assert.Equal($"registry.example.com/team/node@sha256:{new string('d', 64)}", app.Spec.BuildArgs["NODE_IMAGE"]);
        var record = await store.GetBuildAsync($"{batch}-app", CancellationToken.None);
        Assert.Equal(app.Spec.BuildArgs["PY_IMAGE"], record!.Spec.BuildArgs["PY_IMAGE"]); // the record shows the spec actually built
    }

    [Fact]
    public async Task BaseFailed_EveryDependentEndsDependencyFailed_NeverPublished()
    {
        var (provider, harness, store) = await StartAsync();
        await using var _ = provider;
        var batch = Unique();
        await harness.Bus.Publish(Diamond(batch));
        Assert.True(await ImagePublishedAsync(harness, $"{batch}-base"));

        await harness.Bus.Publish(new BuildFailed { BuildId = $"{batch}-base", BatchId = batch, Reason = FailureReasons.StepFailed, Attempts = 1, At = Records.T0 });

        foreach (var name in new[] { "py", "node", "app" })
        {
            var found = await SeenAsync(harness.Published.Select<BuildFailed>(), m => m.Context.Message.BuildId == $"{batch}-{name}");
            AssertNoFaults(harness);
            Assert.True(found, $"{name}: " + string.Join(", ", (await store.GetBatchBuildsAsync(batch, CancellationToken.None)).Select(r => $"{r.Name}={r.State.ToWire()}/{r.Stored().ReleasedBy}"))
                + " consumed: " + string.Join(", ", harness.Consumed.Select<BuildFailed>().Select(m => m.Context.Message.BuildId)));
        }
        await harness.InactivityTask;
        foreach (var name in new[] { "py", "node", "app" })
        {
            var failed = Assert.Single(harness.Published.Select<BuildFailed>(), m => m.Context.Message.BuildId == $"{batch}-{name}").Context.Message;
            Assert.Equal(FailureReasons.DependencyFailed, failed.Reason);
            Assert.Equal($"dependency 'base' (build {batch}-base) failed: step_failed", failed.Detail);
            Assert.Empty(Published(harness, $"{batch}-{name}"));
            var record = await store.GetBuildAsync($"{batch}-{name}", CancellationToken.None);
            Assert.Equal((BuildState.Failed, FailureReasons.DependencyFailed), (record!.State, record.Reason));
        }
        Assert.Equal(BuildState.Failed, (await store.GetBuildAsync($"{batch}-base", CancellationToken.None))!.State);
    }

    [Fact]
    public async Task ManyDependenciesSucceedAtOnce_FanInPublishedExactlyOnce()
    {
        var (provider, harness, _) = await StartAsync();
        await using var __ = provider;
        var batch = Unique();
        var parents = Enumerable.Range(0, 12).Select(i => BatchGraphTests.Image($"p{i}") with { BuildId = $"{batch}-p{i}" }).ToList();
        var child = BatchGraphTests.Image("child", [.. parents.Select(p => BatchGraphTests.On(p.Name))]) with { BuildId = $"{batch}-child" };
        await harness.Bus.Publish(new SubmitBatch { BatchId = batch, Images = [.. parents, child], SubmittedAt = Records.T0 });
        Assert.True(await ImagePublishedAsync(harness, $"{batch}-p11"));

        await Task.WhenAll(parents.Select(p => harness.Bus.Publish(Success(batch, p.Name, BaseDigest))));

        Assert.True(await ImagePublishedAsync(harness, $"{batch}-child"));
        await harness.InactivityTask;
        Assert.Single(Published(harness, $"{batch}-child"));
    }

    [Fact]
    public async Task SubmitBatchPublishedTwice_RootsPublishedOnce()
    {
        var (provider, harness, _) = await StartAsync();
        await using var _ = provider;
        var batch = Unique();

        await harness.Bus.Publish(Diamond(batch));
        await harness.Bus.Publish(Diamond(batch));

        Assert.True(await SeenAsync(harness.Consumed.Select<SubmitBatch>(), m => m.Context.Message.BatchId == batch));
        await harness.InactivityTask;
        Assert.Equal(2, harness.Consumed.Select<SubmitBatch>().Count(m => m.Context.Message.BatchId == batch));
        Assert.Single(Published(harness, $"{batch}-base"));
        Assert.Single(Published(harness, $"{batch}-tool"));
    }

    [Fact]
    public async Task SubmitBatch_RecordsMadeByTheApiFirst_OrchestratorAddsDependencyArgsAndProceeds()
    {
        var (provider, harness, store) = await StartAsync();
        await using var _ = provider;
        var batch = Unique();
        var submit = Diamond(batch);
        await CreateAsTheApiDoesAsync(store, submit);

        await harness.Bus.Publish(submit);
        Assert.True(await ImagePublishedAsync(harness, $"{batch}-base"));
        await harness.Bus.Publish(Success(batch, "base", BaseDigest));

        Assert.True(await ImagePublishedAsync(harness, $"{batch}-py"));
        Assert.Equal($"registry.example.com/team/base@{BaseDigest}", Assert.Single(Published(harness, $"{batch}-py")).Spec.BuildArgs["BASE_IMAGE"]);
    }

    /// <summary>The diamond's images' expected seconds: base 100, py 50, node 10, app 5, tool 20.</summary>
    private static async Task<IImageDurations> DiamondDurationsAsync()
    {
        var durations = new InMemoryImageDurations(new ImageDurationOptions(), TimeProvider.System);
        var seconds = new Dictionary<string, double> { ["base"] = 100, ["py"] = 50, ["node"] = 10, ["app"] = 5, ["tool"] = 20 };
        await durations.RecordAsync([.. BatchGraphTests.Diamond().Select(i => new DurationSample(ImageDurations.KeyOf(i.Spec.Destinations), seconds[i.Name]))],
            CancellationToken.None);
        return durations;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SubmitBatch_RemainingPathsFromHistory_StoredAndSentWithEachBuild(bool apiCreatedTheRecords)
    {
        var (provider, harness, store) = await StartAsync(await DiamondDurationsAsync());
        await using var _ = provider;
        var batch = Unique();
        var submit = Diamond(batch);
        if (apiCreatedTheRecords)
        {
            await CreateAsTheApiDoesAsync(store, submit);
        }

        await harness.Bus.Publish(submit);

        Assert.True(await ImagePublishedAsync(harness, $"{batch}-base"));
        Assert.True(await ImagePublishedAsync(harness, $"{batch}-tool"));
        AssertNoFaults(harness);
        // base: 100 + py's 50 + app's 5; tool alone 20.
        Assert.Equal(155, Assert.Single(Published(harness, $"{batch}-base")).CriticalPathSeconds);
        Assert.Equal(20, Assert.Single(Published(harness, $"{batch}-tool")).CriticalPathSeconds);
        var records = (await store.GetBatchBuildsAsync(batch, CancellationToken.None)).ToDictionary(r => r.Name!, r => r.Stored().PathSeconds);
        Assert.Equal(new Dictionary<string, double?> { ["app"] = 5, ["py"] = 55, ["node"] = 15, ["base"] = 155, ["tool"] = 20 }, records);

        await harness.Bus.Publish(Success(batch, "base", BaseDigest));
        Assert.True(await ImagePublishedAsync(harness, $"{batch}-py"));
        Assert.Equal(55, Assert.Single(Published(harness, $"{batch}-py")).CriticalPathSeconds);
    }

    [Fact]
    public async Task SubmitBatch_RecordsMadeByTheApiFirst_ReverseEdgesAdded()
    {
        var (provider, harness, store) = await StartAsync();
        await using var _ = provider;
        var batch = Unique();
        var submit = Diamond(batch);
        await CreateAsTheApiDoesAsync(store, submit);

        await harness.Bus.Publish(submit);

        Assert.True(await ImagePublishedAsync(harness, $"{batch}-base"));
        var records = (await store.GetBatchBuildsAsync(batch, CancellationToken.None)).ToDictionary(r => r.Name!);
        Assert.Equal([$"{batch}-py", $"{batch}-node"], records["base"].Stored().Dependents);
        Assert.Equal([$"{batch}-app"], records["py"].Stored().Dependents);
        Assert.Equal([], records["app"].Stored().Dependents);
        Assert.Equal([], records["tool"].Stored().Dependents);
    }

    [Fact]
    public async Task BatchInFlightFromBeforeReverseEdges_FallsBackToTheWholeBatch_ReleasesAndFailsAsBefore()
    {
        var (provider, harness, store) = await StartAsync();
        await using var _ = provider;
        var batch = Unique();
        var images = Diamond(batch).Images;
        // What the orchestrator wrote before it kept reverse edges: no Dependents; the roots already released.
        await store.CreateBatchAsync(new BatchRecord { BatchId = batch, Members = [.. images.Select(i => new BatchMember(i.Name, i.BuildId))] },
            [.. images.Select(i => Records.Build(i.BuildId, i.DependsOn.Count == 0 ? BuildState.Queued : BuildState.Waiting, batch).Stored() with
            {
                Name = i.Name,
                Spec = i.Spec,
                DependsOn = [.. i.DependsOn.Select(d => $"{batch}-{d.Image}")],
                DependencyBuildArgs = i.DependsOn.ToDictionary(d => d.BuildArg!, d => $"{batch}-{d.Image}"),
                ReleasedBy = i.DependsOn.Count == 0 ? "old-orchestrator" : null,
            })], CancellationToken.None);

        await harness.Bus.Publish(Success(batch, "base", BaseDigest));

        Assert.True(await ImagePublishedAsync(harness, $"{batch}-node"));
        Assert.True(await ImagePublishedAsync(harness, $"{batch}-py"));
        Assert.Equal($"registry.example.com/team/base@{BaseDigest}", Assert.Single(Published(harness, $"{batch}-py")).Spec.BuildArgs["BASE_IMAGE"]);

        await harness.Bus.Publish(new BuildFailed { BuildId = $"{batch}-py", BatchId = batch, Reason = FailureReasons.Unauthorized, Attempts = 1, At = Records.T0 });

        Assert.True(await SeenAsync(harness.Published.Select<BuildFailed>(), m => m.Context.Message.BuildId == $"{batch}-app"));
        await harness.InactivityTask;
        AssertNoFaults(harness);
        var app = Assert.Single(harness.Published.Select<BuildFailed>(), m => m.Context.Message.BuildId == $"{batch}-app").Context.Message;
        Assert.Equal($"dependency 'py' (build {batch}-py) failed: unauthorized", app.Detail);
        Assert.Empty(Published(harness, $"{batch}-app"));
        Assert.Empty(Published(harness, $"{batch}-base")); // released by the old orchestrator: not again
    }

    [Fact]
    public async Task MiddleOfADiamondFailsWhileTheOtherSideSucceeds_AppFailedOnceNamingTheFailure()
    {
        var (provider, harness, store) = await StartAsync();
        await using var _ = provider;
        var batch = Unique();
        await harness.Bus.Publish(Diamond(batch));
        Assert.True(await ImagePublishedAsync(harness, $"{batch}-base"));
        await harness.Bus.Publish(Success(batch, "base", BaseDigest));
        Assert.True(await ImagePublishedAsync(harness, $"{batch}-node"));
        Assert.True(await ImagePublishedAsync(harness, $"{batch}-py"));

        await Task.WhenAll(
            harness.Bus.Publish(new BuildFailed { BuildId = $"{batch}-py", BatchId = batch, Reason = FailureReasons.StepFailed, Attempts = 1, At = Records.T0 }),
            harness.Bus.Publish(Success(batch, "node", "sha256:" + new string('d', 64))));

        Assert.True(await SeenAsync(harness.Published.Select<BuildFailed>(), m => m.Context.Message.BuildId == $"{batch}-app"));
        await harness.InactivityTask;
        AssertNoFaults(harness);
        var app = Assert.Single(harness.Published.Select<BuildFailed>(), m => m.Context.Message.BuildId == $"{batch}-app").Context.Message;
        Assert.Equal($"dependency 'py' (build {batch}-py) failed: step_failed", app.Detail);
        Assert.Empty(Published(harness, $"{batch}-app"));
        Assert.Equal(FailureReasons.DependencyFailed, (await store.GetBuildAsync($"{batch}-app", CancellationToken.None))!.Reason);
    }

    [Fact]
    public async Task EndEventRedelivered_RepeatsItsOwnPublishes_AnotherMessageOfTheSameEventDoesNot()
    {
        var (provider, harness, _) = await StartAsync();
        await using var _ = provider;
        var batch = Unique();
        await harness.Bus.Publish(Diamond(batch));
        Assert.True(await ImagePublishedAsync(harness, $"{batch}-base"));
        var messageId = NewId.NextGuid();

        await harness.Bus.Publish(Success(batch, "base", BaseDigest), c => c.MessageId = messageId);
        Assert.True(await ImagePublishedAsync(harness, $"{batch}-py"));
        await harness.InactivityTask;
        await harness.Bus.Publish(Success(batch, "base", BaseDigest), c => c.MessageId = messageId); // the same message again
        await harness.Bus.Publish(Success(batch, "base", BaseDigest)); // the same event, another message

        Assert.True(await SeenAsync(harness.Consumed.Select<BuildSucceeded>(), m => m.Context.MessageId != messageId));
        Assert.True(await SeenAsync(harness.Published.Select<BuildImage>(), m => m.Context.Message.BuildId == $"{batch}-node" && Published(harness, $"{batch}-node").Count == 2));
        await harness.InactivityTask;
        AssertNoFaults(harness);
        Assert.Equal(2, Published(harness, $"{batch}-py").Count);
        Assert.Equal(2, Published(harness, $"{batch}-node").Count);
        Assert.Empty(Published(harness, $"{batch}-app"));
    }

    [Fact]
    public async Task FailureRedelivered_WalksItsOwnClaimsAgain_GrandchildFailedAgainNamingTheOrigin()
    {
        var (provider, harness, store) = await StartAsync();
        await using var _ = provider;
        var batch = Unique();
        await harness.Bus.Publish(new SubmitBatch
        {
            BatchId = batch, SubmittedAt = Records.T0,
            Images =
            [
                BatchGraphTests.Image("a") with { BuildId = $"{batch}-a" },
                BatchGraphTests.Image("b", BatchGraphTests.On("a")) with { BuildId = $"{batch}-b" },
                BatchGraphTests.Image("c", BatchGraphTests.On("b")) with { BuildId = $"{batch}-c" },
            ],
        });
        Assert.True(await ImagePublishedAsync(harness, $"{batch}-a"));
        var failure = new BuildFailed { BuildId = $"{batch}-a", BatchId = batch, Reason = FailureReasons.Unauthorized, Attempts = 1, At = Records.T0 };
        var messageId = NewId.NextGuid();

        await harness.Bus.Publish(failure, c => c.MessageId = messageId);
        Assert.True(await SeenAsync(harness.Published.Select<BuildFailed>(), m => m.Context.Message.BuildId == $"{batch}-c"));
        await harness.InactivityTask;
        // The grandchild is claimed either by this message's walk or by the walk of b's own BuildFailed (whichever
        // reaches it first): only the message holding a claim publishes again when it is redelivered.
        var grandchildOurs = (await store.GetBuildAsync($"{batch}-c", CancellationToken.None))!.Stored().ReleasedBy == messageId.ToString("N");
        await harness.Bus.Publish(failure, c => c.MessageId = messageId);

        Assert.True(await SeenAsync(harness.Published.Select<BuildFailed>(), m => m.Context.Message.BuildId == $"{batch}-b"
            && harness.Published.Select<BuildFailed>().Count(x => x.Context.Message.BuildId == $"{batch}-b") == 2));
        // Waited for, not left to the harness's inactivity timer (a stall of a loaded machine outlasts it): the
        // grandchild's second failure when the redelivered message holds its claim; then nothing more.
        List<BuildFailed> GrandchildFailures() =>
            [.. harness.Published.Select<BuildFailed>().Where(m => m.Context.Message.BuildId == $"{batch}-c").Select(m => m.Context.Message)];
        await Eventually.UntilAsync(() => Task.FromResult(GrandchildFailures().Count >= (grandchildOurs ? 2 : 1)), "the grandchild's failures");
        await harness.InactivityTask;
        AssertNoFaults(harness);
        var c = GrandchildFailures();
        Assert.Equal(grandchildOurs ? 2 : 1, c.Count);
        Assert.All(c, m => Assert.Equal($"dependency 'a' (build {batch}-a) failed: unauthorized", m.Detail));
        Assert.Equal(2, harness.Published.Select<BuildFailed>().Count(m => m.Context.Message.BuildId == $"{batch}-b"));
    }

    [Fact]
    public async Task SubmitBatch_Cycle_EveryImageFailedNothingPublished()
    {
        var (provider, harness, _) = await StartAsync();
        await using var _ = provider;
        var batch = Unique();

        await harness.Bus.Publish(new SubmitBatch
        {
            BatchId = batch, SubmittedAt = Records.T0,
            Images = [BatchGraphTests.Image("a", BatchGraphTests.On("b")) with { BuildId = $"{batch}-a" }, BatchGraphTests.Image("b", BatchGraphTests.On("a")) with { BuildId = $"{batch}-b" }],
        });

        Assert.True(await SeenAsync(harness.Published.Select<BuildFailed>(), m => m.Context.Message.BuildId == $"{batch}-b"));
        await harness.InactivityTask;
        Assert.Empty(harness.Published.Select<BuildImage>());
        var failed = harness.Published.Select<BuildFailed>().Single(m => m.Context.Message.BuildId == $"{batch}-a").Context.Message;
        Assert.Contains("dependency cycle", failed.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Projector_EventsOfAPlainBuild_RecordFollows()
    {
        var (provider, harness, store) = await StartAsync();
        await using var _ = provider;
        var id = Unique();
        await store.CreateBuildAsync(Records.Build(id), CancellationToken.None);

        await harness.Bus.Publish(new BuildStarted { BuildId = id, Attempt = 1, Pod = $"bf-{id}-1", At = Records.T0 });
        await harness.Bus.Publish(new BuildSucceeded { BuildId = id, Digest = BaseDigest, Attempts = 1, At = Records.T0.AddSeconds(5) });

        // The two events may be applied in either order (concurrent consumers): wait for both.
        await Eventually.UntilAsync(async () => await store.GetBuildAsync(id, CancellationToken.None) is { State: BuildState.Succeeded, Attempts.Count: 1 },
            "the record to succeed with its attempt");
        var record = await store.GetBuildAsync(id, CancellationToken.None);
        Assert.Equal(($"bf-{id}-1", BaseDigest), (record!.Attempts[0].Pod, record.Digest));
    }

    [Fact]
    public async Task Projector_UnknownBuild_MinimalRecordFromOutcome_BuildQueuedDropped()
    {
        var (provider, harness, store) = await StartAsync();
        await using var _ = provider;
        var (known, dropped) = (Unique(), Unique());

        await harness.Bus.Publish(new BuildSucceeded { BuildId = known, Digest = BaseDigest, Pushed = [$"r.example.com/x@{BaseDigest}"], At = Records.T0 });
        await harness.Bus.Publish(new BuildQueued { BuildId = dropped, BuildKey = "k", QueuedAt = Records.T0 });

        await Eventually.UntilAsync(async () => await store.GetBuildAsync(known, CancellationToken.None) is not null, "the minimal record");
        Assert.True(await SeenAsync(harness.Consumed.Select<BuildQueued>(), m => m.Context.Message.BuildId == dropped));
        await harness.InactivityTask;
        var record = await store.GetBuildAsync(known, CancellationToken.None);
        Assert.Equal((BuildState.Succeeded, BaseDigest), (record!.State, record.Digest));
        Assert.Equal(["r.example.com/x"], record.Spec.Destinations);
        Assert.Null(await store.GetBuildAsync(dropped, CancellationToken.None));
    }

    [Fact]
    public async Task ApplyAsync_RedeliveredEvent_SecondTimeNoChange()
    {
        var (provider, _, store) = await StartAsync();
        await using var _ = provider;
        var id = Unique();
        await store.CreateBuildAsync(Records.Build(id), CancellationToken.None);
        var started = new BuildStarted { BuildId = id, Attempt = 1, Pod = "p", At = Records.T0 };

        Assert.NotNull(await BuildStatusProjector.ApplyAsync(store, started, NullLogger.Instance, CancellationToken.None));
        Assert.Null(await BuildStatusProjector.ApplyAsync(store, started, NullLogger.Instance, CancellationToken.None));
        Assert.Equal(2, (await store.GetBuildAsync(id, CancellationToken.None))!.Version);
    }
}

public sealed class InMemoryConsumerTests : ConsumerTests
{
    protected override void ConfigureStore(BuildFarm.Status.Stores.BuildStatusStoreOptions options) => options.RedisConnectionString = null;
}

[NeedsServer(Server.Redis)]
public sealed class RedisConsumerTests : ConsumerTests
{
    protected override void ConfigureStore(BuildFarm.Status.Stores.BuildStatusStoreOptions options)
    {
        options.RedisConnectionString = TestRedis.ConnectionString;
        options.KeyPrefix = TestRedis.UniquePrefix();
    }
}
