using BuildFarm.Api.Auth;
using BuildFarm.Api.Hosting;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace BuildFarm.Api.OpenApi;

/// <summary>
/// The document-wide parts: the API-key security scheme (each <c>/v1</c> operation names it with its scope,
/// <see cref="ApiOperationTransformer"/>), and the routes that are not API-explorer endpoints (<c>/healthz</c>,
/// <c>/readyz</c>, <c>/metrics</c>), which need no key.
/// </summary>
internal sealed class ApiDocumentTransformer : IOpenApiDocumentTransformer
{
    public Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(document);
        document.Info ??= new OpenApiInfo();
        document.Info.Title = "BuildFarm API";
        document.Info.Description = "Submit Kaniko builds, batches and manifests, read and follow their status, cancel them (docs/api.md). Every /v1 operation needs an API key as a bearer token with the scope it names (x-required-scope); errors are application/problem+json.";
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[ApiKeyAuthenticationHandler.SchemeName] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "An API key (Api:Keys or Api:KeysDirectory) as 'Authorization: Bearer <key>'. Scopes: submit, read, cancel, admin; each operation names the one it needs (x-required-scope). A key sees only its own tenant's builds and batches (others answer 404) unless it has the admin scope.",
        };
        document.Paths ??= new OpenApiPaths();
        document.Paths[ApiEndpoints.HealthPath] = PlainGet("Liveness", "GetHealth", ("200", "The process runs ('Healthy')"));
        document.Paths[ApiEndpoints.ReadyPath] = PlainGet("Readiness: the status store answers and the bus is connected", "GetReadiness",
            ("200", "Ready ('Healthy')"), ("503", "Not ready ('Unhealthy'): the status store or the broker cannot be reached"));
        document.Paths[ApiEndpoints.MetricsPath] = PlainGet("Prometheus metrics (text exposition format)", "GetMetrics", ("200", "The metrics"));
        return Task.CompletedTask;
    }

    private static OpenApiPathItem PlainGet(string summary, string operationId, params (string Status, string Description)[] answers)
    {
        var responses = new OpenApiResponses();
        foreach (var (status, description) in answers)
        {
            responses[status] = new OpenApiResponse
            {
                Description = description,
                Content = new Dictionary<string, OpenApiMediaType> { ["text/plain"] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.String } } },
            };
        }
        var item = new OpenApiPathItem();
        item.AddOperation(HttpMethod.Get, new OpenApiOperation
        {
            OperationId = operationId,
            Summary = summary,
            Description = "Needs no API key.",
            Responses = responses,
        });
        return item;
    }
}
