using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using BuildFarm.Api.Auth;
using BuildFarm.Api.Metrics;
using BuildFarm.Api.Options;
using BuildFarm.Api.Submissions;
using BuildFarm.Contracts;
using BuildFarm.Status;

namespace BuildFarm.Api.Hosting;

/// <summary>
/// The checks every route shares, and the problems they answer with: media types, the bounded body read, JSON bodies,
/// the <c>Idempotency-Key</c> header, ids in paths (and the tenant's right to see them), and the 4xx/5xx problem forms.
/// </summary>
internal static class RequestChecks
{
    public const string JsonMediaType = "application/json";
    public const string YamlMediaType = "application/yaml";
    public static readonly string[] YamlMediaTypes = [YamlMediaType, "application/x-yaml", "text/yaml", "text/x-yaml"];

    /// <summary>The header that answers "this 200 is a replay of an earlier submit" (value <c>true</c>).</summary>
    public const string ReplayedHeader = "Idempotent-Replayed";

    /// <summary>The caller: key name, tenant and admin scope. A record of another tenant is answered as unknown (404),
    /// never 403, so a key cannot tell whether another tenant's build exists.</summary>
    public static ApiCaller Caller(HttpContext context) => ApiCaller.From(context.User);

    /// <summary>The detail of a 415: the Content-Type the request sent and the ones its route accepts.</summary>
    public static string UnsupportedMediaTypeDetail(HttpRequest request)
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

    public static bool IsMediaType(HttpRequest request, string mediaType) =>
        request.ContentType is { } contentType
        && contentType.Split(';')[0].Trim().Equals(mediaType, StringComparison.OrdinalIgnoreCase);

    public static string? IdempotencyKey(HttpContext context) =>
        context.Request.Headers[ApiHeaders.IdempotencyKey].ToString() is { Length: > 0 } key ? key : null;

    /// <summary>A 200 that answers an earlier submit with the same Idempotency-Key, marked so that a client can tell it
    /// from a 202 without reading the status line.</summary>
    public static IResult Replayed<T>(HttpContext context, T value)
    {
        context.Response.Headers[ReplayedHeader] = "true";
        return Results.Ok(value);
    }

    /// <summary>A 400 naming the <c>Idempotency-Key</c> header when it is not 1-200 printable ASCII characters; null when absent or fine.</summary>
    public static IResult? InvalidIdempotencyKey(HttpContext context, ApiMetrics metrics) =>
        IdempotencyKey(context) is { } key && (key.Length > 200 || key.Any(c => c is < '!' or > '~'))
            ? ValidationFailed(new() { [ApiHeaders.IdempotencyKey] = ["must be 1-200 printable ASCII characters without spaces"] }, metrics)
            : null;

    /// <summary>
    /// The checks of a re-run request (it has no body): the Idempotency-Key and the <c>failed</c> query parameter
    /// (<c>true</c> or <c>false</c>, absent is false). The answer when one is bad, else whether only what failed runs again.
    /// </summary>
    public static (IResult? Early, bool FailedOnly) RerunRequest(HttpContext context, string? failed, ApiMetrics metrics)
    {
        if (InvalidIdempotencyKey(context, metrics) is { } invalid)
        {
            return (invalid, false);
        }
        if (failed is null)
        {
            return (null, false);
        }
        return bool.TryParse(failed, out var value)
            ? (null, value)
            : (ValidationFailed(new() { ["failed"] = [$"'{Printable(failed)}' must be true or false"] }, metrics), false);
    }

    /// <summary>
    /// Whom a re-run acts for: the caller, but in the original's tenant (an admin re-running another tenant's build makes
    /// a build that tenant owns and sees, and shares that tenant's Idempotency-Keys). Records from before tenants: the caller's.
    /// </summary>
    public static ApiCaller RerunCaller(HttpContext context, string? owner)
    {
        var caller = Caller(context);
        return owner is null ? caller : caller with { Tenant = owner };
    }

