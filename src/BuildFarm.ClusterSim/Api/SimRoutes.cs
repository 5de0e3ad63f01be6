using Microsoft.AspNetCore.Http;

namespace BuildFarm.ClusterSim.Api;

/// <summary>What a route serves: decides the verb a request is counted under and whether faults may be injected.</summary>
internal enum SimRouteKind
{
    /// <summary>Discovery, OpenAPI, a namespace: counted as <c>get</c>.</summary>
    Discovery,

    /// <summary>A list of pods or events: <c>list</c>, or <c>watch</c> with <c>?watch=true</c>.</summary>
    Collection,

    /// <summary>One named object (or its status): <c>get</c>.</summary>
    Object,

    /// <summary>A pod's log: <c>log</c>.</summary>
    Log,

    /// <summary>The simulator's own <c>/_sim</c> endpoints: <c>get</c>.</summary>
    Sim,
}

/// <summary>The path values a route template captured (<c>{namespace}</c>, <c>{name}</c>).</summary>
internal readonly record struct SimRouteValues(string? Namespace, string? Name);

internal delegate Task SimRouteHandler(HttpContext context, SimRouteValues values);

/// <summary>One path template with its handler per HTTP method (<c>*</c>: any method).</summary>
internal sealed record SimRoute(string Template, string Resource, SimRouteKind Kind, bool Public,
    IReadOnlyDictionary<string, SimRouteHandler> Handlers)
{
    /// <summary>The template's segments; <c>{…}</c> captures one segment.</summary>
    public string[] Segments { get; } = Template.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Faults of the scenario's <c>api</c> section apply to pod and event requests.</summary>
    public bool InjectsFaults => Resource is "pods" or "events" or "pods/log" or "pods/status";
}

/// <summary>
/// The result of <see cref="SimRouteTable.Match"/>: no <see cref="Route"/> for a path no template fits (404); a route but
/// no <see cref="Handler"/> when the path fits and the method is not served there (405).
/// </summary>
internal readonly record struct SimRouteMatch(SimRoute? Route, SimRouteHandler? Handler, SimRouteValues Values);

/// <summary>
/// The simulator's routes: path templates matched segment by segment, literals exactly (ordinal), each
/// <c>{namespace}</c> or <c>{name}</c> against one non-empty segment. The first template that fits wins.
/// </summary>
internal sealed class SimRouteTable
{
    private readonly List<SimRoute> _routes = [];

    /// <summary>Adds a route; <paramref name="handlers"/> pair an HTTP method (or <c>*</c>) with its handler.</summary>
    public SimRouteTable Map(string template, string resource, SimRouteKind kind, params (string Method, SimRouteHandler Handler)[] handlers) =>
        Add(template, resource, kind, isPublic: false, handlers);

    /// <summary>Adds a route that answers without a token (health and version, as a real API server does).</summary>
    public SimRouteTable MapPublic(string template, SimRouteHandler handler) =>
        Add(template, "discovery", SimRouteKind.Discovery, isPublic: true, [("*", handler)]);

    public SimRouteMatch Match(string method, string[] segments)
    {
        foreach (var route in _routes)
        {
            if (TryMatch(route.Segments, segments, out var values))
            {
                var handler = route.Handlers.GetValueOrDefault(method) ?? route.Handlers.GetValueOrDefault("*");
                return new SimRouteMatch(route, handler, values);
            }
        }

        return default;
    }

    private SimRouteTable Add(string template, string resource, SimRouteKind kind, bool isPublic, (string Method, SimRouteHandler Handler)[] handlers)
    {
        var route = new SimRoute(template, resource, kind, isPublic, handlers.ToDictionary(h => h.Method, h => h.Handler, StringComparer.Ordinal));
        if (route.Segments.Any(s => s.StartsWith('{') && s is not ("{namespace}" or "{name}")))
        {
            throw new ArgumentException($"route '{template}': only {{namespace}} and {{name}} can be captured", nameof(template));
        }

        _routes.Add(route);
        return this;
    }

    private static bool TryMatch(string[] template, string[] segments, out SimRouteValues values)
    {
        values = default;
        if (template.Length != segments.Length)
        {
            return false;
        }

        string? ns = null;
        string? name = null;
        for (var i = 0; i < template.Length; i++)
        {
            switch (template[i])
            {
                case "{namespace}":
                    ns = segments[i];
                    break;
                case "{name}":
                    name = segments[i];
                    break;
                default:
                    if (!string.Equals(template[i], segments[i], StringComparison.Ordinal))
                    {
                        return false;
                    }

                    break;
            }
        }

        values = new SimRouteValues(ns, name);
        return true;
    }
}
