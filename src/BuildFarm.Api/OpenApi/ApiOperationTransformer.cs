using System.Globalization;
using System.Text.Json.Nodes;
using BuildFarm.Api.Auth;
using BuildFarm.Api.Hosting;
using BuildFarm.Api.Options;
using BuildFarm.Coordination.Logs;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;

namespace BuildFarm.Api.OpenApi;

/// <summary>
/// Adds to each <c>/v1</c> operation what its <see cref="OperationFacts"/> say: the security requirement with the scope
/// it needs (also as <c>x-required-scope</c> and in the description), a description on each problem response, the
/// <c>Location</c>, <c>Retry-After</c> and <c>Idempotent-Replayed</c> response headers, the <c>Idempotency-Key</c> and
/// <c>Last-Event-ID</c> request headers, the manifest body and query, the list's query constraints and the SSE stream.
/// </summary>
internal sealed class ApiOperationTransformer(IOptions<ApiOptions> options) : IOpenApiOperationTransformer
{
    public const string RequiredScopeExtension = "x-required-scope";
    public const string EventDataExtension = "x-event-data-schema";

    private static readonly Dictionary<int, string> ProblemDescriptions = new()
    {
        [400] = "The request is invalid: the errors map names each bad field (body, query, header or the id in the path)",
        [401] = "No API key, or an unknown one (WWW-Authenticate: Bearer)",
        [403] = "The API key lacks the scope this operation needs",
        [404] = "No such build or batch, its record expired, or another tenant owns it",
        [409] = "The build's or batch's state does not allow it: a cancel of one already final; a re-run of one not ended yet, of nothing that failed (failed=true), or of a batch image that never received its dependencies' digests",
        [413] = "The body exceeds Api:MaxBodyBytes",
        [415] = "The Content-Type is not one this operation accepts",
        [422] = "The Idempotency-Key was used for a different request",
        [503] = "The message broker did not confirm the publish; nothing was submitted. Retry after Retry-After seconds",
    };

