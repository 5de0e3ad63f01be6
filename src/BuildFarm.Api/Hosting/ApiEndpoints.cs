using System.Globalization;
using System.Text.Json;
using BuildFarm.Api.Auth;
using BuildFarm.Api.Events;
using BuildFarm.Api.Metrics;
using BuildFarm.Api.Options;
using BuildFarm.Api.Submissions;
using BuildFarm.Client;
using BuildFarm.Contracts;
using BuildFarm.Manifests.Planning;
using BuildFarm.Status;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace BuildFarm.Api.Hosting;

/// <summary>The API's routes (docs/api.md): <c>/v1/builds</c>, <c>/v1/batches</c>, their event streams, health, metrics, OpenAPI.</summary>
public static partial class ApiEndpoints
{
    public const string JsonMediaType = "application/json";
    public const string YamlMediaType = "application/yaml";
    private static readonly string[] YamlMediaTypes = [YamlMediaType, "application/x-yaml", "text/yaml", "text/x-yaml"];

    /// <summary>The detail of a 415: the Content-Type the request sent and the ones its route accepts.</summary>
    internal static string UnsupportedMediaTypeDetail(HttpRequest request)
    {
        var sent = string.IsNullOrWhiteSpace(request.ContentType) ? "no Content-Type" : $"Content-Type '{Printable(request.ContentType)}'";
        var accepted = request.Path.StartsWithSegments("/v1/batches", StringComparison.Ordinal)
            ? $"a JSON batch as {JsonMediaType} or a manifest as {string.Join(", ", YamlMediaTypes)}"
            : JsonMediaType;
        return $"{sent} is not accepted here: send {accepted}";
    }

    private static string Printable(string value)
    {
        var cut = value.Length > 100 ? value[..100] + "…" : value;
        return string.Concat(cut.Select(c => char.IsControl(c) ? '?' : c));
    }

