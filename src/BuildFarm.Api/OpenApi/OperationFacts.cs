using BuildFarm.Api.Auth;

namespace BuildFarm.Api.OpenApi;

/// <summary>
/// What the OpenAPI document must say about one route beyond what ASP.NET Core sees in its handler: the scope it needs,
/// the problem statuses it can answer, its headers and its special bodies. Attached to the endpoint as metadata where the
/// route is mapped (<see cref="OperationFactsExtensions.Documented"/>) and read by <see cref="ApiOperationTransformer"/>.
/// </summary>
public sealed record OperationFacts
{
    /// <summary>The scope (<see cref="ApiScopes"/>) the route needs; null for a route without authentication.</summary>
    public string? Scope { get; init; }

    /// <summary>The 4xx/5xx statuses the route answers, each as <c>application/problem+json</c>.</summary>
    public IReadOnlyList<int> Problems { get; init; } = [];

    /// <summary>The route takes an <c>Idempotency-Key</c> header (submits): a replay answers 200.</summary>
    public bool Idempotent { get; init; }

    /// <summary>The 202 carries a <c>Location</c> header naming the build or batch.</summary>
    public bool LocationOnAccepted { get; init; }

    /// <summary>A Server-Sent Events stream (<c>text/event-stream</c>), resumable with <c>Last-Event-ID</c>.</summary>
    public bool EventStream { get; init; }

    /// <summary>The route also takes a YAML manifest (<c>application/yaml</c>) with the <c>sha</c>, <c>only</c> and
    /// <c>changed</c> query parameters.</summary>
    public bool Manifest { get; init; }

    /// <summary>Problems every authenticated route can answer: no or unknown key, a key without the scope.</summary>
    public static readonly int[] AuthProblems = [StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden];
}

public static class OperationFactsExtensions
{
    /// <summary>Attaches <paramref name="facts"/>, the scope's authorization policy and the problem responses (400 as a
    /// validation problem with its <c>errors</c> map, every other status as a problem).</summary>
    public static RouteHandlerBuilder Documented(this RouteHandlerBuilder builder, OperationFacts facts)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(facts);
        builder.WithMetadata(facts);
        if (facts.Scope is { } scope)
        {
            builder.RequireAuthorization(scope);
        }
        foreach (var status in facts.Problems)
        {
            if (status == StatusCodes.Status400BadRequest)
            {
                builder.ProducesValidationProblem();
            }
            else
            {
                builder.ProducesProblem(status);
            }
        }
        return builder;
    }
}
