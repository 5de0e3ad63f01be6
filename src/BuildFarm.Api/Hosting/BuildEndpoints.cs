using System.Globalization;
using BuildFarm.Api.Auth;
using BuildFarm.Api.Metrics;
using BuildFarm.Api.OpenApi;
using BuildFarm.Api.Options;
using BuildFarm.Api.Submissions;
using BuildFarm.Status;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using static BuildFarm.Api.Hosting.RequestChecks;

namespace BuildFarm.Api.Hosting;

/// <summary><c>/v1/builds</c>: submit one build, read one, list them, cancel one.</summary>
internal static class BuildEndpoints
{
    public static void Map(RouteGroupBuilder v1)
    {
        v1.MapPost("/builds", SubmitBuildAsync)
            .WithTags("Builds").WithName("SubmitBuild").WithSummary("Submit one build")
            .Accepts<SubmitBuildRequest>(JsonMediaType)
            .Produces<BuildRecord>(StatusCodes.Status202Accepted).Produces<BuildRecord>(StatusCodes.Status200OK)
            .Documented(new OperationFacts
            {
                Scope = ApiScopes.Submit, Idempotent = true, LocationOnAccepted = true,
                Problems = [400, .. OperationFacts.AuthProblems, 413, 415, 422, 503],
            });
        v1.MapGet("/builds/{id}", GetBuildAsync)
            .WithTags("Builds").WithName("GetBuild").WithSummary("Read a build's record")
            .Produces<BuildRecord>()
            .Documented(new OperationFacts { Scope = ApiScopes.Read, Problems = [400, .. OperationFacts.AuthProblems, 404] });
        v1.MapGet("/builds", ListBuildsAsync)
            .WithTags("Builds").WithName("ListBuilds").WithSummary("List the key's tenant's builds (every tenant's with the admin scope; tenant narrows it), newest first, paged with continue")
            .Produces<BuildPage>()
            .Documented(new OperationFacts { Scope = ApiScopes.Read, Problems = [400, .. OperationFacts.AuthProblems] });
        v1.MapDelete("/builds/{id}", CancelBuildAsync)
            .WithTags("Builds").WithName("CancelBuild").WithSummary("Ask the farm to cancel a build; answers its record after the cancel")
            .Produces<BuildRecord>(StatusCodes.Status202Accepted)
            .Documented(new OperationFacts
            {
                Scope = ApiScopes.Cancel, LocationOnAccepted = true, Problems = [400, .. OperationFacts.AuthProblems, 404, 409, 503],
            });
        v1.MapPost("/builds/{id}/rerun", RerunBuildAsync)
            .WithTags("Builds").WithName("RerunBuild").WithSummary("Run an ended build again as a new build (rerunOf names the original); answers the new build's record")
            .Produces<BuildRecord>(StatusCodes.Status202Accepted).Produces<BuildRecord>(StatusCodes.Status200OK)
            .Documented(new OperationFacts
            {
                Scope = ApiScopes.Submit, Idempotent = true, LocationOnAccepted = true, Rerun = true,
                Problems = [400, .. OperationFacts.AuthProblems, 404, 409, 422, 503],
            });
    }

    private static async Task<IResult> SubmitBuildAsync(
        HttpContext context, Submitter submitter, IOptions<ApiOptions> options, ApiMetrics metrics, TimeProvider time, CancellationToken cancellationToken)
    {
        if (!IsMediaType(context.Request, JsonMediaType))
        {
            return UnsupportedMediaType(metrics, $"send the build as {JsonMediaType}");
        }
        var (body, early) = await ReadBodyAsync(context, options.Value, metrics, cancellationToken);
        if (early is not null)
        {
            return early;
        }
        if (Deserialize<SubmitBuildRequest>(body!.Bytes, metrics, out var request) is { } invalid)
        {
            return invalid;
        }
        request = request! with { Spec = WithDefaults(request.Spec)! };
        var errors = SubmitValidator.Validate(request, options.Value, time.GetUtcNow());
        if (errors.Count > 0)
        {
            return ValidationFailed(errors, metrics);
        }
        var outcome = await submitter.SubmitBuildAsync(request, Caller(context), IdempotencyKey(context), body.Hash, cancellationToken);
        return await AnswerAsync(context, outcome, options.Value);
    }

    private static Task<IResult> AnswerAsync(HttpContext context, SubmitOutcome<BuildRecord> outcome, ApiOptions options) =>
        SubmitAnswerAsync(context, outcome, options, r => $"/v1/builds/{r.BuildId}", r => Task.FromResult(r.AsWire()));

    private static async Task<IResult> GetBuildAsync(string id, HttpContext context, IBuildStatusStore store, ApiMetrics metrics, CancellationToken cancellationToken)
    {
        var (record, refusal) = await LookUpBuildAsync(id, context, store, metrics, cancellationToken);
        return refusal ?? Results.Ok(record!.AsWire());
    }

    /// <summary>The default page size of <c>GET /v1/builds</c> without <c>limit</c>.</summary>
    public const int DefaultPageSize = 100;

