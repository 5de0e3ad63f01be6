using BuildFarm.Contracts;
using BuildFarm.Status.Batches;
using BuildFarm.Status.Projection;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace BuildFarm.Status.Messaging;

/// <summary>
/// Expands a <see cref="SubmitBatch"/> and follows its builds: publishes each image once all its dependencies
/// succeeded (with their pinned references as build args) and ends the dependents of a failed image as
/// <c>dependency_failed</c>. State lives in the build records; every publish goes through a claim on the record
/// (<see cref="BatchProgress.ClaimRelease"/>) made with the store's atomic update, keyed by the consumed message's id, so
/// several orchestrators and redeliveries publish each build once (a redelivered message repeats only its own publishes).
/// </summary>
public sealed class BatchOrchestrator(IBuildStatusStore store, TimeProvider time, ILogger<BatchOrchestrator> logger) :
    IConsumer<SubmitBatch>, IConsumer<BuildSucceeded>, IConsumer<BuildFailed>, IConsumer<BuildCancelled>, IConsumer<BuildDeduplicated>
{
    public async Task Consume(ConsumeContext<SubmitBatch> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var submit = context.Message;
        var ct = context.CancellationToken;
        var errors = BatchGraph.Validate(submit.Images);
        var idOf = (submit.Images ?? []).Where(i => i?.Name is not null && i.BuildId is not null)
            .DistinctBy(i => i.Name, StringComparer.Ordinal).ToDictionary(i => i.Name, i => i.BuildId, StringComparer.Ordinal);
        var records = (submit.Images ?? []).Where(i => i is not null && !string.IsNullOrWhiteSpace(i.BuildId) && i.Spec is not null)
            .DistinctBy(i => i.BuildId, StringComparer.Ordinal)
            .Select(i => RecordOf(submit, i, idOf)).ToList();
        var batch = new BatchRecord
        {
            BatchId = submit.BatchId,
            Source = submit.Source,
            RequestedBy = submit.RequestedBy,
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
        await AdvanceAsync(context, submit.BatchId, ct).ConfigureAwait(false);
    }

    public Task Consume(ConsumeContext<BuildSucceeded> context) => OnBuildEndedAsync(context, context.Message.BatchId);
    public Task Consume(ConsumeContext<BuildFailed> context) => OnBuildEndedAsync(context, context.Message.BatchId);
    public Task Consume(ConsumeContext<BuildCancelled> context) => OnBuildEndedAsync(context, context.Message.BatchId);

    public Task Consume(ConsumeContext<BuildDeduplicated> context) =>
        context.Message.Digest is null && context.Message.Reason is null ? Task.CompletedTask : OnBuildEndedAsync(context, context.Message.BatchId);

    private async Task OnBuildEndedAsync<T>(ConsumeContext<T> context, string? batchId)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(context);
        if (batchId is null)
        {
            return;
        }
        // Record the outcome first (the projector may not have yet): the plan below reads it from the store.
        await BuildStatusProjector.ApplyAsync(store, context.Message, logger, context.CancellationToken).ConfigureAwait(false);
        await AdvanceAsync(context, batchId, context.CancellationToken).ConfigureAwait(false);
    }

    /// <summary>Publishes every build that is ready and fails every build that is doomed, each once.</summary>
    private async Task AdvanceAsync(ConsumeContext context, string batchId, CancellationToken ct)
    {
        var token = context.MessageId?.ToString("N") ?? throw new InvalidOperationException("the consumed message has no MessageId");
        var builds = await store.GetBatchBuildsAsync(batchId, ct).ConfigureAwait(false);
        if (builds.Count == 0)
        {
            logger.LogWarning("batch {Batch}: no records (expired or rolled back); nothing to advance", batchId);
            return;
        }
        var plan = BatchProgress.Plan(builds, token);
        // Failures first: they also stop any release computed from the same (older) read.
        foreach (var step in plan.Fail)
        {
            var at = time.GetUtcNow();
            if (await ClaimAsync(step.Build.BuildId, r => BatchProgress.ClaimFailure(r, token, step.Detail, at), ct).ConfigureAwait(false))
            {
                logger.LogInformation("batch {Batch}: {Build} ends as dependency_failed: {Detail}", batchId, step.Build.BuildId, step.Detail);
                await context.Publish(new BuildFailed
                {
                    BuildId = step.Build.BuildId, BatchId = batchId, Reason = FailureReasons.DependencyFailed, Detail = step.Detail, At = at,
                }, ct).ConfigureAwait(false);
            }
        }
        foreach (var step in plan.Release)
        {
            if (await ClaimAsync(step.Build.BuildId, r => BatchProgress.ClaimRelease(r, token, step.Spec), ct).ConfigureAwait(false))
            {
                logger.LogInformation("batch {Batch}: publishing {Build}", batchId, step.Build.BuildId);
                await context.Publish(new BuildImage
                {
                    BuildId = step.Build.BuildId,
                    Spec = step.Spec,
                    BatchId = batchId,
                    DependsOn = step.Build.DependsOn,
                    Priority = step.Build.Priority,
                    RequestedBy = step.Build.RequestedBy,
                    SubmittedAt = step.Build.SubmittedAt,
                    Deadline = step.Build.Deadline,
                }, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>True when this message holds the build's claim (new or from before a redelivery).</summary>
    private async Task<bool> ClaimAsync(string buildId, Func<BuildRecord, (ClaimOutcome Outcome, BuildChange? Change)> claim, CancellationToken ct)
    {
        var outcome = ClaimOutcome.Taken;
        await store.UpdateBuildAsync(buildId, record =>
        {
            var (o, change) = claim(record);
            outcome = o;
            return change;
        }, ct).ConfigureAwait(false);
        return outcome is ClaimOutcome.Claimed or ClaimOutcome.AlreadyOurs;
    }

    private async Task EnsureOrchestrationFieldsAsync(BuildRecord wanted, CancellationToken ct)
    {
        var found = false;
        await store.UpdateBuildAsync(wanted.BuildId, current =>
        {
            found = true;
            if (current.ReleasedBy is not null || current.State.IsFinal()
                || (current.DependsOn.SequenceEqual(wanted.DependsOn, StringComparer.Ordinal)
                    && current.DependencyBuildArgs.Count == wanted.DependencyBuildArgs.Count
                    && current.DependencyBuildArgs.All(kv => wanted.DependencyBuildArgs.TryGetValue(kv.Key, out var v) && v == kv.Value)
                    && current.Name == wanted.Name && current.Priority == wanted.Priority && current.Deadline == wanted.Deadline))
            {
                return null;
            }
            return new BuildChange(current with
            {
                Name = wanted.Name,
                DependsOn = wanted.DependsOn,
                DependencyBuildArgs = wanted.DependencyBuildArgs,
                Priority = wanted.Priority,
                Deadline = wanted.Deadline,
                State = current.State == BuildState.Queued && wanted.DependsOn.Count > 0 ? BuildState.Waiting : current.State,
            }, BuildRecordReducer.EventFor(current.State == BuildState.Queued && wanted.DependsOn.Count > 0 ? BuildState.Waiting : current.State));
        }, ct).ConfigureAwait(false);
        if (!found)
        {
            await store.CreateBuildAsync(wanted, ct).ConfigureAwait(false);
        }
    }

    private static BuildRecord RecordOf(SubmitBatch submit, BatchImage image, Dictionary<string, string> idOf)
    {
        var dependencies = (image.DependsOn ?? []).Where(d => d?.Image is not null && idOf.ContainsKey(d.Image)).ToList();
        return new BuildRecord
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
