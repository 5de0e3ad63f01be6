using BuildFarm.Contracts;
using BuildFarm.Coordination.Scheduling;
using BuildFarm.Kaniko.Graphs;
using BuildFarm.Status.Messaging;
using BuildFarm.Status.Projection;
using BuildFarm.Status.Scheduling;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace BuildFarm.Status.Batches;

/// <summary>
/// Expands a <see cref="SubmitBatch"/> and follows its builds: publishes each image once all its dependencies
/// succeeded (with their pinned references as build args) and ends the dependents of a failed image as
/// <c>dependency_failed</c>. State lives in the build records; every publish goes through a claim on the record
/// (<see cref="BatchProgress.ClaimRelease"/>) made with the store's atomic update, keyed by the consumed message's id, so
/// several orchestrators and redeliveries publish each build once (a redelivered message repeats only its own publishes).
/// When the batch is submitted each image's remaining path (<see cref="CriticalPath"/> over the expected durations of
/// <see cref="IImageDurations"/>, read in one round trip) is kept on its record and sent with its <c>BuildImage</c>.
/// </summary>
public sealed class BatchOrchestrator(IBuildStatusStore store, IImageDurations durations, IBuildDispatch dispatch, TimeProvider time, ILogger<BatchOrchestrator> logger) :
    IConsumer<SubmitBatch>, IConsumer<BuildSucceeded>, IConsumer<BuildFailed>, IConsumer<BuildCancelled>, IConsumer<BuildDeduplicated>
{
    /// <summary>Claims (and their publishes) one message carries out at once.</summary>
    private const int ClaimParallelism = 8;

    public async Task Consume(ConsumeContext<SubmitBatch> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var submit = context.Message;
        var ct = context.CancellationToken;
        var errors = BatchGraph.Validate(submit.Images);
        var idOf = (submit.Images ?? []).Where(i => i?.Name is not null && i.BuildId is not null)
            .DistinctBy(i => i.Name, StringComparer.Ordinal).ToDictionary(i => i.Name, i => i.BuildId, StringComparer.Ordinal);
        var tenant = OwnerOf(submit);
        var records = WithDependents((submit.Images ?? []).Where(i => i is not null && !string.IsNullOrWhiteSpace(i.BuildId) && i.Spec is not null)
            .DistinctBy(i => i.BuildId, StringComparer.Ordinal)
            .Select(i => RecordOf(submit, i, idOf) with { Tenant = tenant }).ToList(), valid: errors.Count == 0);
        if (errors.Count == 0)
        {
            records = await WithPathsAsync(submit.BatchId, records, ct).ConfigureAwait(false);
        }
        var batch = new BatchRecord
        {
            BatchId = submit.BatchId,
            Source = submit.Source,
            RequestedBy = submit.RequestedBy,
            Tenant = tenant,
            SubmittedAt = submit.SubmittedAt,
            Members = [.. records.Select(r => new BatchMember(r.Name!, r.BuildId))],
        };
        if (!await store.CreateBatchAsync(batch, records, ct).ConfigureAwait(false))
        {
            // Usually the API created the records before publishing: add what only the orchestrator writes.
            foreach (var record in records)
            {
                await EnsureOrchestrationFieldsAsync(record, ct).ConfigureAwait(false);
            }
        }
        if (errors.Count > 0)
        {
            // The API validates first; this is the defensive second look. Nothing of an invalid batch is built.
            var detail = "invalid batch: " + string.Join("; ", errors);
            logger.LogError("batch {Batch}: {Detail}", submit.BatchId, detail);
            foreach (var record in records)
            {
                await context.Publish(new BuildFailed
                {
                    BuildId = record.BuildId, BatchId = submit.BatchId, Reason = FailureReasons.Unknown, Detail = detail, At = time.GetUtcNow(),
                }, ct).ConfigureAwait(false);
            }
            return;
        }
        logger.LogInformation("batch {Batch}: {Images} images, {Roots} without dependencies", submit.BatchId, records.Count,
            records.Count(r => r.DependsOn.Count == 0));
        await AdvanceWholeBatchAsync(context, submit.BatchId, ct).ConfigureAwait(false);
    }

    public Task Consume(ConsumeContext<BuildSucceeded> context) => OnBuildEndedAsync(context, context.Message.BuildId, context.Message.BatchId);
    public Task Consume(ConsumeContext<BuildFailed> context) => OnBuildEndedAsync(context, context.Message.BuildId, context.Message.BatchId);
    public Task Consume(ConsumeContext<BuildCancelled> context) => OnBuildEndedAsync(context, context.Message.BuildId, context.Message.BatchId);

    public Task Consume(ConsumeContext<BuildDeduplicated> context) =>
        context.Message.Digest is null && context.Message.Reason is null
            ? Task.CompletedTask
            : OnBuildEndedAsync(context, context.Message.BuildId, context.Message.BatchId);

    private async Task OnBuildEndedAsync<T>(ConsumeContext<T> context, string buildId, string? batchId)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(context);
        if (batchId is null)
        {
            return;
        }
        var ct = context.CancellationToken;
        // Record the outcome first (the projector may not have yet): what follows reads it from the store.
        await BuildStatusProjector.ApplyAsync(store, context.Message, logger, ct).ConfigureAwait(false);
        var ended = await store.GetBuildAsync(buildId, ct).ConfigureAwait(false);
        if (ended?.Stored().Dependents is null || !string.Equals(ended.BatchId, batchId, StringComparison.Ordinal))
        {
            // A record without reverse edges (written before the orchestrator kept them) or none at all: the old way.
            await AdvanceWholeBatchAsync(context, batchId, ct).ConfigureAwait(false);
            return;
        }
        var token = Token(context);
        var failed = ended.State switch
        {
            BuildState.Succeeded => await ReleaseDependentsAsync(context, ended, token, ct).ConfigureAwait(false),
            BuildState.Failed or BuildState.Cancelled => [ended],
            _ => [],
        };
        await FailTransitiveDependentsAsync(context, ended, failed, token, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// After <paramref name="ended"/> succeeded: reads its dependents and, for those still waiting, their other
    /// dependencies; publishes each whose dependencies all succeeded. Returns the dependents this message ended as
    /// <c>dependency_failed</c> (another dependency of theirs had failed), whose own dependents are still to fail.
    /// </summary>
    private async Task<IReadOnlyList<BuildRecord>> ReleaseDependentsAsync(ConsumeContext context, BuildRecord ended, string token, CancellationToken ct)
    {
        var dependents = (await store.GetBuildsAsync(ended.Stored().Dependents!, ct).ConfigureAwait(false))
            .OfType<BuildRecord>().Where(d => BatchProgress.IsCandidate(d, token)).ToList();
        if (dependents.Count == 0)
        {
            return [];
        }
        var others = dependents.SelectMany(d => d.DependsOn).Where(id => !string.Equals(id, ended.BuildId, StringComparison.Ordinal))
            .Distinct(StringComparer.Ordinal).ToList();
        var known = (await store.GetBuildsAsync(others, ct).ConfigureAwait(false)).OfType<BuildRecord>()
            .Append(ended).ToDictionary(r => r.BuildId, StringComparer.Ordinal);
        return await CarryOutAsync(context, ended.BatchId!, BatchProgress.PlanFor(dependents, known, token), token, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Ends every build below <paramref name="failed"/> (builds of this batch that failed or were cancelled) as
    /// <c>dependency_failed</c>, level by level: each level reads the dependents of the builds failed at the level above.
    /// A dependent another message claimed first is left to that message, its dependents included, so a build is read
    /// at most once per dependency of it that fails, however many of its ancestors fail.
    /// </summary>
    private async Task FailTransitiveDependentsAsync(ConsumeContext context, BuildRecord ended, IReadOnlyList<BuildRecord> failed, string token,
        CancellationToken ct)
    {
        var seen = new HashSet<string>(failed.Select(f => f.BuildId), StringComparer.Ordinal);
        var level = failed;
        while (level.Count > 0)
        {
            if (level.Any(f => f.Stored().Dependents is null))
            {
                await AdvanceWholeBatchAsync(context, ended.BatchId!, ct).ConfigureAwait(false);
                return;
            }
            var ids = level.SelectMany(f => f.Stored().Dependents!).Where(seen.Add).ToList();
            if (ids.Count == 0)
            {
                return;
            }
            var subjects = (await store.GetBuildsAsync(ids, ct).ConfigureAwait(false)).OfType<BuildRecord>().ToList();
            var plan = BatchProgress.PlanFor(subjects, level.ToDictionary(f => f.BuildId, StringComparer.Ordinal), token);
            level = await CarryOutAsync(context, ended.BatchId!, plan, token, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Publishes every build that is ready and fails every build that is doomed, each once, from one read of the whole batch.</summary>
    private async Task AdvanceWholeBatchAsync(ConsumeContext context, string batchId, CancellationToken ct)
    {
        var token = Token(context);
        var builds = await store.GetBatchBuildsAsync(batchId, ct).ConfigureAwait(false);
        if (builds.Count == 0)
        {
            logger.LogWarning("batch {Batch}: no records (expired or rolled back); nothing to advance", batchId);
            return;
        }
        await CarryOutAsync(context, batchId, BatchProgress.Plan(builds, token), token, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Claims and publishes each step of <paramref name="plan"/>; returns the records of the builds this message holds
    /// as <c>dependency_failed</c> (newly claimed or claimed before a redelivery).
    /// </summary>
    private async Task<IReadOnlyList<BuildRecord>> CarryOutAsync(ConsumeContext context, string batchId, BatchPlan plan, string token, CancellationToken ct)
    {
        // Failures first: they also stop any release computed from the same (older) read. Within each, the claims (one
        // store round trip each) and publishes of distinct builds go several at a time: a base with thousands of dependents.
        var failed = new BuildRecord?[plan.Fail.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, plan.Fail.Count), Parallelism(ct), async (i, stepCt) =>
        {
            var step = plan.Fail[i];
            var at = time.GetUtcNow();
            if (await ClaimAsync(step.Build.BuildId, r => BatchProgress.ClaimFailure(r, token, step.Detail, at), stepCt).ConfigureAwait(false) is { } record)
            {
                failed[i] = record;
                logger.LogInformation("batch {Batch}: {Build} ends as dependency_failed: {Detail}", batchId, step.Build.BuildId, step.Detail);
                await context.Publish(new BuildFailed
                {
                    BuildId = step.Build.BuildId, BatchId = batchId, Reason = FailureReasons.DependencyFailed, Detail = record.Detail ?? step.Detail, At = record.EndedAt ?? at,
                }, stepCt).ConfigureAwait(false);
            }
        }).ConfigureAwait(false);
        // Builds released while the batch's submission is consumed link to its submit span (docs/tracing.md); those
        // released later, when a dependency ends, carry no link.
        var batchTraceParent = context.TryGetMessage<SubmitBatch>(out var submitted) ? submitted.Message.TraceParent : null;
        await Parallel.ForEachAsync(ReleaseOrder(plan.Release), Parallelism(ct), async (step, stepCt) =>
        {
            if (await ClaimAsync(step.Build.BuildId, r => BatchProgress.ClaimRelease(r, token, step.Spec), stepCt).ConfigureAwait(false) is not null)
            {
                logger.LogInformation("batch {Batch}: publishing {Build}", batchId, step.Build.BuildId);
                await dispatch.DispatchAsync(new BuildImage
                {
                    BatchTraceParent = batchTraceParent,
                    BuildId = step.Build.BuildId,
                    Spec = step.Spec,
                    BatchId = batchId,
                    DependsOn = step.Build.DependsOn,
                    Priority = step.Build.Priority,
                    RequestedBy = step.Build.RequestedBy,
                    SubmittedAt = step.Build.SubmittedAt,
                    Deadline = step.Build.Deadline,
                    CriticalPathSeconds = (step.Build as StoredBuildRecord)?.PathSeconds,
                }, step.Build.Tenant, command => context.Publish(command, stepCt), stepCt).ConfigureAwait(false);
            }
        }).ConfigureAwait(false);
        return [.. failed.OfType<BuildRecord>()];
    }

    /// <summary>The batch's tenant; a name that is not a tenant's (not from the API, which checks it) leaves it without one: admin only.</summary>
    private string? OwnerOf(SubmitBatch submit)
    {
        if (submit.Tenant is null || Tenants.IsValid(submit.Tenant))
        {
            return submit.Tenant;
        }
        logger.LogWarning("batch {Batch}: tenant is not a tenant name; recorded without a tenant (visible to admin keys only)", submit.BatchId);
        return null;
    }

    /// <summary>
    /// A release in the order its group starts builds (higher priority, then longer remaining path; ties in plan order).
    /// The parallel release hands builds over roughly in this order, so when admission's fast path admits the first of
    /// them at once (fewer free slots than released builds, docs/scheduling.md "Admission") those are the ones the
    /// scheduling policy would have chosen first; without admission, they reach the queue first.
    /// </summary>
    internal static IEnumerable<ReleaseStep> ReleaseOrder(IReadOnlyList<ReleaseStep> release) =>
        release.OrderByDescending(s => Math.Clamp(s.Build.Priority, 0, 9)).ThenByDescending(s => (s.Build as StoredBuildRecord)?.PathSeconds ?? 0);

    private static ParallelOptions Parallelism(CancellationToken ct) => new() { MaxDegreeOfParallelism = ClaimParallelism, CancellationToken = ct };

    private static string Token(ConsumeContext context) =>
        context.MessageId?.ToString("N") ?? throw new InvalidOperationException("the consumed message has no MessageId");

    /// <summary>The build's record as claimed when this message holds its claim (new or from before a redelivery); null otherwise.</summary>
    private async Task<BuildRecord?> ClaimAsync(string buildId, Func<BuildRecord, (ClaimOutcome Outcome, BuildChange? Change)> claim, CancellationToken ct)
    {
        BuildRecord? held = null;
        await store.UpdateBuildAsync(buildId, record =>
        {
            var (outcome, change) = claim(record);
            held = outcome switch
            {
                ClaimOutcome.Claimed => change!.Record,
                ClaimOutcome.AlreadyOurs => record,
                _ => null,
            };
            return change;
        }, ct).ConfigureAwait(false);
        return held;
    }

    private async Task EnsureOrchestrationFieldsAsync(StoredBuildRecord wanted, CancellationToken ct)
    {
        var found = false;
        await store.UpdateBuildAsync(wanted.BuildId, record =>
        {
            found = true;
            var current = record.Stored();
            if (current.ReleasedBy is not null || current.State.IsFinal())
            {
                // Decided already: only the reverse edges may be missing.
                return current.Dependents is null && wanted.Dependents is not null
                    ? new BuildChange(current with { Dependents = wanted.Dependents }, BuildRecordReducer.EventFor(current.State))
                    : null;
            }
            if (current.DependsOn.SequenceEqual(wanted.DependsOn, StringComparer.Ordinal)
                    && current.Dependents is not null && current.Dependents.SequenceEqual(wanted.Dependents ?? [], StringComparer.Ordinal)
                    && current.DependencyBuildArgs.Count == wanted.DependencyBuildArgs.Count
                    && current.DependencyBuildArgs.All(kv => wanted.DependencyBuildArgs.TryGetValue(kv.Key, out var v) && v == kv.Value)
                    && current.Name == wanted.Name && current.Priority == wanted.Priority && current.Deadline == wanted.Deadline
                    && current.PathSeconds == wanted.PathSeconds)
            {
                return null;
            }
            return new BuildChange(current with
            {
                Name = wanted.Name,
                DependsOn = wanted.DependsOn,
                DependencyBuildArgs = wanted.DependencyBuildArgs,
                Dependents = wanted.Dependents,
                Priority = wanted.Priority,
                Deadline = wanted.Deadline,
                PathSeconds = wanted.PathSeconds,
                State = current.State == BuildState.Queued && wanted.DependsOn.Count > 0 ? BuildState.Waiting : current.State,
            }, BuildRecordReducer.EventFor(current.State == BuildState.Queued && wanted.DependsOn.Count > 0 ? BuildState.Waiting : current.State));
        }, ct).ConfigureAwait(false);
        if (!found)
        {
            await store.CreateBuildAsync(wanted, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Each record with its <see cref="StoredBuildRecord.Dependents"/> (the reverse of the others' <c>DependsOn</c>, in record
    /// order). An invalid batch gets none: every image of it ends with its own <c>BuildFailed</c>, nothing follows from it.
    /// </summary>
    private static List<StoredBuildRecord> WithDependents(List<StoredBuildRecord> records, bool valid)
    {
        var dependents = records.SelectMany(r => r.DependsOn.Select(d => (Dependency: d, Dependent: r.BuildId)))
            .ToLookup(x => x.Dependency, x => x.Dependent, StringComparer.Ordinal);
        return [.. records.Select(r => r with { Dependents = valid ? [.. dependents[r.BuildId]] : [] })];
    }

    /// <summary>
    /// Each record with its remaining path (its own expected seconds plus its longest chain of dependents'), from one
    /// read of the images' expected durations. Without durations (Redis away) the records go without: the batch still
    /// runs, in the order the paths would only have refined.
    /// </summary>
    private async Task<List<StoredBuildRecord>> WithPathsAsync(string batchId, List<StoredBuildRecord> records, CancellationToken ct)
    {
        var images = records.Select(r => ImageDurations.KeyOf(r.Spec.Destinations)).ToList();
        IReadOnlyDictionary<string, double> expected;
        try
        {
            expected = await durations.ExpectedAsync(images, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning("batch {Batch}: could not read the images' expected durations ({Error}); its builds go without a critical path", batchId, e.Message);
            return records;
        }
        var paths = CriticalPath.Remaining(Enumerable.Range(0, records.Count).ToList(), i => records[i].BuildId, i => records[i].DependsOn,
            i => expected.GetValueOrDefault(images[i]));
        return [.. records.Select((r, i) => r with { PathSeconds = Math.Round(paths[i], 3) })];
    }

    private static StoredBuildRecord RecordOf(SubmitBatch submit, BatchImage image, Dictionary<string, string> idOf)
    {
        var dependencies = (image.DependsOn ?? []).Where(d => d?.Image is not null && idOf.ContainsKey(d.Image)).ToList();
        return new StoredBuildRecord
        {
            BuildId = image.BuildId,
            BatchId = submit.BatchId,
            Name = image.Name,
            Spec = image.Spec,
            State = BuildState.Waiting,
            DependsOn = [.. dependencies.Select(d => idOf[d.Image]).Distinct(StringComparer.Ordinal)],
            DependencyBuildArgs = dependencies.Where(d => d.BuildArg is not null).DistinctBy(d => d.BuildArg, StringComparer.Ordinal)
                .ToDictionary(d => d.BuildArg!, d => idOf[d.Image], StringComparer.Ordinal),
            Priority = submit.Priority,
            Deadline = submit.Deadline,
            RequestedBy = submit.RequestedBy,
            SubmittedAt = submit.SubmittedAt,
        };
    }
}

/// <summary>One durable queue, <c>buildfarm-batches</c>, for SubmitBatch and the end events of batch builds.</summary>
public sealed class BatchOrchestratorDefinition : ConsumerDefinition<BatchOrchestrator>
{
    public const string QueueName = "buildfarm-batches";

    public BatchOrchestratorDefinition()
    {
        EndpointName = QueueName;
        ConcurrentMessageLimit = 16;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<BatchOrchestrator> consumerConfigurator,
        IRegistrationContext context)
    {
        StatusEndpoint.Configure(endpointConfigurator);
    }
}
