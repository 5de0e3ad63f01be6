using BuildFarm.Contracts;
using BuildFarm.Status.Projection;

namespace BuildFarm.Status.Tests;

public sealed class BuildRecordReducerTests
{
    private const string Digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    private static readonly DateTimeOffset T0 = Records.T0;

    private static BuildRecord Queued() => Records.Build("b1") with { Version = 1 };

    private static BuildRecord Fold(BuildRecord record, params object[] events)
    {
        foreach (var e in events)
        {
            record = BuildRecordReducer.Apply(record, e)?.Record ?? record;
        }
        return record;
    }

    private static BuildStarted Started(int attempt, int seconds = 1) =>
        new() { BuildId = "b1", Attempt = attempt, Pod = $"bf-b1-{attempt}", At = T0.AddSeconds(seconds) };

    private static BuildAttemptFailed AttemptFailed(int attempt, bool transient, int seconds = 2) => new()
    {
        BuildId = "b1", Attempt = attempt, Reason = transient ? FailureReasons.ConnectionReset : FailureReasons.StepFailed, Transient = transient,
        RetryAt = transient ? T0.AddSeconds(seconds + 1) : null, Detail = "boom", At = T0.AddSeconds(seconds),
    };

    private static BuildSucceeded Succeeded(int attempts = 1, int seconds = 10) => new()
    {
        BuildId = "b1", Digest = Digest, Pushed = [$"registry.example.com/team/b1@{Digest}"],
        PhaseSeconds = new Dictionary<string, double> { ["push"] = 1.5 }, Attempts = attempts, Resets = 2, At = T0.AddSeconds(seconds),
    };

    private static BuildFailed Failed(string reason = FailureReasons.StepFailed, int seconds = 10) =>
        new() { BuildId = "b1", Reason = reason, Detail = "RUN make failed", Attempts = 1, At = T0.AddSeconds(seconds) };

    [Fact]
    public void Started_QueuedBuild_RunningWithAttemptAndPod()
    {
        var change = BuildRecordReducer.Apply(Queued(), Started(1));

        Assert.NotNull(change);
        Assert.Equal("started", change.Event);
        Assert.Equal(BuildState.Running, change.Record.State);
        Assert.Equal(T0.AddSeconds(1), change.Record.StartedAt);
        var attempt = Assert.Single(change.Record.Attempts);
        Assert.Equal((1, "bf-b1-1", (DateTimeOffset?)T0.AddSeconds(1)), (attempt.Attempt, attempt.Pod, attempt.StartedAt));
    }

    [Fact]
    public void Started_Redelivered_NoChange()
    {
        var running = Fold(Queued(), Started(1));

        Assert.Null(BuildRecordReducer.Apply(running, Started(1)));
        Assert.Null(BuildRecordReducer.Apply(running, Started(1, seconds: 5))); // a second worker adopting the same pod
    }

    [Fact]
    public void Started_MemoryLimitAndRaise_KeptOnTheAttempt_RedeliveredEventChangesNothing()
    {
        var first = Started(1) with { MemoryLimit = "1Gi" };
        var raised = Started(2, seconds: 4) with { MemoryLimit = "2Gi", MemoryRaised = true };

        var record = Fold(Queued(), first, AttemptFailed(1, transient: true, seconds: 2), raised);

        Assert.Equal([(1, "1Gi", (bool?)null), (2, "2Gi", true)], record.Attempts.Select(a => (a.Attempt, a.MemoryLimit, a.MemoryRaised)));
        Assert.Null(BuildRecordReducer.Apply(record, raised));
        // An event of an older worker (no memory figure) does not erase it.
        Assert.Null(BuildRecordReducer.Apply(record, Started(2, seconds: 4)));
    }