    /// <summary>What identifies a re-run request for its Idempotency-Key: what is run again and how.</summary>
    public static string RerunHash(string kind, string id, bool failedOnly) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"rerun\n{kind}\n{id}\n{(failedOnly ? "failed" : "all")}")));

    /// <summary>The body, read whole up to <see cref="ApiOptions.MaxBodyBytes"/>; or the answer when the request cannot have one
    /// (a bad Idempotency-Key, malformed framing, too large).</summary>
    public static async Task<(RequestBody? Body, IResult? Early)> ReadBodyAsync(
        HttpContext context, ApiOptions options, ApiMetrics metrics, CancellationToken cancellationToken)
    {
        if (InvalidIdempotencyKey(context, metrics) is { } invalidKey)
        {
            return (null, invalidKey);
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

    /// <summary>
    /// A spec as sent, with an explicit <c>null</c> in an optional field read as the field left out (its default): generated
    /// clients (NSwag) send <c>"dockerfile": null</c> for a property nobody set. Null stays null (the validator names it).
    /// </summary>
    public static BuildSpec? WithDefaults(BuildSpec? spec) => spec is null ? null : spec with
    {
        Dockerfile = spec.Dockerfile ?? new BuildSpec { Context = "" }.Dockerfile,
        Destinations = spec.Destinations ?? [],
        BuildArgs = spec.BuildArgs ?? new Dictionary<string, string>(),
        Labels = spec.Labels ?? new Dictionary<string, string>(),
    };

    public static IResult? Deserialize<T>(byte[] body, ApiMetrics metrics, out T? value)
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

    /// <summary>
    /// The build's record for an id route: a refusal (400) for an id that is not one, before the store sees it; 404 when it
    /// does not exist or another tenant owns it (unless the caller is an admin); else the record.
    /// </summary>
    public static Task<(BuildRecord? Record, IResult? Refusal)> LookUpBuildAsync(
        string id, HttpContext context, IBuildStatusStore store, ApiMetrics metrics, CancellationToken cancellationToken) =>
        LookUpAsync("build", id, context, metrics, () => store.GetBuildAsync(id, cancellationToken), r => r.Tenant);

    /// <summary>The batch's record for an id route, as <see cref="LookUpBuildAsync"/>.</summary>
    public static Task<(BatchRecord? Record, IResult? Refusal)> LookUpBatchAsync(
        string id, HttpContext context, IBuildStatusStore store, ApiMetrics metrics, CancellationToken cancellationToken) =>
        LookUpAsync("batch", id, context, metrics, () => store.GetBatchAsync(id, cancellationToken), b => b.Tenant);

    private static async Task<(T? Record, IResult? Refusal)> LookUpAsync<T>(
        string kind, string id, HttpContext context, ApiMetrics metrics, Func<Task<T?>> get, Func<T, string?> tenant)
        where T : class
    {
        if (InvalidId(id, metrics) is { } invalid)
        {
            return (null, invalid);
        }
        return await get() is { } record && Caller(context).CanSee(tenant(record))
            ? (record, null)
            : (null, NotFound(kind, id));
    }

    /// <summary>
    /// The answer to a submit or a re-run: 202 with the new build's or batch's <c>Location</c>, 200 marked as a replay for
    /// an earlier request with the same <c>Idempotency-Key</c>, else <see cref="Failed"/>'s problem.
    /// </summary>
    public static async Task<IResult> SubmitAnswerAsync<T, TView>(
        HttpContext context, SubmitOutcome<T> outcome, ApiOptions options, Func<T, string> location, Func<T, Task<TView>> view)
        where T : class
    {
        if (outcome.Value is not { } value)
        {
            return Failed(context, outcome.Status, outcome.Detail, options);
        }
        var answer = await view(value);
        return outcome.Status == SubmitStatus.Accepted ? Results.Accepted(location(value), answer) : Replayed(context, answer);
    }

    /// <summary>409 for a re-run whose original no longer passes the submit checks (the bounds changed since), naming each problem.</summary>
    public static IResult NoLongerValid(string title, string kind, string id, Dictionary<string, List<string>> errors) =>
        Problem(StatusCodes.Status409Conflict, title,
            $"{kind} '{id}' is no longer a valid submit: {string.Join("; ", errors.Select(e => $"{e.Key}: {string.Join(", ", e.Value)}"))}");

    public static IResult ValidationFailed(Dictionary<string, List<string>> errors, ApiMetrics metrics)
    {
        metrics.Rejected("validation");
        return Results.ValidationProblem(
            errors.ToDictionary(e => e.Key, e => e.Value.ToArray(), StringComparer.Ordinal),
            detail: $"{errors.Count} field(s) are invalid; nothing was submitted",
            title: "The request is invalid");
    }

    public static IResult Failed(HttpContext context, SubmitStatus status, string? detail, ApiOptions options)
    {
        if (status == SubmitStatus.IdempotencyConflict)
        {
            return Problem(StatusCodes.Status422UnprocessableEntity, "Idempotency-Key reused", detail);
        }
        context.Response.Headers.RetryAfter = ((int)Math.Ceiling(options.RetryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        return Problem(StatusCodes.Status503ServiceUnavailable, "Message broker unavailable", $"{detail}; nothing was submitted, retry later");
    }

    public static IResult UnsupportedMediaType(ApiMetrics metrics, string detail)
    {
        metrics.Rejected("unsupported_media_type");
        return Problem(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type", detail);
    }

    /// <summary>A 400 naming <c>id</c> when <paramref name="id"/> cannot be an id the farm issued; checked before any store
    /// sees it.</summary>
    private static IResult? InvalidId(string id, ApiMetrics metrics) =>
        RequestIds.IsValid(id) ? null : ValidationFailed(new() { ["id"] = [RequestIds.Problem] }, metrics);

    private static IResult NotFound(string kind, string id) =>
        Problem(StatusCodes.Status404NotFound, $"Unknown {kind}", $"no {kind} '{id}' (unknown, or its record expired)");

    public static IResult Problem(int status, string title, string? detail) => Results.Problem(detail: detail, statusCode: status, title: title);
}
