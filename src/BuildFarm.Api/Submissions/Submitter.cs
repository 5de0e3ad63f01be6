using System.Diagnostics;
using BuildFarm.Api.Auth;
using BuildFarm.Api.Metrics;
using BuildFarm.Api.Options;
using BuildFarm.Contracts;
using BuildFarm.Kaniko.Specs;
using BuildFarm.Messaging.Tracing;
using BuildFarm.Status;
using BuildFarm.Status.Messaging;
using BuildFarm.Status.Scheduling;
using MassTransit;
using Microsoft.Extensions.Options;

namespace BuildFarm.Api.Submissions;

public enum SubmitStatus
{
    /// <summary>Stored and published (202).</summary>
    Accepted,

    /// <summary>An earlier request with the same Idempotency-Key and body: its build or batch (200), nothing published.</summary>
    Replayed,

    /// <summary>The broker did not confirm: the records just written were deleted (503).</summary>
    Unavailable,

    /// <summary>The Idempotency-Key was used for a different request (422).</summary>
    IdempotencyConflict,
}

public sealed record SubmitOutcome<T>(SubmitStatus Status, T? Value, string? Detail = null)
    where T : class;

/// <summary>
/// Stores a submit's records, then publishes its one command with the broker's confirm awaited (bounded by
/// <see cref="ApiOptions.PublishTimeout"/>); when the publish fails the records are deleted again, so a submit is either
/// stored and published or neither. Records carry the caller's tenant. An <c>Idempotency-Key</c> reserves the id of the
/// first request in the status store under the caller's tenant (<see cref="IIdempotencyStore"/>);
/// a retry from the same tenant gets that build or batch and publishes nothing.
/// </summary>
public sealed class Submitter(
    IBuildStatusStore store,
    IIdempotencyStore idempotency,
    IBus bus,
    IBuildDispatch dispatch,
    IOptions<ApiOptions> options,
    IConfiguration configuration,
    ApiMetrics metrics,
    TimeProvider time,
    ILogger<Submitter> logger)
{
    private readonly string _executorImage = options.Value.ExecutorImage
        ?? configuration["Kaniko:ExecutorImage"]
        ?? Kaniko.Pods.KanikoPodOptions.DefaultExecutorImage;

    /// <summary>Submits one build; <paramref name="rerunOf"/> names the build it runs again (<see cref="BuildRecord.RerunOf"/>), if any.</summary>
    public async Task<SubmitOutcome<BuildRecord>> SubmitBuildAsync(
        SubmitBuildRequest request, ApiCaller caller, string? idempotencyKey, string requestHash, CancellationToken cancellationToken, string? rerunOf = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(caller);
        var requestedBy = caller.Name;
        var reservation = await ReserveAsync("build", BuildIds.NewBuildId(), caller, idempotencyKey, requestHash, cancellationToken);
        if (reservation.Conflict is { } conflict)
        {
            return new(SubmitStatus.IdempotencyConflict, null, conflict);
        }
        if (reservation.Replay && await store.GetBuildAsync(reservation.Id, cancellationToken) is { } earlier)
        {
            return Replay(earlier, earlier.Tenant, caller);
        }
        var now = time.GetUtcNow();
        var record = new BuildRecord
        {
            BuildId = reservation.Id,
            Spec = request.Spec,
            State = BuildState.Queued,
            Priority = request.Priority,
            Deadline = request.Deadline,
            RequestedBy = requestedBy,
            Tenant = caller.Tenant,
            SubmittedAt = now,
            UpdatedAt = now,
            Version = 1,
            RerunOf = rerunOf,
        };
        if (!await store.CreateBuildAsync(record, cancellationToken))
        {
            // Only a concurrent retry with the same Idempotency-Key can have created this id: answer with its build.
            return await store.GetBuildAsync(record.BuildId, cancellationToken) is { } concurrent
                ? Replay(concurrent, concurrent.Tenant, caller)
                : new(SubmitStatus.Unavailable, null, "the build record could not be created; retry");
        }
        var command = new BuildImage
        {
            BuildId = record.BuildId,
            Spec = request.Spec,
            Priority = request.Priority,
            RequestedBy = requestedBy,
            SubmittedAt = now,
            Deadline = request.Deadline,
        };
        // Published, or queued for admission (Scheduling:Admission): either way within the publish timeout or rolled back.
        if (await PublishAsync(command, ct => dispatch.DispatchAsync(command, caller.Tenant, c => bus.Publish(c, ct), ct)) is { } failure)
        {
            await store.DeleteAsync(null, [record.BuildId], CancellationToken.None);
            return new(SubmitStatus.Unavailable, null, failure);
        }
        // BuildQueued only informs; the command is out, so its failure does not undo the submit.
        var queued = new BuildQueued { BuildId = record.BuildId, BuildKey = BuildKey.Compute(request.Spec, _executorImage), QueuedAt = now };
        if (await PublishAsync(queued) is { } queuedFailure)
        {
            logger.LogWarning("Build {BuildId} was published but its BuildQueued event was not: {Failure}", record.BuildId, queuedFailure);
        }
        metrics.BuildsSubmitted("single", 1, caller.Tenant);
        logger.LogInformation("Build {BuildId} submitted by {RequestedBy} (tenant {Tenant})", record.BuildId, requestedBy, caller.Tenant);
        return new(SubmitStatus.Accepted, record);
    }

    /// <summary>Submits a batch (a JSON batch converted, or a planned manifest). <paramref name="plan"/> makes the batch for the
    /// batch id this call reserves (build ids derive from it). Members without dependencies are stored <c>queued</c>, the
    /// others <c>waiting</c>. A re-run names the batch it runs again (<paramref name="rerunOf"/>) and the images it takes
    /// from it as they are (<paramref name="reused"/>).</summary>
    public async Task<SubmitOutcome<BatchRecord>> SubmitBatchAsync(
        Func<string, SubmitBatch> plan, string source, ApiCaller caller, string? idempotencyKey, string requestHash, CancellationToken cancellationToken,
        string? rerunOf = null, IReadOnlyList<ReusedImage>? reused = null)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(caller);
        var requestedBy = caller.Name;
        var reservation = await ReserveAsync("batch", BuildIds.NewBatchId(), caller, idempotencyKey, requestHash, cancellationToken);
        if (reservation.Conflict is { } conflict)
        {
            return new(SubmitStatus.IdempotencyConflict, null, conflict);
        }
        if (reservation.Replay && await store.GetBatchAsync(reservation.Id, cancellationToken) is { } earlier)
        {
            return Replay(earlier, earlier.Tenant, caller);
        }
        var now = time.GetUtcNow();
        // The batch's own span: its builds link to it (docs/tracing.md), whichever trace each of them ends up in.
        using var span = TraceNames.Source.StartActivity(TraceNames.BatchSubmitSpan);
        span?.SetTag(TraceNames.BatchId, reservation.Id);
        var message = plan(reservation.Id) with
        {
            BatchId = reservation.Id, RequestedBy = requestedBy, Tenant = caller.Tenant, SubmittedAt = now, TraceParent = span?.Id,
        };
        var buildIds = message.Images.ToDictionary(i => i.Name, i => i.BuildId, StringComparer.Ordinal);
        var record = new BatchRecord
        {
            BatchId = message.BatchId,
            Source = message.Source,
            RequestedBy = requestedBy,
            Tenant = caller.Tenant,
            SubmittedAt = now,
            Members = [.. message.Images.Select(i => new BatchMember(i.Name, i.BuildId))],
            RerunOf = rerunOf,
            Reused = reused ?? [],
        };
        var builds = message.Images.Select(i => new BuildRecord
        {
            BuildId = i.BuildId,
            BatchId = message.BatchId,
            Name = i.Name,
            Spec = i.Spec,
            State = i.DependsOn.Count == 0 ? BuildState.Queued : BuildState.Waiting,
            DependsOn = [.. i.DependsOn.Select(d => buildIds[d.Image])],
            Priority = message.Priority,
            Deadline = message.Deadline,
            RequestedBy = requestedBy,
            Tenant = caller.Tenant,
            SubmittedAt = now,
            UpdatedAt = now,
            Version = 1,
        }).ToList();
        if (!await store.CreateBatchAsync(record, builds, cancellationToken))
        {
            return await store.GetBatchAsync(record.BatchId, cancellationToken) is { } concurrent
                ? Replay(concurrent, concurrent.Tenant, caller)
                : new(SubmitStatus.Unavailable, null, "the batch record could not be created; retry");
        }
        if (await PublishAsync(message) is { } failure)
        {
            await store.DeleteAsync(record.BatchId, [.. builds.Select(b => b.BuildId)], CancellationToken.None);
            return new(SubmitStatus.Unavailable, null, failure);
        }
        metrics.BatchSubmitted(source, caller.Tenant);
        metrics.BuildsSubmitted("batch", builds.Count, caller.Tenant);
        logger.LogInformation("Batch {BatchId} of {Count} images submitted by {RequestedBy} (tenant {Tenant})", record.BatchId, builds.Count, requestedBy, caller.Tenant);
        return new(SubmitStatus.Accepted, record);
    }

    /// <summary>
    /// Publishes CancelBuild (a worker running the build deletes its pod and ends it <c>cancelled</c>). A batch image still
    /// <c>waiting</c> for its dependencies has no worker yet: the API also publishes its <c>BuildCancelled</c>, which the
    /// projector records and the orchestrator follows (its dependents end as <c>dependency_failed</c>). Null when the
    /// broker confirmed, else why not. The waiting image's record is then already <c>cancelled</c> in the store.
    /// </summary>
    public async Task<string?> CancelAsync(BuildRecord record, ApiCaller caller)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(caller);
        var requestedBy = caller.Name;
        var now = time.GetUtcNow();
        var failure = await PublishAsync(new CancelBuild { BuildId = record.BuildId, RequestedBy = requestedBy, RequestedAt = now });
        if (failure is null && record.State == BuildState.Waiting)
        {
            var cancelled = new BuildCancelled
            {
                BuildId = record.BuildId, BatchId = record.BatchId, RequestedBy = requestedBy, Attempts = record.Attempts.Count, At = now,
            };
            failure = await PublishAsync(cancelled);
            if (failure is null)
            {
                // Recorded here too (the projector's own apply of it is then a no-op), so the answer is the record after the
                // cancel. Only once published: a cancel the orchestrator never hears of would leave the dependents waiting.
                await BuildStatusProjector.ApplyAsync(store, cancelled, logger, CancellationToken.None);
            }
        }
        if (failure is null)
        {
            metrics.CancelPublished(caller.Tenant);
            logger.LogInformation("Cancel of build {BuildId} ({State}) requested by {RequestedBy}", record.BuildId, record.State.ToWire(), requestedBy);
        }
        return failure;
    }

    private const string IdempotencyConflict = "this Idempotency-Key was used for a different request; use a new key for a new request";

    /// <summary>
    /// The earlier build or batch of an Idempotency-Key, when the caller may see it. One the caller's tenant does not own
    /// can only be a record from before tenants whose key name equals this tenant: it is not handed out, the key counts as used.
    /// </summary>
    private SubmitOutcome<T> Replay<T>(T earlier, string? owner, ApiCaller caller)
        where T : class
    {
        if (!string.Equals(owner, caller.Tenant, StringComparison.Ordinal))
        {
            metrics.Rejected("idempotency_conflict");
            return new(SubmitStatus.IdempotencyConflict, null, IdempotencyConflict);
        }
        metrics.IdempotentReplay();
        return new(SubmitStatus.Replayed, earlier);
    }

    private sealed record Reservation(string Id, bool Replay, string? Conflict);

    /// <summary>Idempotency keys are scoped by tenant (<c>api:&lt;tenant&gt;</c>): every key of a tenant shares them, no other tenant sees them.</summary>
    private async Task<Reservation> ReserveAsync(
        string kind, string newId, ApiCaller caller, string? idempotencyKey, string requestHash, CancellationToken cancellationToken)
    {
        if (idempotencyKey is null)
        {
            return new(newId, Replay: false, Conflict: null);
        }
        var value = $"{kind}|{requestHash}|{newId}";
        var stored = await idempotency.GetOrSetIdempotencyAsync("api:" + caller.Tenant, idempotencyKey, value, options.Value.IdempotencyTtl, cancellationToken);
        if (stored == value)
        {
            return new(newId, Replay: false, Conflict: null);
        }
        var parts = stored.Split('|');
        if (parts.Length != 3 || parts[0] != kind || parts[1] != requestHash)
        {
            metrics.Rejected("idempotency_conflict");
            return new(newId, Replay: false, Conflict: IdempotencyConflict);
        }
        // The earlier request reserved this id. When its records are gone (its publish failed and was rolled back) the
        // retry submits again under the same id.
        return new(parts[2], Replay: true, Conflict: null);
    }

    /// <summary>Publishes <paramref name="message"/> (or runs <paramref name="send"/> instead) with the confirm awaited within
    /// the publish timeout; the failure's description, or null.</summary>
    private async Task<string?> PublishAsync<T>(T message, Func<CancellationToken, Task>? send = null)
        where T : class
    {
        var timeout = options.Value.PublishTimeout;
        var started = Stopwatch.GetTimestamp();
        // Not the request's token: once a publish starts, only the timeout decides (a client that hangs up must not leave
        // a published command without its records).
        using var cts = new CancellationTokenSource(timeout, time);
        try
        {
            await (send is null ? bus.Publish(message, cts.Token) : send(cts.Token));
            metrics.PublishConfirmed(Stopwatch.GetElapsedTime(started));
            return null;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            metrics.PublishFailed("timeout");
            logger.LogWarning("Publishing {MessageType} timed out after {Timeout}: the broker is unreachable or did not confirm", typeof(T).Name, timeout);
            return $"the message broker did not confirm the publish within {timeout.TotalSeconds:0.#} s";
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            metrics.PublishFailed("error");
            logger.LogWarning(e, "Publishing {MessageType} failed", typeof(T).Name);
            return "the message broker refused the publish: " + e.Message;
        }
    }
}
