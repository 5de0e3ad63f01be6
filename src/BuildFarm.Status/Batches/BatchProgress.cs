using BuildFarm.Contracts;
using BuildFarm.Kaniko.Specs;
using BuildFarm.Status.Projection;

namespace BuildFarm.Status.Batches;

/// <summary>What the orchestrator must do next for a batch, from its builds' records.</summary>
/// <param name="Release">Builds whose dependencies all succeeded: publish each with its spec (pinned build args added).</param>
/// <param name="Fail">Builds that can never run because a dependency failed, each with the detail naming it.</param>
public sealed record BatchPlan(IReadOnlyList<ReleaseStep> Release, IReadOnlyList<FailStep> Fail);

public sealed record ReleaseStep(BuildRecord Build, BuildSpec Spec);

public sealed record FailStep(BuildRecord Build, string Detail);

/// <summary>How a claim on a waiting build went (see <see cref="BatchProgress.ClaimRelease"/>).</summary>
public enum ClaimOutcome
{
    /// <summary>This message took the build: publish.</summary>
    Claimed,

    /// <summary>This message had taken it before (a redelivery): publish again (at-least-once).</summary>
    AlreadyOurs,

    /// <summary>Another message took it, or the build already moved on: do nothing.</summary>
    Taken,
}

/// <summary>
/// The batch orchestrator's decisions, pure: which waiting builds to publish (all dependencies succeeded), with which
/// pinned build args, and which to end as <c>dependency_failed</c>. Each decision is carried out through a claim on the
/// build's record (<see cref="StoredBuildRecord.ReleasedBy"/>), written with the store's atomic update, so two orchestrators
/// (or a redelivery) deciding the same thing publish it once.
/// </summary>
public static class BatchProgress
{
    /// <summary>
    /// Everything to do now. A build is a candidate while nobody has claimed it (or <paramref name="token"/> did, so a
    /// redelivered message repeats its own publishes) and it has not started.
    /// </summary>
    public static BatchPlan Plan(IReadOnlyList<BuildRecord> builds, string token)
    {
        ArgumentNullException.ThrowIfNull(builds);
        ArgumentException.ThrowIfNullOrWhiteSpace(token);
        var graph = BatchGraph.FromRecords(builds);
        var byId = builds.ToDictionary(b => b.BuildId, StringComparer.Ordinal);
        var release = new List<ReleaseStep>();
        var fail = new List<FailStep>();
        // Nothing failed (the usual case, and always on submit): no candidate can be doomed, skip the ancestor searches.
        var anyFailed = builds.Any(b => b.State is BuildState.Failed or BuildState.Cancelled);
        foreach (var build in builds.Where(b => IsCandidate(b, token)))
        {
            var node = graph[build.BuildId];
            if (anyFailed && FailedAncestor(graph, byId, node) is { } failed)
            {
                fail.Add(new FailStep(build, FailureDetail(failed)));
            }
            else if (node.DependsOn.All(e => byId.TryGetValue(e.BuildId, out var d) && d.State == BuildState.Succeeded && d.Digest is not null))
            {
                release.Add(new ReleaseStep(build, SpecWithDependencies(build, node, byId)));
            }
        }
        return new BatchPlan(release, fail);
    }

    /// <summary>
    /// Everything to do now for <paramref name="subjects"/> only: the builds one event affects (the dependents of a build
    /// that ended, or one level of a failure's transitive dependents), knowing just the records in <paramref name="known"/>
    /// (the build that ended and the subjects' dependencies that were read). A candidate subject (see
    /// <see cref="IsCandidate"/>) with a failed or cancelled dependency in <paramref name="known"/> ends as
    /// <c>dependency_failed</c> (detail: <see cref="FailureDetail"/> of that dependency, one that failed on its own
    /// preferred); one whose dependencies are all in <paramref name="known"/> and succeeded is released. A dependency
    /// missing from <paramref name="known"/> counts as not done yet.
    /// </summary>
    public static BatchPlan PlanFor(IReadOnlyList<BuildRecord> subjects, IReadOnlyDictionary<string, BuildRecord> known, string token)
    {
        ArgumentNullException.ThrowIfNull(subjects);
        ArgumentNullException.ThrowIfNull(known);
        ArgumentException.ThrowIfNullOrWhiteSpace(token);
        var release = new List<ReleaseStep>();
        var fail = new List<FailStep>();
        foreach (var build in subjects.Where(b => IsCandidate(b, token)).DistinctBy(b => b.BuildId, StringComparer.Ordinal))
        {
            var node = BatchGraph.FromRecords([build])[build.BuildId];
            var dependencies = node.DependsOn.Select(e => known.GetValueOrDefault(e.BuildId)).ToList();
            var failed = dependencies.OfType<BuildRecord>().Where(d => d.State is BuildState.Failed or BuildState.Cancelled)
                .OrderBy(d => d.Reason == FailureReasons.DependencyFailed ? 1 : 0).FirstOrDefault();
            if (failed is not null)
            {
                fail.Add(new FailStep(build, FailureDetail(failed)));
            }
            else if (dependencies.All(d => d is { State: BuildState.Succeeded, Digest: not null }))
            {
                release.Add(new ReleaseStep(build, SpecWithDependencies(build, node, known)));
            }
        }
        return new BatchPlan(release, fail);
    }

