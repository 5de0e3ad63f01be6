using BuildFarm.Contracts;
using BuildFarm.Manifests.Planning;
using BuildFarm.Status;
using BuildFarm.Status.Batches;

namespace BuildFarm.Api.Submissions;

/// <summary>The images of an ended batch a re-run builds again, and those it takes from the original as they are.</summary>
/// <param name="Rebuild">Built again, in the batch's member order.</param>
/// <param name="Reuse">Succeeded in the original and not built again: their digests go to their rebuilt dependents.</param>
public sealed record RerunSelection(IReadOnlyList<BuildRecord> Rebuild, IReadOnlyList<BuildRecord> Reuse);

/// <summary>
/// What <c>POST /v1/builds/{id}/rerun</c> and <c>POST /v1/batches/{id}/rerun</c> submit, pure: which builds run again,
/// with which specs, and why a build or batch cannot be run again (a conflict with its state, answered 409).
/// </summary>
public static class Reruns
{
    /// <summary>Why <paramref name="original"/> cannot be run again as a new build, or null when it can.</summary>
    public static string? BuildProblem(BuildRecord original, bool failedOnly)
    {
        ArgumentNullException.ThrowIfNull(original);
        if (!original.State.IsFinal())
        {
            return $"build '{original.BuildId}' is {original.State.ToWire()}; a build can be run again once it has ended";
        }
        if (failedOnly && original.State == BuildState.Succeeded)
        {
            return $"build '{original.BuildId}' succeeded; with failed=true there is nothing to run again";
        }
        // A batch image that never started has no dependency digests in its spec: alone it would build without them.
        var missing = original.Stored().DependencyBuildArgs.Keys.Where(arg => !original.Spec.BuildArgs.ContainsKey(arg)).Order(StringComparer.Ordinal).ToList();
        if (missing.Count > 0)
        {
            return $"build '{original.BuildId}' of batch '{original.BatchId}' never received its dependencies' digests (build args {string.Join(", ", missing)}); "
                + $"run its batch again instead (POST /v1/batches/{original.BatchId}/rerun?failed=true)";
        }
        return null;
    }

    /// <summary>
    /// The new build of a re-run: the original's spec as it was built (a batch image's spec already holds its
    /// dependencies' pinned references) and priority. Not its deadline, which has usually passed.
    /// </summary>
    public static SubmitBuildRequest BuildRequest(BuildRecord original)
    {
        ArgumentNullException.ThrowIfNull(original);
        return new SubmitBuildRequest { Spec = original.Spec, Priority = original.Priority };
    }

    /// <summary>
    /// The images of <paramref name="batch"/> to build again: every one; or with <paramref name="failedOnly"/> those that
    /// did not succeed (failed, <c>dependency_failed</c>, cancelled) and everything that depends on them, directly or not.
    /// The others (succeeded, with a digest) are reused. Null with <paramref name="problem"/> set when the batch cannot be
    /// run again: a build has not ended, a record is gone, or (with <paramref name="failedOnly"/>) nothing failed.
    /// </summary>
    public static RerunSelection? Select(BatchRecord batch, IReadOnlyList<BuildRecord> builds, bool failedOnly, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(builds);
        var byId = builds.DistinctBy(b => b.BuildId, StringComparer.Ordinal).ToDictionary(b => b.BuildId, StringComparer.Ordinal);
        var members = new List<BuildRecord>(batch.Members.Count);
        foreach (var member in batch.Members)
        {
            if (!byId.TryGetValue(member.BuildId, out var record))
            {
                problem = $"the record of image '{member.Name}' (build {member.BuildId}) is gone (expired); batch '{batch.BatchId}' cannot be run again";
                return null;
            }
            members.Add(record);
        }
        if (members.FirstOrDefault(m => !m.State.IsFinal()) is { } open)
        {
            problem = $"image '{NameOf(open)}' of batch '{batch.BatchId}' is {open.State.ToWire()}; a batch can be run again once every build of it has ended";
            return null;
        }
        if (!failedOnly)
        {
            problem = null;
            return new RerunSelection(members, []);
        }
        var rebuild = new HashSet<string>(members.Where(m => !Reusable(m)).Select(m => m.BuildId), StringComparer.Ordinal);
        if (rebuild.Count == 0)
        {
            problem = $"every image of batch '{batch.BatchId}' succeeded; with failed=true there is nothing to run again";
            return null;
        }
        // Everything below a rebuilt image is rebuilt too: it must be built on the new digest.
        var dependents = members.SelectMany(m => m.DependsOn.Select(d => (Dependency: d, Dependent: m.BuildId)))
            .ToLookup(e => e.Dependency, e => e.Dependent, StringComparer.Ordinal);
        var queue = new Queue<string>(rebuild);
        while (queue.TryDequeue(out var id))
        {
            foreach (var dependent in dependents[id])
            {
                if (rebuild.Add(dependent))
                {
                    queue.Enqueue(dependent);
                }
            }
        }
        problem = null;
        return new RerunSelection([.. members.Where(m => rebuild.Contains(m.BuildId))], [.. members.Where(m => !rebuild.Contains(m.BuildId))]);
    }