    public static WebApplication MapBuildFarmApi(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var options = app.Services.GetRequiredService<IOptions<ApiOptions>>().Value;
        var keys = app.Services.GetRequiredService<ApiKeyRing>();
        if (options.DisableAuth)
        {
            app.Logger.LogCritical(
                "AUTHENTICATION IS DISABLED (Api:DisableAuth=true): anyone who reaches this API can submit, read and cancel builds. Use this only for local development.");
        }
        else if (keys.Count == 0)
        {
            app.Logger.LogWarning("No API keys are configured (Api:Keys or Api:KeysDirectory): every /v1 request will be answered 401");
        }
        else
        {
            app.Logger.LogInformation("API keys loaded: {Names}", string.Join(", ", keys.Names));
        }

        // Malformed HTTP framing met outside a handler's own body read (Kestrel's BadHttpRequestException) is the client's
        // fault: a 4xx problem, never a 500.
        app.Use(async (context, next) =>
        {
            try
            {
                await next(context);
            }
            catch (BadHttpRequestException e) when (!context.Response.HasStarted)
            {
                context.Response.Clear();
                var status = e.StatusCode is >= 400 and < 500 ? e.StatusCode : StatusCodes.Status400BadRequest;
                await Problem(status, "Malformed request", e.Message).ExecuteAsync(context);
            }
        });
        app.UseStatusCodePages();
        app.UseAuthentication();
        app.UseAuthorization();

        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = c => c.Tags.Contains(ApiServiceCollectionExtensions.ReadyTag) });
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapOpenApi("/openapi/{documentName}.json");

        var v1 = app.MapGroup("/v1");
        v1.MapPost("/builds", SubmitBuildAsync).RequireAuthorization(ApiScopes.Submit)
            .WithName("SubmitBuild").WithSummary("Submit one build")
            .Accepts<SubmitBuildRequest>(JsonMediaType)
            .Produces<BuildRecord>(StatusCodes.Status202Accepted).Produces<BuildRecord>(StatusCodes.Status200OK)
            .ProducesValidationProblem().ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        v1.MapPost("/batches", SubmitBatchAsync).RequireAuthorization(ApiScopes.Submit)
            .WithName("SubmitBatch").WithSummary("Submit a batch: a JSON list of images, or a manifest (application/yaml; query sha, only, changed)")
            .Accepts<SubmitBatchRequest>(JsonMediaType, YamlMediaTypes)
            .Produces<BatchStatus>(StatusCodes.Status202Accepted).Produces<BatchStatus>(StatusCodes.Status200OK)
            .ProducesValidationProblem().ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        v1.MapGet("/builds/{id}", GetBuildAsync).RequireAuthorization(ApiScopes.Read)
            .WithName("GetBuild").Produces<BuildRecord>().ProducesProblem(StatusCodes.Status404NotFound);
        v1.MapGet("/builds", ListBuildsAsync).RequireAuthorization(ApiScopes.Read)
            .WithName("ListBuilds").WithSummary("List the key's tenant's builds (every tenant's with the admin scope; tenant narrows it), newest first, paged with continue")
            .Produces<BuildPage>().ProducesValidationProblem();
        v1.MapGet("/batches/{id}", GetBatchAsync).RequireAuthorization(ApiScopes.Read)
            .WithName("GetBatch").Produces<BatchStatus>().ProducesProblem(StatusCodes.Status404NotFound);
        v1.MapGet("/builds/{id}/events", StreamBuildAsync).RequireAuthorization(ApiScopes.Read)
            .WithName("StreamBuildEvents").WithSummary("Server-Sent Events: the build's record, then each change, until it is final")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream").ProducesProblem(StatusCodes.Status404NotFound);
        v1.MapGet("/batches/{id}/events", StreamBatchAsync).RequireAuthorization(ApiScopes.Read)
            .WithName("StreamBatchEvents").WithSummary("Server-Sent Events: the batch's records, then each change, until all are final")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream").ProducesProblem(StatusCodes.Status404NotFound);
        MapBuildLogs(v1);
        v1.MapDelete("/builds/{id}", CancelBuildAsync).RequireAuthorization(ApiScopes.Cancel)
            .WithName("CancelBuild").WithSummary("Ask the farm to cancel a build")
            .Produces<BuildRecord>(StatusCodes.Status202Accepted).ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        v1.MapDelete("/batches/{id}", CancelBatchAsync).RequireAuthorization(ApiScopes.Cancel)
            .WithName("CancelBatch").WithSummary("Ask the farm to cancel every build of a batch that has not ended")
            .Produces<BatchStatus>(StatusCodes.Status202Accepted).ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    /// <summary>The caller: key name, tenant and admin scope. A record of another tenant is answered as unknown (404),
    /// never 403, so a key cannot tell whether another tenant's build exists.</summary>
    private static ApiCaller Caller(HttpContext context) => ApiCaller.From(context.User);

    private static async Task<IResult> SubmitBuildAsync(
        HttpContext context, Submitter submitter, IOptions<ApiOptions> options, ApiMetrics metrics, TimeProvider time, CancellationToken cancellationToken)
    {
        if (!IsMediaType(context.Request, JsonMediaType))
        {
            metrics.Rejected("unsupported_media_type");
            return Problem(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type", $"send the build as {JsonMediaType}");
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
        var errors = SubmitValidator.Validate(request!, options.Value, time.GetUtcNow());
        if (errors.Count > 0)
        {
            return ValidationFailed(errors, metrics);
        }
        var outcome = await submitter.SubmitBuildAsync(request!, Caller(context), IdempotencyKey(context), body.Hash, cancellationToken);
        return outcome.Status switch
        {
            SubmitStatus.Accepted => Results.Accepted($"/v1/builds/{outcome.Value!.BuildId}", outcome.Value),
            SubmitStatus.Replayed => Results.Ok(outcome.Value),
            _ => Failed(context, outcome.Status, outcome.Detail, options.Value),
        };
    }

    private static async Task<IResult> SubmitBatchAsync(
        HttpContext context, Submitter submitter, IBuildStatusStore store, IOptions<ApiOptions> options, ApiMetrics metrics, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var isYaml = YamlMediaTypes.Any(t => IsMediaType(context.Request, t));
        if (!isYaml && !IsMediaType(context.Request, JsonMediaType))
        {
            metrics.Rejected("unsupported_media_type");
            return Problem(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type",
                $"send a JSON batch as {JsonMediaType} or a manifest as {YamlMediaType}");
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
            return outcome.Status == SubmitStatus.Accepted ? Results.Accepted($"/v1/batches/{record.BatchId}", status) : Results.Ok(status);
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
            Spec = i.Spec,
            DependsOn = i.DependsOn ?? [],
        })],
    };

    private static async Task<IResult> GetBuildAsync(string id, HttpContext context, IBuildStatusStore store, ApiMetrics metrics, CancellationToken cancellationToken)
    {
        var (record, refusal) = await LookUpBuildAsync(id, context, store, metrics, cancellationToken);
        return refusal ?? Results.Ok(record);
    }

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
    /// The build's record for an id route: a refusal (400) for an id that is not one, before the store sees it; 404 when it
    /// does not exist or another tenant owns it (unless the caller is an admin); else the record.
    /// </summary>
    private static async Task<(BuildRecord? Record, IResult? Refusal)> LookUpBuildAsync(
        string id, HttpContext context, IBuildStatusStore store, ApiMetrics metrics, CancellationToken cancellationToken)
    {
        if (InvalidId(id, metrics) is { } invalid)
        {
            return (null, invalid);
        }
        return await store.GetBuildAsync(id, cancellationToken) is { } record && Caller(context).CanSee(record.Tenant)
            ? (record, null)
            : (null, NotFound("build", id));
    }

    /// <summary>The batch's record for an id route, as <see cref="LookUpBuildAsync"/>.</summary>
    private static async Task<(BatchRecord? Record, IResult? Refusal)> LookUpBatchAsync(
        string id, HttpContext context, IBuildStatusStore store, ApiMetrics metrics, CancellationToken cancellationToken)
    {
        if (InvalidId(id, metrics) is { } invalid)
        {
            return (null, invalid);
        }
        return await store.GetBatchAsync(id, cancellationToken) is { } batch && Caller(context).CanSee(batch.Tenant)
            ? (batch, null)
            : (null, NotFound("batch", id));
    }

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
        var pageSize = 100;
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
        return Results.Ok(page);
    }

    private static async Task<IResult> StreamBuildAsync(
        string id, HttpContext context, IBuildStatusStore store, EventStreams streams, ApiMetrics metrics, CancellationToken cancellationToken)
    {
        if ((await LookUpBuildAsync(id, context, store, metrics, cancellationToken)).Refusal is { } refusal)
        {
            return refusal;
        }
        await RunStreamAsync(() => streams.StreamBuildAsync(context, Caller(context), id, LastEventId(context), cancellationToken));
        return Results.Empty;
    }

    private static async Task<IResult> StreamBatchAsync(
        string id, HttpContext context, IBuildStatusStore store, EventStreams streams, ApiMetrics metrics, CancellationToken cancellationToken)
    {
        if ((await LookUpBatchAsync(id, context, store, metrics, cancellationToken)).Refusal is { } refusal)
        {
            return refusal;
        }
        await RunStreamAsync(() => streams.StreamBatchAsync(context, Caller(context), id, LastEventId(context), cancellationToken));
        return Results.Empty;
    }

    private static async Task RunStreamAsync(Func<Task> stream)
    {
        try
        {
            await stream();
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // the client went away
        }
    }

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
        return Results.Accepted($"/v1/builds/{id}", record);
    }

    /// <summary>Cancels every build of the batch that has not ended (as <c>DELETE /v1/builds/{id}</c> does each); the
    /// answer is the batch as it stood before the cancels took effect.</summary>
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
        return Results.Accepted($"/v1/batches/{id}", BatchView.Create(batch, builds));
    }

    private static long? LastEventId(HttpContext context) =>
        long.TryParse(context.Request.Headers["Last-Event-ID"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : null;

    private static string? IdempotencyKey(HttpContext context) =>
        context.Request.Headers[BuildFarmClient.IdempotencyKeyHeader].ToString() is { Length: > 0 } key ? key : null;

    private static bool IsMediaType(HttpRequest request, string mediaType) =>
        request.ContentType is { } contentType
        && contentType.Split(';')[0].Trim().Equals(mediaType, StringComparison.OrdinalIgnoreCase);

    private static async Task<(RequestBody? Body, IResult? Early)> ReadBodyAsync(
        HttpContext context, ApiOptions options, ApiMetrics metrics, CancellationToken cancellationToken)
    {
        if (IdempotencyKey(context) is { } key && (key.Length > 200 || key.Any(c => c is < '!' or > '~')))
        {
            return (null, ValidationFailed(new() { ["Idempotency-Key"] = ["must be 1-200 printable ASCII characters without spaces"] }, metrics));
        }
        RequestBody? body;
        try
        {
            body = await RequestBody.ReadAsync(context.Request, options.MaxBodyBytes, cancellationToken);
        }
        catch (BadHttpRequestException e)
        {
            // Malformed framing (a chunk size that overflows, a body shorter than its Content-Length, ...): the client's fault.
            metrics.Rejected("bad_request");
            return (null, Problem(e.StatusCode is >= 400 and < 500 ? e.StatusCode : StatusCodes.Status400BadRequest, "Malformed request body", $"body: {e.Message}"));
        }
        catch (IOException e) when (!context.RequestAborted.IsCancellationRequested)
        {
            // Kestrel reports some framing errors as a bare IOException: a chunk size that overflows is
            // "Bad chunk size data" wrapping an OverflowException.
            metrics.Rejected("bad_request");
            return (null, Problem(StatusCodes.Status400BadRequest, "Malformed request body", $"body: {e.Message}"));
        }
        if (body is null)
        {
            metrics.Rejected("too_large");
            return (null, Problem(StatusCodes.Status413PayloadTooLarge, "Request body too large", $"the body exceeds the limit of {options.MaxBodyBytes} bytes (Api:MaxBodyBytes)"));
        }
        return (body, null);
    }

    private static IResult? Deserialize<T>(byte[] body, ApiMetrics metrics, out T? value)
        where T : class
    {
        try
        {
            value = JsonSerializer.Deserialize<T>(body, BuildFarmJson.Options);
        }
        catch (JsonException e)
        {
            value = null;
            var field = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "body" : e.Path.TrimStart('$', '.');
            return ValidationFailed(new() { [field] = [JsonProblem(e)] }, metrics);
        }
        return value is null ? ValidationFailed(new() { ["body"] = ["is empty or null; send a JSON object"] }, metrics) : null;
    }

    private static string JsonProblem(JsonException e)
    {
        // System.Text.Json messages name the .NET type; keep the part people need.
        var message = e.Message;
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }

    private static IResult ValidationFailed(Dictionary<string, List<string>> errors, ApiMetrics metrics)
    {
        metrics.Rejected("validation");
        return Results.ValidationProblem(
            errors.ToDictionary(e => e.Key, e => e.Value.ToArray(), StringComparer.Ordinal),
            detail: $"{errors.Count} field(s) are invalid; nothing was submitted",
            title: "The request is invalid");
    }

    private static IResult Failed(HttpContext context, SubmitStatus status, string? detail, ApiOptions options)
    {
        if (status == SubmitStatus.IdempotencyConflict)
        {
            return Problem(StatusCodes.Status422UnprocessableEntity, "Idempotency-Key reused", detail);
        }
        context.Response.Headers.RetryAfter = ((int)Math.Ceiling(options.RetryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        return Problem(StatusCodes.Status503ServiceUnavailable, "Message broker unavailable", $"{detail}; nothing was submitted, retry later");
    }

    /// <summary>A 400 naming <c>id</c> when <paramref name="id"/> cannot be an id the farm issued; checked before any store
    /// sees it.</summary>
    private static IResult? InvalidId(string id, ApiMetrics metrics) =>
        RequestIds.IsValid(id) ? null : ValidationFailed(new() { ["id"] = [RequestIds.Problem] }, metrics);

    private static IResult NotFound(string kind, string id) =>
        Problem(StatusCodes.Status404NotFound, $"Unknown {kind}", $"no {kind} '{id}' (unknown, or its record expired)");

    private static IResult Problem(int status, string title, string? detail) => Results.Problem(detail: detail, statusCode: status, title: title);
}