    /// <summary>
    /// The detail a dependent of <paramref name="failed"/> ends with: it names the build that failed on its own. For a
    /// build that is itself <c>dependency_failed</c> that is its own detail (which names the origin), so grandchildren name
    /// the same build as children.
    /// </summary>
    public static string FailureDetail(BuildRecord failed)
    {
        ArgumentNullException.ThrowIfNull(failed);
        if (failed.State is not (BuildState.Failed or BuildState.Cancelled))
        {
            throw new InvalidOperationException($"build '{failed.BuildId}' has not failed (state {failed.State.ToWire()})");
        }
        return failed.State == BuildState.Failed && failed.Reason == FailureReasons.DependencyFailed && !string.IsNullOrWhiteSpace(failed.Detail)
            ? failed.Detail
            : Describe(failed);
    }

    /// <summary>
    /// Whether this message may decide <paramref name="build"/>: nobody has claimed it and it has not started, or
    /// <paramref name="token"/> holds the claim (a redelivered message repeats its own publishes).
    /// </summary>
    public static bool IsCandidate(BuildRecord build, string token)
    {
        ArgumentNullException.ThrowIfNull(build);
        var releasedBy = build.Stored().ReleasedBy;
        return string.Equals(releasedBy, token, StringComparison.Ordinal)
            || (releasedBy is null && build.State is BuildState.Waiting or BuildState.Queued);
    }

    /// <summary>The reference a dependent is built on: the repository of the dependency's first destination, tag stripped, at its digest.</summary>
    public static string PinnedReference(BuildRecord dependency)
    {
        ArgumentNullException.ThrowIfNull(dependency);
        if (dependency.Digest is null)
        {
            throw new InvalidOperationException($"build '{dependency.BuildId}' has no digest (state {dependency.State.ToWire()})");
        }
        if (dependency.Spec.Destinations.Count == 0)
        {
            throw new InvalidOperationException($"build '{dependency.BuildId}' has no destination to pin");
        }
        return $"{ImageReference.Parse(dependency.Spec.Destinations[0].Trim()).Name}@{dependency.Digest}";
    }

    /// <summary>Takes a waiting build for publishing: state queued, the spec with pinned build args, the claim set.</summary>
    public static (ClaimOutcome Outcome, BuildChange? Change) ClaimRelease(BuildRecord current, string token, BuildSpec spec)
    {
        ArgumentNullException.ThrowIfNull(current);
        var outcome = Claim(current, token);
        return outcome != ClaimOutcome.Claimed
            ? (outcome, null)
            : (outcome, new BuildChange(current.Stored() with { State = BuildState.Queued, ReleasedBy = token, Spec = spec }, BuildRecordReducer.ReleasedEvent));
    }

    /// <summary>Takes a waiting build for ending as <c>dependency_failed</c>: state failed with the detail, the claim set.</summary>
    public static (ClaimOutcome Outcome, BuildChange? Change) ClaimFailure(BuildRecord current, string token, string detail, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(current);
        var outcome = Claim(current, token);
        return outcome != ClaimOutcome.Claimed
            ? (outcome, null)
            : (outcome, new BuildChange(current.Stored() with
            {
                State = BuildState.Failed,
                Reason = FailureReasons.DependencyFailed,
                Detail = detail,
                EndedAt = at,
                ReleasedBy = token,
            }, BuildRecordReducer.FailedEvent));
    }

    private static ClaimOutcome Claim(BuildRecord current, string token)
    {
        var releasedBy = current.Stored().ReleasedBy;
        if (string.Equals(releasedBy, token, StringComparison.Ordinal))
        {
            return ClaimOutcome.AlreadyOurs;
        }
        return releasedBy is null && current.State is BuildState.Waiting or BuildState.Queued
            ? ClaimOutcome.Claimed
            : ClaimOutcome.Taken;
    }

    private static BuildSpec SpecWithDependencies(BuildRecord build, BatchNode node, IReadOnlyDictionary<string, BuildRecord> byId)
    {
        var args = new Dictionary<string, string>(build.Spec.BuildArgs, StringComparer.Ordinal);
        foreach (var edge in node.DependsOn.Where(e => e.BuildArg is not null))
        {
            args[edge.BuildArg!] = PinnedReference(byId[edge.BuildId]);
        }
        return build.Spec with { BuildArgs = args };
    }

    /// <summary>
    /// The failed build that dooms <paramref name="node"/>, searching its dependencies breadth first: one that failed on
    /// its own (or was cancelled) is preferred over one that is itself <c>dependency_failed</c>. Null when none failed.
    /// </summary>
    private static BuildRecord? FailedAncestor(BatchGraph graph, Dictionary<string, BuildRecord> byId, BatchNode node)
    {
        BuildRecord? nearest = null;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var queue = new Queue<BatchNode>([node]);
        while (queue.TryDequeue(out var current))
        {
            foreach (var edge in current.DependsOn)
            {
                if (!seen.Add(edge.BuildId) || !byId.TryGetValue(edge.BuildId, out var dependency))
                {
                    continue;
                }
                if (dependency.State is BuildState.Failed or BuildState.Cancelled)
                {
                    if (dependency.Reason != FailureReasons.DependencyFailed)
                    {
                        return dependency;
                    }
                    nearest ??= dependency;
                }
                if (graph.Contains(edge.BuildId))
                {
                    queue.Enqueue(graph[edge.BuildId]);
                }
            }
        }
        return nearest;
    }

    private static string Describe(BuildRecord failed)
    {
        var name = failed.Name ?? failed.BuildId;
        return failed.State == BuildState.Cancelled
            ? $"dependency '{name}' (build {failed.BuildId}) was cancelled"
            : $"dependency '{name}' (build {failed.BuildId}) failed: {failed.Reason ?? FailureReasons.Unknown}";
    }
}