    [Fact]
    public void AttemptFailed_Transient_RetryingWithReason()
    {
        var change = BuildRecordReducer.Apply(Fold(Queued(), Started(1)), AttemptFailed(1, transient: true));

        Assert.Equal(BuildState.Retrying, change!.Record.State);
        Assert.Equal("attempt_failed", change.Event);
        var attempt = Assert.Single(change.Record.Attempts);
        Assert.Equal((FailureReasons.ConnectionReset, true, (DateTimeOffset?)T0.AddSeconds(2)), (attempt.Reason, attempt.Transient, attempt.EndedAt));
        Assert.Equal(T0.AddSeconds(3), attempt.RetryAt);
    }

    [Fact]
    public void AttemptFailed_Resets_KeptOverALaterSuccessThatCountedFewer_AndOnFailure()
    {
        // Attempt 1 saw 4 resets; a redelivered message that could not re-read them reports 2 on success.
        var succeeded = Fold(Queued(), Started(1), AttemptFailed(1, transient: true) with { Resets = 4 }, Started(2, seconds: 4), Succeeded(attempts: 2));
        Assert.Equal(4, succeeded.Resets);

        var failed = Fold(Queued(), Started(1), AttemptFailed(1, transient: false) with { Resets = 3 }, Failed());
        Assert.Equal(3, failed.Resets);

        // The same attempt again (a redelivered publish) with more resets still raises the count.
        var again = Fold(Queued(), Started(1), AttemptFailed(1, transient: true), AttemptFailed(1, transient: true) with { Resets = 5 });
        Assert.Equal(5, again.Resets);
    }

    [Fact]
    public void AttemptFailed_Permanent_StateWaitsForBuildFailed()
    {
        var change = BuildRecordReducer.Apply(Fold(Queued(), Started(1)), AttemptFailed(1, transient: false));

        Assert.Equal(BuildState.Running, change!.Record.State);
        Assert.Equal(FailureReasons.StepFailed, change.Record.Attempts[0].Reason);
    }

    [Fact]
    public void AttemptFailed_Redelivered_NoChange()
    {
        var retrying = Fold(Queued(), Started(1), AttemptFailed(1, true));
        Assert.Null(BuildRecordReducer.Apply(retrying, AttemptFailed(1, true)));
    }

    [Fact]
    public void SecondAttempt_Started_RunningAgainWithBothAttempts()
    {
        var record = Fold(Queued(), Started(1), AttemptFailed(1, true), Started(2, seconds: 4));

        Assert.Equal(BuildState.Running, record.State);
        Assert.Equal([1, 2], record.Attempts.Select(a => a.Attempt));
        Assert.Equal(T0.AddSeconds(1), record.StartedAt);
    }

    [Fact]
    public void LateAttemptFailedOfAnOlderAttempt_FillsItInWithoutLeavingRunning()
    {
        // Attempt 2 started before attempt 1's failure arrived.
        var record = Fold(Queued(), Started(1), Started(2, seconds: 4), AttemptFailed(1, true));

        Assert.Equal(BuildState.Running, record.State);
        Assert.Equal(FailureReasons.ConnectionReset, record.Attempts[0].Reason);
        Assert.Null(record.Attempts[1].EndedAt);
    }

    [Fact]
    public void LateStartedOfAnOlderAttempt_DoesNotMoveStateBack()
    {
        var retrying = Fold(Queued(), Started(2, seconds: 4), AttemptFailed(2, true, seconds: 5));

        var record = Fold(retrying, Started(1));

        Assert.Equal(BuildState.Retrying, record.State);
        Assert.Equal([1, 2], record.Attempts.Select(a => a.Attempt));
        Assert.Equal(T0.AddSeconds(1), record.StartedAt); // the earliest start
    }

    [Fact]
    public void Succeeded_Running_SucceededWithDigestPhasesResetsAndAttemptClosed()
    {
        var change = BuildRecordReducer.Apply(Fold(Queued(), Started(1)), Succeeded());

        var r = change!.Record;
        Assert.Equal("succeeded", change.Event);
        Assert.Equal((BuildState.Succeeded, Digest, 2, (DateTimeOffset?)T0.AddSeconds(10)), (r.State, r.Digest, r.Resets, r.EndedAt));
        Assert.Equal([$"registry.example.com/team/b1@{Digest}"], r.Pushed);
        Assert.Equal(1.5, r.PhaseSeconds["push"]);
        Assert.Equal(T0.AddSeconds(10), r.Attempts[0].EndedAt);
        Assert.Null(r.Attempts[0].Reason);
    }