    /// <summary>
    /// The batch a re-run submits under <paramref name="batchId"/>: the rebuilt images with their names, each spec as
    /// submitted (the pinned build args the orchestrator added removed) and their dependencies on other rebuilt images
    /// kept (the orchestrator pins those again); a dependency on a reused image is no dependency any more, its build arg
    /// is set here to the reused image's pinned reference (<see cref="BatchProgress.PinnedReference"/>, as the
    /// orchestrator would have passed it). Build ids derive from the new batch id (<see cref="ManifestPlanner.BuildId"/>).
    /// </summary>
    public static SubmitBatch Plan(BatchRecord batch, RerunSelection selection, string batchId)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(selection);
        ArgumentException.ThrowIfNullOrWhiteSpace(batchId);
        var names = batch.Members.ToDictionary(m => m.BuildId, m => m.Name, StringComparer.Ordinal);
        var reused = selection.Reuse.ToDictionary(r => r.BuildId, StringComparer.Ordinal);
        var images = selection.Rebuild.Select(record =>
        {
            var name = names[record.BuildId];
            var dependencyArgs = record.Stored().DependencyBuildArgs;
            var args = record.Spec.BuildArgs.Where(kv => !dependencyArgs.ContainsKey(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
            var dependsOn = new List<BatchDependency>();
            foreach (var dependency in record.DependsOn)
            {
                var arg = dependencyArgs.Where(kv => string.Equals(kv.Value, dependency, StringComparison.Ordinal)).Select(kv => kv.Key).Order(StringComparer.Ordinal).FirstOrDefault();
                if (reused.TryGetValue(dependency, out var done))
                {
                    if (arg is not null)
                    {
                        args[arg] = BatchProgress.PinnedReference(done);
                    }
                }
                else
                {
                    dependsOn.Add(new BatchDependency(names.GetValueOrDefault(dependency, dependency), arg));
                }
            }
            return new BatchImage
            {
                Name = name,
                BuildId = ManifestPlanner.BuildId(batchId, name),
                Spec = record.Spec with { BuildArgs = args },
                DependsOn = dependsOn,
            };
        }).ToList();
        return new SubmitBatch
        {
            BatchId = batchId,
            Images = images,
            Source = batch.Source,
            Priority = selection.Rebuild.Count > 0 ? selection.Rebuild.Max(r => r.Priority) : 0,
        };
    }

    /// <summary>The images of <paramref name="selection"/> a re-run takes as they are, for the new batch's record.</summary>
    public static IReadOnlyList<ReusedImage> ReusedImages(BatchRecord batch, RerunSelection selection)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(selection);
        var names = batch.Members.ToDictionary(m => m.BuildId, m => m.Name, StringComparer.Ordinal);
        return [.. selection.Reuse.Select(r => new ReusedImage { Name = names[r.BuildId], BuildId = r.BuildId, Digest = r.Digest! })];
    }

    /// <summary>Succeeded with a digest to build its dependents on.</summary>
    private static bool Reusable(BuildRecord record) =>
        record is { State: BuildState.Succeeded, Digest: not null } && record.Spec.Destinations.Count > 0;

    private static string NameOf(BuildRecord record) => record.Name ?? record.BuildId;
}