    private static async Task<IResult> ListBuildsAsync(
        HttpContext context, IBuildStatusStore store, IOptions<ApiOptions> options, ApiMetrics metrics, CancellationToken cancellationToken,
        string? state = null, string? batch = null, string? tenant = null, string? limit = null, [FromQuery(Name = "continue")] string? continueToken = null)
    {
        var caller = Caller(context);
        var errors = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        if (tenant is not null && Tenants.Problem(tenant) is { } tenantProblem)
        {
            errors["tenant"] = [tenantProblem];
        }
        else if (tenant is not null && !caller.IsAdmin && !string.Equals(tenant, caller.Tenant, StringComparison.Ordinal))
        {
            metrics.Rejected("missing_scope");
            return Problem(StatusCodes.Status403Forbidden, "Forbidden",
                $"the API key '{caller.Name}' lists only its own tenant's builds ('{caller.Tenant}'); other tenants need the '{ApiScopes.Admin}' scope");
        }
        BuildState? parsedState = null;
        if (state is not null)
        {
            if (BuildStates.TryParse(state, out var s))
            {
                parsedState = s;
            }
            else
            {
                errors["state"] = [$"'{state}' is not a state; states are {string.Join(", ", Enum.GetValues<BuildState>().Select(v => v.ToWire()))}"];
            }
        }
        var pageSize = DefaultPageSize;
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out pageSize) || pageSize < 1 || pageSize > options.Value.MaxPageSize))
        {
            errors["limit"] = [$"'{limit}' must be a whole number from 1 to {options.Value.MaxPageSize}"];
        }
        if (batch is not null && !RequestIds.IsValid(batch))
        {
            errors["batch"] = [RequestIds.Problem];
        }
        if (continueToken is not null && !BuildQuery.IsContinueToken(continueToken))
        {
            errors["continue"] = ["is not a continue token this API issued (take it from the previous page's 'continue')"];
        }
        if (errors.Count > 0)
        {
            return ValidationFailed(errors, metrics);
        }
        // The tenant filter runs in the store (its per-tenant index), so every page is full and the continue token stays right.
        var page = await store.ListBuildsAsync(new BuildQuery
        {
            State = parsedState, BatchId = batch, Tenant = tenant ?? caller.ListTenant, Limit = pageSize, Continue = continueToken,
        }, cancellationToken);
        return Results.Ok(page with { Items = [.. page.Items.Select(r => r.AsWire())] });
    }

    /// <summary>
    /// Submits the ended build again as a new build of the original's tenant (its spec as built, its priority; no
    /// deadline), linked by <see cref="BuildRecord.RerunOf"/>. With <c>failed=true</c> a build that succeeded is a conflict.
    /// </summary>
    private static async Task<IResult> RerunBuildAsync(
        string id, HttpContext context, IBuildStatusStore store, Submitter submitter, IOptions<ApiOptions> options, ApiMetrics metrics, TimeProvider time,
        CancellationToken cancellationToken, string? failed = null)
    {
        var (early, failedOnly) = RerunRequest(context, failed, metrics);
        if (early is not null)
        {
            return early;
        }
        var (found, refusal) = await LookUpBuildAsync(id, context, store, metrics, cancellationToken);
        if (found is not { } original)
        {
            return refusal!;
        }
        if (Reruns.BuildProblem(original, failedOnly) is { } problem)
        {
            return Problem(StatusCodes.Status409Conflict, "Build cannot be run again", problem);
        }
        var request = Reruns.BuildRequest(original);
        if (SubmitValidator.Validate(request, options.Value, time.GetUtcNow()) is { Count: > 0 } errors)
        {
            return NoLongerValid("Build cannot be run again", "build", id, errors);
        }
        var caller = RerunCaller(context, original.Tenant);
        var outcome = await submitter.SubmitBuildAsync(request, caller, IdempotencyKey(context), RerunHash("build", id, failedOnly), cancellationToken, rerunOf: id);
        return await AnswerAsync(context, outcome, options.Value);
    }

    /// <summary>Publishes the cancel and answers the record as it is after it: a <c>waiting</c> batch image is already
    /// <c>cancelled</c>; a queued or running build still shows its state until its worker stops it.</summary>
    private static async Task<IResult> CancelBuildAsync(
        string id, HttpContext context, IBuildStatusStore store, Submitter submitter, IOptions<ApiOptions> options, ApiMetrics metrics,
        CancellationToken cancellationToken)
    {
        var (found, refusal) = await LookUpBuildAsync(id, context, store, metrics, cancellationToken);
        if (found is not { } record)
        {
            return refusal!;
        }
        if (record.State.IsFinal())
        {
            return Problem(StatusCodes.Status409Conflict, "Build already ended", $"build '{id}' is already {record.State.ToWire()}; there is nothing to cancel");
        }
        if (await submitter.CancelAsync(record, Caller(context)) is { } failure)
        {
            return Failed(context, SubmitStatus.Unavailable, failure, options.Value);
        }
        var after = await store.GetBuildAsync(id, CancellationToken.None) ?? record;
        return Results.Accepted($"/v1/builds/{id}", after.AsWire());
    }
}
