using System.Text.Json.Nodes;

namespace BuildFarm.Api.Tests;

/// <summary>
/// A linter for the API's OpenAPI document with named rules: what generated clients need from it (issue 20), stricter
/// than the default rulesets of Redocly and Spectral (which pass a document with every gap below). Each finding is
/// "rule: where: what". The rules read the document as JSON, so they also lint a document from elsewhere.
/// </summary>
public static class OpenApiLint
{
    private static readonly string[] Methods = ["get", "put", "post", "delete", "patch"];
    private static readonly string[] ProblemSchemas = ["#/components/schemas/ProblemDetails", "#/components/schemas/HttpValidationProblemDetails"];

    public static IReadOnlyList<string> Check(JsonNode document)
    {
        ArgumentNullException.ThrowIfNull(document);
        var findings = new List<string>();
        void Add(string rule, string where, string what) => findings.Add($"{rule}: {where}: {what}");

        var schemas = document["components"]?["schemas"] as JsonObject ?? [];
        foreach (var (name, schema) in schemas)
        {
            Walk(schema, $"#/components/schemas/{name}", (node, where) =>
            {
                if (node["enum"] is not null && node["type"] is null)
                {
                    Add("enum-typed", where, "an enum without a type (generators cannot tell strings from numbers)");
                }
                if (node["type"] is JsonArray types && types.Any(t => (string?)t == "string") && types.Any(t => (string?)t is "integer" or "number"))
                {
                    Add("number-not-string", where, "a number typed as number-or-string");
                }
            });
        }
        RequireAll(schemas, "BuildRecord", ["buildId", "spec", "state", "attempts", "pushed", "phaseSeconds", "resets", "dependsOn", "priority", "submittedAt", "updatedAt", "version"], Add);
        RequireAll(schemas, "AttemptRecord", ["attempt", "transient", "log"], Add);
        RequireAll(schemas, "BatchStatus", ["batchId", "submittedAt", "total", "counts", "done", "succeeded", "images"], Add);
        RequireAll(schemas, "BatchImageStatus", ["name", "buildId", "state", "attempt"], Add);
        RequireAll(schemas, "BuildPage", ["items"], Add);
        if (schemas["BuildPage"]?["required"] is JsonArray pageRequired && pageRequired.Any(r => (string?)r == "continue"))
        {
            Add("required-only-when-sent", "BuildPage.continue", "required, but the last page leaves it out");
        }
        Constraint(schemas, "SubmitBuildRequest", "priority", s => (int?)s["minimum"] == 0 && (int?)s["maximum"] == 9, "priority 0-9", Add);
        Constraint(schemas, "SubmitBatchRequest", "priority", s => (int?)s["minimum"] == 0 && (int?)s["maximum"] == 9, "priority 0-9", Add);
        Constraint(schemas, "SubmitBatchRequest", "images", s => (int?)s["minItems"] == 1 && s["maxItems"] is not null, "1 to Api:MaxImagesPerBatch images", Add);
        Constraint(schemas, "BatchImageRequest", "name", s => (string?)s["pattern"] == "^[a-z0-9][a-z0-9._-]{0,62}$", "the name pattern", Add);
        Constraint(schemas, "BuildSpec", "destinations", s => (int?)s["minItems"] == 1 && s["maxItems"] is not null, "1 to Api:MaxDestinations destinations", Add);

        var operationIds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (path, item) in document["paths"] as JsonObject ?? [])
        {
            foreach (var method in Methods)
            {
                if (item?[method] is not JsonObject operation)
                {
                    continue;
                }
                var where = $"{method.ToUpperInvariant()} {path}";
                if ((string?)operation["operationId"] is not { Length: > 0 } id || !operationIds.Add(id))
                {
                    Add("operation-id", where, "missing or repeated operationId");
                }
                var responses = operation["responses"] as JsonObject ?? [];
                foreach (var (status, response) in responses)
                {
                    if ((string?)response?["description"] is not { Length: > 0 })
                    {
                        Add("response-described", $"{where} {status}", "no description");
                    }
                }
                if (!path.StartsWith("/v1/", StringComparison.Ordinal))
                {
                    if (operation["security"] is JsonArray { Count: > 0 })
                    {
                        Add("operational-routes-open", where, "needs no key, but the document asks for one");
                    }
                    continue;
                }
                LintV1(operation, path, method, where, responses, Add);
            }
        }
        foreach (var path in new[] { "/healthz", "/readyz", "/metrics" })
        {
            if (document["paths"]?[path]?["get"] is null)
            {
                Add("operational-routes", path, "missing");
            }
        }
        if (document["paths"]?["/readyz"]?["get"]?["responses"]?["503"] is null)
        {
            Add("operational-routes", "/readyz", "the 503 (not ready) is not documented");
        }
        return findings;
    }

    private static void LintV1(JsonObject operation, string path, string method, string where, JsonObject responses, Action<string, string, string> add)
    {
        var scope = (string?)operation["x-required-scope"];
        var security = operation["security"] as JsonArray;
        if (scope is null || security is not { Count: 1 } || security[0]?["ApiKey"] is not JsonArray scopes || scopes.Count != 1 || (string?)scopes[0] != scope)
        {
            add("operation-scope", where, "needs the ApiKey security requirement naming its one scope, and x-required-scope with the same scope");
        }
        var expected = new List<string> { "400", "401", "403" };
        if (path.Contains("{id}", StringComparison.Ordinal))
        {
            expected.Add("404");
        }
        if (method == "post")
        {
            expected.AddRange(["200", "202", "422", "503"]);
            // A submit's body can be too large or of the wrong type; a POST without a body (a re-run) acts on a record
            // whose state can refuse it instead.
            expected.AddRange(operation["requestBody"] is null ? ["409"] : ["413", "415"]);
        }
        if (method == "delete")
        {
            expected.AddRange(["202", "409", "503"]);
        }
        foreach (var status in expected.Where(s => responses[s] is null))
        {
            add("responses-complete", where, $"{status} is not documented");
        }
        foreach (var (status, response) in responses.Where(r => r.Key[0] is '4' or '5'))
        {
            if (response?["content"]?["application/problem+json"]?["schema"]?["$ref"] is not JsonValue reference || !ProblemSchemas.Contains((string?)reference))
            {
                add("problem-typed", $"{where} {status}", "not an application/problem+json ProblemDetails");
            }
        }
        if (responses["202"] is { } accepted && accepted["headers"]?["Location"]?["required"]?.GetValue<bool>() != true)
        {
            add("accepted-location", where, "a 202 without a required Location header");
        }
        if (responses["503"] is { } unavailable && unavailable["headers"]?["Retry-After"]?["required"]?.GetValue<bool>() != true)
        {
            add("unavailable-retry-after", where, "a 503 without a required Retry-After header");
        }
        var parameters = (operation["parameters"] as JsonArray ?? []).OfType<JsonObject>().ToList();
        bool HasParameter(string name, string location) => parameters.Any(p => (string?)p["name"] == name && (string?)p["in"] == location);
        if (method == "post")
        {
            if (!HasParameter("Idempotency-Key", "header"))
            {
                add("idempotency-key", where, "no Idempotency-Key header parameter");
            }
            if (responses["200"]?["headers"]?["Idempotent-Replayed"] is null)
            {
                add("replay-distinct", where, "the 200 replay has no Idempotent-Replayed header to tell it from a 202");
            }
        }
        // An event stream: the /events routes, and a route that streams on follow=true (the build log).
        if (path.EndsWith("/events", StringComparison.Ordinal) || HasParameter("follow", "query"))
        {
            if (responses["200"]?["content"]?["text/event-stream"] is null)
            {
                add("sse-media-type", where, "the stream is not documented as text/event-stream");
            }
            if (!HasParameter("Last-Event-ID", "header"))
            {
                add("sse-resume", where, "no Last-Event-ID header parameter");
            }
        }
        if (path == "/v1/batches" && method == "post")
        {
            if ((string?)operation["requestBody"]?["content"]?["application/yaml"]?["schema"]?["type"] != "string")
            {
                add("manifest-body", where, "the application/yaml body is not a manifest (string)");
            }
            foreach (var name in new[] { "sha", "only", "changed" }.Where(n => !HasParameter(n, "query")))
            {
                add("manifest-query", where, $"no {name} query parameter");
            }
        }
        if (path.EndsWith("/logs", StringComparison.Ordinal) && method == "get")
        {
            foreach (var name in new[] { "attempt", "offset", "tail" })
            {
                var schema = parameters.FirstOrDefault(p => (string?)p["name"] == name && (string?)p["in"] == "query")?["schema"];
                if ((string?)schema?["type"] != "integer" || schema["minimum"] is null || schema["maximum"] is null)
                {
                    add("log-query", where, $"{name} is not a bounded integer");
                }
            }
            foreach (var name in new[] { "timestamps", "follow" })
            {
                if ((string?)parameters.FirstOrDefault(p => (string?)p["name"] == name && (string?)p["in"] == "query")?["schema"]?["type"] != "boolean")
                {
                    add("log-query", where, $"{name} is not a boolean");
                }
            }
            if (responses["200"]?["content"]?["text/plain"] is null)
            {
                add("log-query", where, "the log is not documented as text/plain");
            }
        }
        if (path == "/v1/builds" && method == "get")
        {
            var limit = parameters.FirstOrDefault(p => (string?)p["name"] == "limit")?["schema"];
            if ((string?)limit?["type"] != "integer" || (int?)limit["minimum"] != 1 || limit["maximum"] is null)
            {
                add("query-constraints", where, "limit is not an integer from 1 to Api:MaxPageSize");
            }
            if (parameters.FirstOrDefault(p => (string?)p["name"] == "state")?["schema"]?["enum"] is not JsonArray { Count: 7 })
            {
                add("query-constraints", where, "state does not list the states");
            }
        }
    }

    private static void RequireAll(JsonObject schemas, string name, string[] fields, Action<string, string, string> add)
    {
        var required = (schemas[name]?["required"] as JsonArray ?? []).Select(r => (string?)r).ToHashSet(StringComparer.Ordinal);
        foreach (var field in fields.Where(f => !required.Contains(f)))
        {
            add("required-when-always-sent", $"{name}.{field}", "always sent, but not required");
        }
    }

    private static void Constraint(JsonObject schemas, string name, string property, Func<JsonNode, bool> holds, string what, Action<string, string, string> add)
    {
        if (schemas[name]?["properties"]?[property] is not { } schema || !holds(schema))
        {
            add("request-constraints", $"{name}.{property}", $"does not state {what}");
        }
    }

    private static void Walk(JsonNode? node, string where, Action<JsonObject, string> visit)
    {
        if (node is not JsonObject obj)
        {
            return;
        }
        visit(obj, where);
        foreach (var (key, child) in obj)
        {
            if (child is JsonObject)
            {
                Walk(child, $"{where}/{key}", visit);
            }
            else if (child is JsonArray array)
            {
                for (var i = 0; i < array.Count; i++)
                {
                    Walk(array[i], $"{where}/{key}/{i}", visit);
                }
            }
        }
    }
}