    [Fact]
    public void Succeeded_Redelivered_NoChange()
    {
        var done = Fold(Queued(), Started(1), Succeeded());
        Assert.Null(BuildRecordReducer.Apply(done, Succeeded()));
    }

    [Fact]
    public void LateStarted_AfterSucceeded_DoesNotReopen()
    {
        var done = Fold(Queued(), Succeeded());

        var record = Fold(done, Started(1));

        Assert.Equal(BuildState.Succeeded, record.State);
        Assert.Equal("bf-b1-1", Assert.Single(record.Attempts).Pod); // the attempt's details still land
    }

    [Fact]
    public void LateAttemptFailed_AfterSucceeded_StaysSucceeded()
    {
        var record = Fold(Queued(), Started(2, seconds: 4), Succeeded(attempts: 2), AttemptFailed(1, true));

        Assert.Equal(BuildState.Succeeded, record.State);
        Assert.Equal(FailureReasons.ConnectionReset, record.Attempts[0].Reason);
    }

    [Fact]
    public void Failed_Running_FailedWithReasonDetailAndOpenAttemptClosed()
    {
        var change = BuildRecordReducer.Apply(Fold(Queued(), Started(1)), Failed());

        Assert.Equal((BuildState.Failed, FailureReasons.StepFailed, "RUN make failed"), (change!.Record.State, change.Record.Reason, change.Record.Detail));
        Assert.Equal(FailureReasons.StepFailed, change.Record.Attempts[0].Reason);
        Assert.Equal("failed", change.Event);
    }

    [Theory]
    [InlineData(BuildState.Succeeded)]
    [InlineData(BuildState.Failed)]
    [InlineData(BuildState.Cancelled)]
    public void FinalStates_Stick(BuildState final)
    {
        var record = Queued() with { State = final, Reason = final == BuildState.Succeeded ? null : "x", Digest = final == BuildState.Succeeded ? Digest : null };

        foreach (var e in new object[]
        {
            Failed(), new BuildCancelled { BuildId = "b1", At = T0 }, new BuildQueued { BuildId = "b1", BuildKey = "k" },
            new BuildDeduplicated { BuildId = "b1", OriginalBuildId = "o", Kind = "completed", Reason = FailureReasons.StepFailed },
        })
        {
            Assert.Equal(final, Fold(record, e).State);
        }
        if (final != BuildState.Succeeded)
        {
            Assert.Equal(final, Fold(record, Succeeded()).State);
        }
    }

    [Fact]
    public void Cancelled_Running_CancelledNamingWhoAsked()
    {
        var change = BuildRecordReducer.Apply(Fold(Queued(), Started(1)),
            new BuildCancelled { BuildId = "b1", RequestedBy = "ci-key", Attempts = 1, At = T0.AddSeconds(3) });

        Assert.Equal((BuildState.Cancelled, FailureReasons.Cancelled, "cancelled by ci-key"), (change!.Record.State, change.Record.Reason, change.Record.Detail));
        Assert.Equal(FailureReasons.Cancelled, change.Record.Attempts[0].Reason);
    }

    [Fact]
    public void Deduplicated_WithDigest_SucceededFromTheOriginal_ThenBuildSucceededFillsInPushed()
    {
        var dedupe = new BuildDeduplicated { BuildId = "b1", OriginalBuildId = "b0", Kind = "completed", Digest = Digest, At = T0.AddSeconds(1) };

        var record = Fold(Queued(), dedupe);
        Assert.Equal((BuildState.Succeeded, Digest, "b0"), (record.State, record.Digest, record.DeduplicatedFrom));
        Assert.Empty(record.Pushed);

        var filled = BuildRecordReducer.Apply(record, Succeeded(attempts: 0));
        Assert.Equal([$"registry.example.com/team/b1@{Digest}"], filled!.Record.Pushed);
        Assert.Equal(BuildState.Succeeded, filled.Record.State);
        Assert.Null(BuildRecordReducer.Apply(filled.Record, Succeeded(attempts: 0)));
        Assert.Null(BuildRecordReducer.Apply(filled.Record, dedupe));
    }