    public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(operation);
        ArgumentNullException.ThrowIfNull(context);
        if (context.Description.ActionDescriptor.EndpointMetadata.OfType<OperationFacts>().LastOrDefault() is not { } facts)
        {
            return Task.CompletedTask;
        }
        var api = options.Value;
        operation.Responses ??= new OpenApiResponses();
        if (facts.Scope is { } scope)
        {
            operation.Security =
            [
                new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(ApiKeyAuthenticationHandler.SchemeName, context.Document)] = [scope] },
            ];
            operation.Extensions ??= new Dictionary<string, IOpenApiExtension>();
            operation.Extensions[RequiredScopeExtension] = new JsonNodeExtension(JsonValue.Create(scope));
            var reach = scope is ApiScopes.Read or ApiScopes.Cancel
                ? $" A key sees its own tenant's builds and batches only, unless it also has the '{ApiScopes.Admin}' scope."
                : "";
            operation.Description = $"Needs an API key with the '{scope}' scope.{reach}";
        }
        foreach (var (status, text) in ProblemDescriptions)
        {
            if (operation.Responses.TryGetValue(status.ToString(CultureInfo.InvariantCulture), out var found) && found is OpenApiResponse response)
            {
                response.Description = text;
                if (status == 503)
                {
                    Header(response, "Retry-After", "Seconds to wait before retrying (Api:RetryAfter)", JsonSchemaType.Integer, required: true);
                }
                if (status == 401)
                {
                    Header(response, "WWW-Authenticate", "Bearer realm=\"buildfarm\" (with error=\"invalid_token\" for an unknown key)", JsonSchemaType.String, required: true);
                }
            }
        }
        if (facts.LocationOnAccepted && operation.Responses.TryGetValue("202", out var accepted) && accepted is OpenApiResponse acceptedResponse)
        {
            acceptedResponse.Description = "Accepted: published to the farm";
            Header(acceptedResponse, "Location", "The build's or batch's URL (/v1/builds/{id}, /v1/batches/{id})", JsonSchemaType.String, required: true);
        }
        if (facts.Idempotent)
        {
            AddParameter(operation, new OpenApiParameter
            {
                Name = ApiHeaders.IdempotencyKey,
                In = ParameterLocation.Header,
                Description = "Makes a retry safe: the same key and request within Api:IdempotencyTtl answer 200 with the original (and publish nothing); the same key with another request is 422. Shared by the keys of one tenant.",
                Schema = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = 200, Pattern = "^[!-~]+$" },
            });
            if (operation.Responses.TryGetValue("200", out var ok) && ok is OpenApiResponse replay)
            {
                replay.Description = $"An idempotent replay: the original answer of an earlier request with the same Idempotency-Key (marked {RequestChecks.ReplayedHeader}: true); nothing was published";
                Header(replay, RequestChecks.ReplayedHeader, "Always 'true': this answer replays an earlier submit", JsonSchemaType.String, required: true);
            }
        }
        if (facts.EventStream)
        {
            DescribeEventStream(operation);
        }
        if (facts.Manifest)
        {
            DescribeManifest(operation);
        }
        if (facts.Rerun)
        {
            foreach (var parameter in (operation.Parameters ?? []).OfType<OpenApiParameter>().Where(p => p is { In: ParameterLocation.Query, Name: "failed" }))
            {
                parameter.Description = "true: run again only what did not succeed (failed, dependency_failed, cancelled) and its dependents, reusing the digests of what succeeded; false (the default): everything";
                parameter.Schema = new OpenApiSchema { Type = JsonSchemaType.Boolean, Default = JsonValue.Create(false) };
            }
        }
        if (string.Equals(operation.OperationId, "ListBuilds", StringComparison.Ordinal))
        {
            DescribeListQuery(operation, api.MaxPageSize);
        }
        if (string.Equals(operation.OperationId, LogEndpoints.OperationId, StringComparison.Ordinal))
        {
            DescribeLog(operation);
        }
        foreach (var parameter in (operation.Parameters ?? []).OfType<OpenApiParameter>().Where(p => p is { In: ParameterLocation.Path, Name: "id" }))
        {
            parameter.Description = "A build or batch id the farm issued";
            parameter.Schema = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = RequestIds.MaxLength, Pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$" };
        }
        return Task.CompletedTask;
    }

    private static void DescribeEventStream(OpenApiOperation operation)
    {
        AddLastEventId(operation,
            "Resume after this event id: a build stream skips the snapshot when the record's version is not newer; a batch stream skips the snapshots when nothing changed since");
        if (operation.Responses!.TryGetValue("200", out var found) && found is OpenApiResponse response)
        {
            response.Description = "Server-Sent Events: 'snapshot' events with the current record(s), then one event per change (event: the change kind; data: the whole build record as one JSON line; id: the version), ': heartbeat' comments, and 'end' once every build followed is final";
            response.Content = new Dictionary<string, OpenApiMediaType>
            {
                [EventEndpoints.EventStreamMediaType] = new()
                {
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" },
                    Extensions = new Dictionary<string, IOpenApiExtension>
                    {
                        [EventDataExtension] = new JsonNodeExtension(JsonValue.Create("#/components/schemas/BuildRecord")),
                    },
                },
            };
        }
    }

    /// <summary>
    /// <c>GET /v1/builds/{id}/logs</c>: its bounded query, the text answer with its offset headers, the follow stream
    /// resumable with <c>Last-Event-ID</c>, and a 404 that also means "no log for that attempt".
    /// </summary>
    private static void DescribeLog(OpenApiOperation operation)
    {
        foreach (var parameter in (operation.Parameters ?? []).OfType<OpenApiParameter>())
        {
            switch (parameter.Name)
            {
                case "attempt":
                    parameter.Description = "The attempt (1, 2, …); the latest when absent";
                    parameter.Schema = Integer("int32", 1, BuildLogArguments.MaxAttempt);
                    break;
                case "offset":
                    parameter.Description = "The first line to answer (0-based; the BuildFarm-Log-Next-Offset of an earlier answer); 0 when absent; not with tail";
                    parameter.Schema = Integer("int64", 0, long.MaxValue);
                    break;
                case "tail":
                    parameter.Description = $"Only the last lines, 1 to {LogEndpoints.MaxLogTail}; not with offset";
                    parameter.Schema = Integer("int32", 1, LogEndpoints.MaxLogTail);
                    break;
                case "timestamps":
                    parameter.Description = "Start each line with its Kubernetes timestamp (RFC 3339, nanoseconds); false when absent";
                    parameter.Schema = new OpenApiSchema { Type = JsonSchemaType.Boolean };
                    break;
                case "follow":
                    parameter.Description = "Answer text/event-stream: the lines so far, then each new one, until the attempt ends; false when absent";
                    parameter.Schema = new OpenApiSchema { Type = JsonSchemaType.Boolean };
                    break;
            }
        }
        AddLastEventId(operation, "With follow=true: resume after this event id (the offset after the last line received); overrides offset");
        if (operation.Responses!.TryGetValue("200", out var found) && found is OpenApiResponse response)
        {
            response.Description = "text/plain: the lines, one per line (follow absent or false). text/event-stream (follow=true): a 'line' event per line "
                + "(data: the line; id: the offset after it), ': heartbeat' comments, then one 'end' event (data 'ended', or 'incomplete' when the "
                + "build ended without its log ending)";
            response.Content = new Dictionary<string, OpenApiMediaType>
            {
                [LogEndpoints.TextMediaType] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.String } },
                [EventEndpoints.EventStreamMediaType] = new()
                {
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" },
                    Extensions = new Dictionary<string, IOpenApiExtension>
                    {
                        [EventDataExtension] = new JsonNodeExtension(JsonValue.Create("text: one log line")),
                    },
                },
            };
            Header(response, LogEndpoints.LogNextOffsetHeader, "text/plain only: the offset to read from next (pass it as offset)", JsonSchemaType.Integer, required: false);
            Header(response, LogEndpoints.LogEndedHeader, "text/plain only: 'true' once the attempt ended (no line will be added), else 'false'", JsonSchemaType.Boolean, required: false);
        }
        if (operation.Responses.TryGetValue("404", out var missing) && missing is OpenApiResponse notFound)
        {
            notFound.Description = "No such build, its record expired, or another tenant owns it; or no log for that attempt (not started yet, log storage off, or expired)";
        }
    }

    private static OpenApiSchema Integer(string format, long minimum, long maximum) => new()
    {
        Type = JsonSchemaType.Integer, Format = format,
        Minimum = minimum.ToString(CultureInfo.InvariantCulture), Maximum = maximum.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>The YAML forms of <c>POST /v1/batches</c>: a manifest as text, with the query that selects what of it is built.</summary>
    private static void DescribeManifest(OpenApiOperation operation)
    {
        if (operation.RequestBody is OpenApiRequestBody body && body.Content is { } content)
        {
            body.Required = true;
            body.Description = "A JSON batch (application/json), or a manifest (docs/manifests.md) as YAML text (application/yaml; also application/x-yaml, text/yaml, text/x-yaml) with the sha query parameter";
            foreach (var yaml in RequestChecks.YamlMediaTypes)
            {
                content[yaml] = new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Description = "A manifest (docs/manifests.md)" } };
            }
        }
        AddParameter(operation, new OpenApiParameter
        {
            Name = "sha",
            In = ParameterLocation.Query,
            Description = "Manifest only, and then required: the commit the images are built at ({sha}, {short_sha} in templates)",
            Schema = new OpenApiSchema { Type = JsonSchemaType.String, Pattern = "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$" },
        });
        foreach (var (name, text) in new[]
        {
            ("only", "Manifest only: build these images and what they depend on (repeated or comma-separated; not with changed)"),
            ("changed", "Manifest only: changed paths; build the images whose folder or Dockerfile is under one, plus their dependents (repeated or comma-separated; not with only)"),
        })
        {
            AddParameter(operation, new OpenApiParameter
            {
                Name = name,
                In = ParameterLocation.Query,
                Description = text,
                Style = ParameterStyle.Form,
                Explode = true,
                Schema = new OpenApiSchema { Type = JsonSchemaType.Array, Items = new OpenApiSchema { Type = JsonSchemaType.String } },
            });
        }
    }

    private static void DescribeListQuery(OpenApiOperation operation, int maxPageSize)
    {
        foreach (var parameter in (operation.Parameters ?? []).OfType<OpenApiParameter>())
        {
            switch (parameter.Name)
            {
                case "limit":
                    parameter.Description = $"Page size, 1 to {maxPageSize} (Api:MaxPageSize); {BuildEndpoints.DefaultPageSize} when absent";
                    parameter.Schema = new OpenApiSchema
                    {
                        Type = JsonSchemaType.Integer, Format = "int32",
                        Minimum = "1", Maximum = maxPageSize.ToString(CultureInfo.InvariantCulture),
                    };
                    break;
                case "state":
                    parameter.Description = "Only builds in this state";
                    parameter.Schema = new OpenApiSchema
                    {
                        Type = JsonSchemaType.String, Enum = [.. Enum.GetValues<BuildState>().Select(s => (JsonNode)JsonValue.Create(s.ToWire()))],
                    };
                    break;
                case "batch":
                    parameter.Description = "Only the builds of this batch";
                    parameter.Schema = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = RequestIds.MaxLength, Pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$" };
                    break;
                case "tenant":
                    parameter.Description = "Only this tenant's builds; another tenant than the key's own needs the admin scope (else 403)";
                    parameter.Schema = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = 63, Pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$" };
                    break;
                case "continue":
                    parameter.Description = "The previous page's continue token (absent on the last page)";
                    parameter.Schema = new OpenApiSchema { Type = JsonSchemaType.String };
                    break;
            }
        }
    }

    /// <summary>The <c>Last-Event-ID</c> request header of an event stream (a number: the id of the last event received).</summary>
    private static void AddLastEventId(OpenApiOperation operation, string description) => AddParameter(operation, new OpenApiParameter
    {
        Name = "Last-Event-ID",
        In = ParameterLocation.Header,
        Description = description,
        Schema = new OpenApiSchema { Type = JsonSchemaType.String, Pattern = "^[0-9]+$" },
    });

    private static void AddParameter(OpenApiOperation operation, OpenApiParameter parameter)
    {
        operation.Parameters ??= [];
        if (!operation.Parameters.Any(p => string.Equals(p.Name, parameter.Name, StringComparison.OrdinalIgnoreCase) && p.In == parameter.In))
        {
            operation.Parameters.Add(parameter);
        }
    }

    private static void Header(OpenApiResponse response, string name, string description, JsonSchemaType type, bool required)
    {
        response.Headers ??= new Dictionary<string, IOpenApiHeader>();
        response.Headers[name] = new OpenApiHeader { Description = description, Required = required, Schema = new OpenApiSchema { Type = type } };
    }
}
