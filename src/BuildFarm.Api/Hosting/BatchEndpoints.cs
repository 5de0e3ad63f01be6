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
        v1.MapPost("/batches/{id}/rerun", RerunBatchAsync)
            .WithTags("Batches").WithName("RerunBatch").WithSummary("Run an ended batch again as a new batch: every image, or with failed=true only what did not succeed and its dependents, on the digests that did")
            .Produces<BatchStatus>(StatusCodes.Status202Accepted).Produces<BatchStatus>(StatusCodes.Status200OK)
            .Documented(new OperationFacts
            {
                Scope = ApiScopes.Submit, Idempotent = true, LocationOnAccepted = true, Rerun = true,
                Problems = [400, .. OperationFacts.AuthProblems, 404, 409, 422, 503],
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
        return await AnswerAsync(context, outcome, store, options.Value, cancellationToken);
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

    /// <summary>
    /// Cancels every build of the batch that has not ended (as <c>DELETE /v1/builds/{id}</c> does each); the answer is the
    /// batch as it is after the cancels (its waiting images already <c>cancelled</c>). The waiting images go first: once a
    /// running build ends cancelled the orchestrator would end its still waiting dependents as <c>dependency_failed</c>,
    /// while the batch's own cancel ends them <c>cancelled</c>.
    /// </summary>
    /// <summary>
    /// The order a batch's open builds are cancelled in: the waiting ones first, each before the images it depends on
    /// (deepest first), then the queued and running ones. The orchestrator ends the waiting dependents of a build that
    /// ended as <c>dependency_failed</c> unless they have ended already: cancelled in this order, every waiting image is
    /// cancelled before anything it waits for ends.
    /// </summary>
    internal static IReadOnlyList<BuildRecord> CancelOrder(IReadOnlyList<BuildRecord> open)
    {
        var byId = open.ToDictionary(b => b.BuildId, StringComparer.Ordinal);
        // Depth among the open builds (longest chain of open dependencies below it), without recursion: a batch may hold a
        // long chain. A cycle (refused at submit) counts as depth 0 where it closes.
        var depth = new Dictionary<string, int>(StringComparer.Ordinal);
        var onPath = new HashSet<string>(StringComparer.Ordinal);
        foreach (var root in open)
        {
            var stack = new Stack<(BuildRecord Build, bool Expanded)>();
            stack.Push((root, false));
            while (stack.Count > 0)
            {
                var (build, expanded) = stack.Pop();
                if (depth.ContainsKey(build.BuildId))
                {
                    continue;
                }
                var parents = build.DependsOn.Where(byId.ContainsKey).Select(id => byId[id]).ToList();
                if (!expanded)
                {
                    onPath.Add(build.BuildId);
                    stack.Push((build, true));
                    foreach (var parent in parents.Where(p => !depth.ContainsKey(p.BuildId) && !onPath.Contains(p.BuildId)))
                    {
                        stack.Push((parent, false));
                    }
                    continue;
                }
                onPath.Remove(build.BuildId);
                depth[build.BuildId] = parents.Select(p => depth.TryGetValue(p.BuildId, out var d) ? d + 1 : 0).DefaultIfEmpty(0).Max();
            }
        }
        int Depth(BuildRecord build) => depth.GetValueOrDefault(build.BuildId);
        return [.. open.OrderBy(b => b.State == BuildState.Waiting ? 0 : 1).ThenByDescending(b => b.State == BuildState.Waiting ? Depth(b) : 0)
            .ThenBy(b => b.BuildId, StringComparer.Ordinal)];
    }

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
        foreach (var record in CancelOrder(open))
        {
            if (await submitter.CancelAsync(record, caller) is { } failure)
            {
                return Failed(context, SubmitStatus.Unavailable, failure, options.Value);
            }
        }
        return Results.Accepted($"/v1/batches/{id}", BatchView.Create(batch, await store.GetBatchBuildsAsync(id, CancellationToken.None)));
    }

    /// <summary>
    /// Submits an ended batch again as a new batch of the original's tenant, linked by <see cref="BatchStatus.RerunOf"/>:
    /// every image, or with <c>failed=true</c> those that did not succeed and their dependents (<see cref="Reruns.Select"/>),
    /// the others reused (<see cref="BatchStatus.Reused"/>). Checked against the submit bounds like any batch.
    /// </summary>
    private static async Task<IResult> RerunBatchAsync(
        string id, HttpContext context, IBuildStatusStore store, Submitter submitter, IOptions<ApiOptions> options, ApiMetrics metrics, TimeProvider time,
        CancellationToken cancellationToken, string? failed = null)
    {
        var (early, failedOnly) = RerunRequest(context, failed, metrics);
        if (early is not null)
        {
            return early;
        }
        var (found, refusal) = await LookUpBatchAsync(id, context, store, metrics, cancellationToken);
        if (found is not { } original)
        {
            return refusal!;
        }
        var builds = await store.GetBatchBuildsAsync(id, cancellationToken);
        if (Reruns.Select(original, builds, failedOnly, out var problem) is not { } selection)
        {
            return Problem(StatusCodes.Status409Conflict, "Batch cannot be run again", problem);
        }
        var trial = SubmitValidator.Validate(Reruns.Plan(original, selection, BuildIds.NewBatchId()), options.Value, time.GetUtcNow());
        if (trial.Count > 0)
        {
            return NoLongerValid("Batch cannot be run again", "batch", id, trial);
        }
        var caller = RerunCaller(context, original.Tenant);
        var outcome = await submitter.SubmitBatchAsync(batchId => Reruns.Plan(original, selection, batchId), "rerun", caller, IdempotencyKey(context),
            RerunHash("batch", id, failedOnly), cancellationToken, rerunOf: id, reused: Reruns.ReusedImages(original, selection));
        return await AnswerAsync(context, outcome, store, options.Value, cancellationToken);
    }

    private static Task<IResult> AnswerAsync(
        HttpContext context, SubmitOutcome<BatchRecord> outcome, IBuildStatusStore store, ApiOptions options, CancellationToken cancellationToken) =>
        SubmitAnswerAsync(context, outcome, options, r => $"/v1/batches/{r.BatchId}",
            async r => BatchView.Create(r, await store.GetBatchBuildsAsync(r.BatchId, cancellationToken)));
}