    [Fact]
    public void Deduplicated_AfterSucceeded_OnlyRecordsTheOriginal()
    {
        var record = Fold(Queued(), Succeeded(attempts: 0),
            new BuildDeduplicated { BuildId = "b1", OriginalBuildId = "b0", Kind = "in_flight", Digest = Digest, At = T0 });

        Assert.Equal(("b0", BuildState.Succeeded, T0.AddSeconds(10)), (record.DeduplicatedFrom, record.State, record.EndedAt));
    }

    [Fact]
    public void Deduplicated_WithReason_FailedNamingTheOriginal()
    {
        var record = Fold(Queued(), new BuildDeduplicated { BuildId = "b1", OriginalBuildId = "b0", Kind = "in_flight", Reason = FailureReasons.Unauthorized, At = T0 });

        Assert.Equal((BuildState.Failed, FailureReasons.Unauthorized, "b0"), (record.State, record.Reason, record.DeduplicatedFrom));
        Assert.Contains("b0", record.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Queued_WaitingWithoutDependencies_Queued_WithDependenciesStaysWaiting()
    {
        var queued = new BuildQueued { BuildId = "b1", BuildKey = "k", QueuedAt = T0 };

        Assert.Equal(BuildState.Queued, BuildRecordReducer.Apply(Queued() with { State = BuildState.Waiting }, queued)!.Record.State);
        Assert.Null(BuildRecordReducer.Apply(Queued() with { State = BuildState.Waiting, DependsOn = ["b0"] }, queued));
        Assert.Null(BuildRecordReducer.Apply(Queued(), queued));
    }

    [Fact]
    public void EveryOrderOfOneBuildsEvents_EndsSucceededWithBothAttempts()
    {
        object[] events = [Started(1), AttemptFailed(1, true, 2), Started(2, 4), Succeeded(attempts: 2)];
        foreach (var order in Permutations(events))
        {
            var record = Fold(Queued(), [.. order]);
            Assert.Equal(BuildState.Succeeded, record.State);
            Assert.Equal([1, 2], record.Attempts.Select(a => a.Attempt));
            Assert.Equal(FailureReasons.ConnectionReset, record.Attempts[0].Reason);
            Assert.Equal("bf-b1-2", record.Attempts[1].Pod);
            Assert.Equal(T0.AddSeconds(1), record.StartedAt);
            // And every event applied again changes nothing.
            Assert.All(events, e => Assert.Null(BuildRecordReducer.Apply(record, e)));
        }
    }

    [Fact]
    public void Minimal_UnknownBuild_FromOutcomeEventsOnly()
    {
        var fromSuccess = BuildRecordReducer.Minimal(Succeeded() with { BatchId = "batch-1" });
        Assert.NotNull(fromSuccess);
        Assert.Equal(("b1", "batch-1", ""), (fromSuccess.BuildId, fromSuccess.BatchId, fromSuccess.Spec.Context));
        Assert.Equal(["registry.example.com/team/b1"], fromSuccess.Spec.Destinations);
        Assert.NotNull(BuildRecordReducer.Minimal(Started(1)));
        Assert.NotNull(BuildRecordReducer.Minimal(Failed()));

        Assert.Null(BuildRecordReducer.Minimal(new BuildQueued { BuildId = "b1", BuildKey = "k" }));
        Assert.Null(BuildRecordReducer.Minimal(new BuildDeduplicated { BuildId = "b1", OriginalBuildId = "b0", Kind = "in_flight" }));
    }

    [Fact]
    public void Apply_NotABuildEvent_RejectedNamingIt()
    {
        var error = Assert.Throws<ArgumentException>(() => BuildRecordReducer.Apply(Queued(), "hello"));
        Assert.Contains("String is not a build event", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EventFor_EveryState_HasAName()
    {
        Assert.All(Enum.GetValues<BuildState>(), s => Assert.False(string.IsNullOrEmpty(BuildRecordReducer.EventFor(s))));
        Assert.Equal("succeeded", BuildRecordReducer.EventFor(BuildState.Succeeded));
    }

    private static IEnumerable<IReadOnlyList<object>> Permutations(IReadOnlyList<object> items)
    {
        if (items.Count <= 1)
        {
            yield return items;
            yield break;
        }
        for (var i = 0; i < items.Count; i++)
        {
            var rest = items.Where((_, j) => j != i).ToList();
            foreach (var tail in Permutations(rest))
            {
                yield return [items[i], .. tail];
            }
        }
    }

    [Fact]
    public void MultiPlatform_EachPlatformNumbersItsOwnAttempts_AndTheSuccessKeepsEveryPlatformsDigest()
    {
        const string Arm = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
        const string Amd = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
        BuildStarted StartedOn(string platform, int attempt, int seconds) =>
            new() { BuildId = "b1", Attempt = attempt, Platform = platform, Pod = $"bf-b1-{attempt}-{platform.Replace('/', '-')}", At = T0.AddSeconds(seconds) };

        var record = Fold(Queued(), StartedOn("linux/amd64", 1, 1), StartedOn("linux/arm64", 1, 1),
            AttemptFailed(1, transient: true, seconds: 2) with { Platform = "linux/arm64" });
        // Two attempts numbered 1, one per platform: the arm64 one failed, the amd64 one still runs.
        Assert.Equal(2, record.Attempts.Count);
        Assert.Null(record.Attempts.Single(a => a.Platform == "linux/amd64").EndedAt);
        Assert.Equal(FailureReasons.ConnectionReset, record.Attempts.Single(a => a.Platform == "linux/arm64").Reason);
        Assert.Equal(BuildState.Retrying, record.State);

        record = Fold(record, StartedOn("linux/arm64", 2, 4), Succeeded(attempts: 2) with
        {
            Platforms = [new PlatformImage { Platform = "linux/amd64", Digest = Amd }, new PlatformImage { Platform = "linux/arm64", Digest = Arm }],
        });
        Assert.Equal(BuildState.Succeeded, record.State);
        Assert.Equal(Digest, record.Digest);
        Assert.Equal([("linux/amd64", Amd), ("linux/arm64", Arm)], record.Platforms.Select(p => (p.Platform, p.Digest)));
        Assert.Equal([(1, "linux/amd64"), (1, "linux/arm64"), (2, "linux/arm64")], record.Attempts.Select(a => (a.Attempt, a.Platform!)));
        Assert.All(record.Attempts, a => Assert.NotNull(a.EndedAt));
    }

    [Fact]
    public void MultiPlatform_ALateStartOfOnePlatformDoesNotMoveTheBuildBackWhileAnotherPlatformsLaterAttemptRuns()
    {
        var record = Fold(Queued(),
            new BuildStarted { BuildId = "b1", Attempt = 1, Platform = "linux/amd64", Pod = "bf-b1-1-linux-amd64", At = T0.AddSeconds(1) },
            AttemptFailed(1, transient: true, seconds: 2) with { Platform = "linux/amd64" });
        Assert.Equal(BuildState.Retrying, record.State);
        // arm64's first attempt starts now: it is that platform's latest, so the build runs again.
        record = Fold(record, new BuildStarted { BuildId = "b1", Attempt = 1, Platform = "linux/arm64", Pod = "bf-b1-1-linux-arm64", At = T0.AddSeconds(3) });
        Assert.Equal(BuildState.Running, record.State);
    }
}
