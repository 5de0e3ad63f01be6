using BuildFarm.Api.Auth;
using BuildFarm.Api.Metrics;
using BuildFarm.Api.OpenApi;
using BuildFarm.Api.Options;
using BuildFarm.Api.Submissions;
using BuildFarm.Contracts;
using BuildFarm.Manifests.Planning;
using BuildFarm.Status;
using Microsoft.Extensions.Options;
using static BuildFarm.Api.Hosting.RequestChecks;

namespace BuildFarm.Api.Hosting;

/// <summary><c>/v1/batches</c>: submit a JSON batch or a YAML manifest, read a batch, cancel one.</summary>
internal static class BatchEndpoints
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost("/batches", SubmitBatchAsync)
            .WithTags("Batches").WithName("SubmitBatch").WithSummary("Submit a batch: a JSON list of images, or a manifest (application/yaml; query sha, only, changed)")
            .Accepts<SubmitBatchRequest>(JsonMediaType, YamlMediaTypes)
            .Produces<BatchStatus>(StatusCodes.Status202Accepted).Produces<BatchStatus>(StatusCodes.Status200OK)
            .Documented(new OperationFacts
            {
                Scope = ApiScopes.Submit, Idempotent = true, LocationOnAccepted = true, Manifest = true,
                Problems = [400, .. OperationFacts.AuthProblems, 413, 415, 422, 503],
            });
        v1.MapGet("/batches/{id}", GetBatchAsync)
            .WithTags("Batches").WithName("GetBatch").WithSummary("Read a batch: progress and each image's state")
            .Produces<BatchStatus>()
            .Documented(new OperationFacts { Scope = ApiScopes.Read, Problems = [400, .. OperationFacts.AuthProblems, 404] });
        v1.MapDelete("/batches/{id}", CancelBatchAsync)
            .WithTags("Batches").WithName("CancelBatch").WithSummary("Ask the farm to cancel every build of a batch that has not ended")
            .Produces<BatchStatus>(StatusCodes.Status202Accepted)
            .Documented(new OperationFacts
            {
                Scope = ApiScopes.Cancel, LocationOnAccepted = true, Problems = [400, .. OperationFacts.AuthProblems, 404, 409, 503],
            });
    }

    private static async Task<IResult> SubmitBatchAsync(
        HttpContext context, Submitter submitter, IBuildStatusStore store, IOptions<ApiOptions> options, ApiMetrics metrics, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var isYaml = YamlMediaTypes.Any(t => IsMediaType(context.Request, t));
        if (!isYaml && !IsMediaType(context.Request, JsonMediaType))
        {
            return UnsupportedMediaType(metrics, $"send a JSON batch as {JsonMediaType} or a manifest as {YamlMediaType}");
        }
        var (body, early) = await ReadBodyAsync(context, options.Value, metrics, cancellationToken);
        if (early is not null)
        {
            return early;
        }
        Func<string, SubmitBatch> plan;
        if (isYaml)
        {
            if (ManifestBatches.Plan(body!.Bytes, context.Request.Query, options.Value, time.GetUtcNow(), out var errors) is not { } manifestPlan)
            {
                return ValidationFailed(errors, metrics);
            }
            plan = manifestPlan;
        }
        else
        {
            if (Deserialize<SubmitBatchRequest>(body!.Bytes, metrics, out var request) is { } invalid)
            {
                return invalid;
            }
            plan = batchId => ToSubmitBatch(request!, batchId);
        }
        // Validate a trial plan; the submitter plans again under the batch id it reserves (build ids derive from it).
        var trial = SubmitValidator.Validate(plan(BuildIds.NewBatchId()), options.Value, time.GetUtcNow());
        if (trial.Count > 0)
        {
            return ValidationFailed(trial, metrics);
        }
        var outcome = await submitter.SubmitBatchAsync(plan, isYaml ? "manifest" : "json", Caller(context), IdempotencyKey(context), body.Hash, cancellationToken);
        if (outcome.Value is { } record)
        {
            var status = BatchView.Create(record, await store.GetBatchBuildsAsync(record.BatchId, cancellationToken));
            return outcome.Status == SubmitStatus.Accepted ? Results.Accepted($"/v1/batches/{record.BatchId}", status) : Replayed(context, status);
        }
        return Failed(context, outcome.Status, outcome.Detail, options.Value);
    }

    /// <summary>A JSON batch as the one message the orchestrator receives; build ids derive from the batch id and image
    /// name as for manifests (<see cref="ManifestPlanner.BuildId"/>).</summary>
    internal static SubmitBatch ToSubmitBatch(SubmitBatchRequest request, string batchId) => new()
    {
        BatchId = batchId,
        Source = request.Source,
        Deadline = request.Deadline,
        Priority = request.Priority,
        Images = [.. (request.Images ?? []).Select(i => i is null ? null! : new BatchImage
        {
            Name = i.Name,
            BuildId = string.IsNullOrWhiteSpace(i.Name) ? BuildIds.NewBuildId() : ManifestPlanner.BuildId(batchId, i.Name),
            Spec = WithDefaults(i.Spec)!,
            DependsOn = i.DependsOn ?? [],
        })],
    };

    private static async Task<IResult> GetBatchAsync(string id, HttpContext context, IBuildStatusStore store, ApiMetrics metrics, CancellationToken cancellationToken)
    {
        var (found, refusal) = await LookUpBatchAsync(id, context, store, metrics, cancellationToken);
        if (found is not { } batch)
        {
            return refusal!;
        }
        return Results.Ok(BatchView.Create(batch, await store.GetBatchBuildsAsync(id, cancellationToken)));
    }

    /// <summary>Cancels every build of the batch that has not ended (as <c>DELETE /v1/builds/{id}</c> does each); the
    /// answer is the batch as it is after the cancels (its waiting images already <c>cancelled</c>).</summary>
    private static async Task<IResult> CancelBatchAsync(
        string id, HttpContext context, IBuildStatusStore store, Submitter submitter, IOptions<ApiOptions> options, ApiMetrics metrics,
        CancellationToken cancellationToken)
    {
        var (found, refusal) = await LookUpBatchAsync(id, context, store, metrics, cancellationToken);
        if (found is not { } batch)
        {
            return refusal!;
        }
        var builds = await store.GetBatchBuildsAsync(id, cancellationToken);
        var open = builds.Where(b => !b.State.IsFinal()).ToList();
        if (open.Count == 0)
        {
            return Problem(StatusCodes.Status409Conflict, "Batch already ended", $"every build of batch '{id}' has ended; there is nothing to cancel");
        }
        var caller = Caller(context);
        foreach (var record in open)
        {
            if (await submitter.CancelAsync(record, caller) is { } failure)
            {
                return Failed(context, SubmitStatus.Unavailable, failure, options.Value);
            }
        }
        return Results.Accepted($"/v1/batches/{id}", BatchView.Create(batch, await store.GetBatchBuildsAsync(id, CancellationToken.None)));
    }
}
