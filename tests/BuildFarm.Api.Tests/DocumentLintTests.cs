using System.Text.Json.Nodes;

namespace BuildFarm.Api.Tests;

/// <summary>The OpenAPI document, linted with <see cref="OpenApiLint"/>'s named rules (./test.sh runs it with every test).</summary>
public sealed class DocumentLintTests
{
    private static async Task<JsonNode> DocumentAsync()
    {
        await using var api = new ApiFactory();
        using var http = api.Http(apiKey: null);
        return JsonNode.Parse(await http.GetStringAsync(new Uri("/openapi/v1.json", UriKind.Relative)))!;
    }

    [Fact]
    public async Task Document_PassesEveryLintRule()
    {
        var findings = OpenApiLint.Check(await DocumentAsync());

        Assert.True(findings.Count == 0, string.Join("\n", findings));
    }

    /// <summary>Each gap issue 20 found, put back into the real document, is caught by the rule named for it.</summary>
    [Theory]
    [InlineData("enum-typed")]
    [InlineData("required-only-when-sent")]
    [InlineData("required-when-always-sent")]
    [InlineData("accepted-location")]
    [InlineData("unavailable-retry-after")]
    [InlineData("operation-scope")]
    [InlineData("responses-complete")]
    [InlineData("problem-typed")]
    [InlineData("idempotency-key")]
    [InlineData("replay-distinct")]
    [InlineData("sse-media-type")]
    [InlineData("sse-resume")]
    [InlineData("manifest-body")]
    [InlineData("manifest-query")]
    [InlineData("query-constraints")]
    [InlineData("request-constraints")]
    [InlineData("operational-routes")]
    [InlineData("number-not-string")]
    [InlineData("log-query")]
    public async Task Lint_TheGapPutBack_IsFoundByItsRule(string rule)
    {
        var document = await DocumentAsync();
        var schemas = document["components"]!["schemas"]!;
        var paths = document["paths"]!;
        switch (rule)
        {
            case "enum-typed": schemas["BuildState"]!.AsObject().Remove("type"); break;
            case "required-only-when-sent": schemas["BuildPage"]!["required"]!.AsArray().Add("continue"); break;
            case "required-when-always-sent": schemas["BuildRecord"]!["required"] = new JsonArray("buildId", "spec"); break;
            case "accepted-location": paths["/v1/builds"]!["post"]!["responses"]!["202"]!.AsObject().Remove("headers"); break;
            case "unavailable-retry-after": paths["/v1/builds/{id}"]!["delete"]!["responses"]!["503"]!.AsObject().Remove("headers"); break;
            case "operation-scope": paths["/v1/builds/{id}"]!["get"]!.AsObject().Remove("security"); break;
            case "responses-complete": paths["/v1/builds"]!["post"]!["responses"]!.AsObject().Remove("415"); break;
            case "problem-typed": paths["/v1/batches/{id}"]!["get"]!["responses"]!["404"]!["content"] = new JsonObject(); break;
            case "idempotency-key": paths["/v1/batches"]!["post"]!.AsObject().Remove("parameters"); break;
            case "replay-distinct": paths["/v1/builds"]!["post"]!["responses"]!["200"]!.AsObject().Remove("headers"); break;
            case "sse-media-type": paths["/v1/builds/{id}/events"]!["get"]!["responses"]!["200"]!["content"] = new JsonObject(); break;
            case "sse-resume": paths["/v1/batches/{id}/events"]!["get"]!.AsObject().Remove("parameters"); break;
            case "manifest-body": paths["/v1/batches"]!["post"]!["requestBody"]!["content"]!["application/yaml"]!["schema"] = new JsonObject { ["$ref"] = "#/components/schemas/SubmitBatchRequest" }; break;
            case "manifest-query": paths["/v1/batches"]!["post"]!["parameters"] = new JsonArray(new JsonObject { ["name"] = "Idempotency-Key", ["in"] = "header" }); break;
            case "query-constraints": paths["/v1/builds"]!["get"]!["parameters"]!.AsArray().OfType<JsonObject>().Single(p => (string?)p["name"] == "limit")["schema"] = new JsonObject { ["type"] = "string" }; break;
            case "request-constraints": schemas["BuildSpec"]!["properties"]!["destinations"]!.AsObject().Remove("minItems"); break;
            case "operational-routes": paths.AsObject().Remove("/metrics"); break;
            case "log-query": LogParameter(paths, "tail")["schema"] = new JsonObject { ["type"] = "string" }; break;
            case "number-not-string": schemas["BuildRecord"]!["properties"]!["version"]!["type"] = new JsonArray("integer", "string"); break;
        }

        var findings = OpenApiLint.Check(document);

        Assert.Contains(findings, f => f.StartsWith(rule + ":", StringComparison.Ordinal));
    }

    /// <summary>The log route's follow stream without Last-Event-ID, or its 200 without text/event-stream, is found as for
    /// the /events routes.</summary>
    [Theory]
    [InlineData("sse-resume")]
    [InlineData("sse-media-type")]
    public async Task Lint_LogFollowStreamGap_IsFound(string rule)
    {
        var document = await DocumentAsync();
        var log = document["paths"]!["/v1/builds/{id}/logs"]!["get"]!;
        if (rule == "sse-resume")
        {
            var parameters = log["parameters"]!.AsArray();
            parameters.Remove(parameters.OfType<JsonObject>().Single(p => (string?)p["name"] == "Last-Event-ID"));
        }
        else
        {
            log["responses"]!["200"]!["content"]!.AsObject().Remove("text/event-stream");
        }

        var findings = OpenApiLint.Check(document);

        Assert.Contains(findings, f => f.StartsWith(rule + ": GET /v1/builds/{id}/logs", StringComparison.Ordinal));
    }

    private static JsonObject LogParameter(JsonNode paths, string name) =>
        paths["/v1/builds/{id}/logs"]!["get"]!["parameters"]!.AsArray().OfType<JsonObject>().Single(p => (string?)p["name"] == name);
}
