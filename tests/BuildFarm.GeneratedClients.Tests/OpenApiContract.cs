using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Json.Schema;

namespace BuildFarm.GeneratedClients.Tests;

/// <summary>
/// The OpenAPI document as a contract to check real answers against: the operation (path template and method) must
/// document the status, the media type and the required headers, and a JSON body must validate against the response's
/// schema (JSON Schema 2020-12, the dialect of OpenAPI 3.1, with the document's component schemas as <c>$defs</c>).
/// </summary>
public sealed class OpenApiContract
{
    private readonly JsonObject _document;
    private readonly JsonObject _defs;
    private readonly List<(Regex Pattern, string Template)> _paths;
    private readonly ConcurrentDictionary<string, JsonSchema> _schemas = new(StringComparer.Ordinal);

    public OpenApiContract(string documentJson)
    {
        _document = JsonNode.Parse(documentJson)!.AsObject();
        _defs = Rewrite(_document["components"]!["schemas"]!.DeepClone()).AsObject();
        _paths = [.. _document["paths"]!.AsObject().Select(p => (new Regex("^" + Regex.Replace(Regex.Escape(p.Key), @"\\\{[^}]+}", "[^/]+") + "$"), p.Key))];
    }

    /// <summary>What is wrong with one logged answer (empty when it matches the document).</summary>
    public IReadOnlyList<string> Problems(JsonObject exchange)
    {
        var problems = new List<string>();
        var path = (string)exchange["path"]!;
        if ((string?)exchange["kind"] == "sse")
        {
            if ((string?)exchange["event"] != "end")
            {
                problems.AddRange(Validate((string)exchange["data"]!, new JsonObject { ["$ref"] = "#/components/schemas/BuildRecord" }, $"SSE event on {path}"));
            }
            return problems;
        }
        var method = ((string)exchange["method"]!).ToLowerInvariant();
        var status = ((int)exchange["status"]!).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var where = $"{method.ToUpperInvariant()} {path}{exchange["query"]} → {status}";
        var template = _paths.Where(p => p.Pattern.IsMatch(path)).Select(p => p.Template).OrderBy(t => t.Count(c => c == '{')).FirstOrDefault();
        if (template is null || _document["paths"]![template]![method] is not JsonObject operation)
        {
            return [$"{where}: no such operation in the document"];
        }
        if (operation["responses"]?[status] is not JsonObject response)
        {
            return [$"{where}: status {status} is not documented for {method.ToUpperInvariant()} {template}"];
        }
        foreach (var (name, header) in (response["headers"] as JsonObject ?? []))
        {
            if ((bool?)header?["required"] == true && exchange["headers"]?[name] is null && name != "WWW-Authenticate")
            {
                problems.Add($"{where}: the documented header {name} is missing");
            }
        }
        var mediaType = (string?)exchange["mediaType"];
        var content = response["content"] as JsonObject;
        if (content is null || content.Count == 0)
        {
            return problems;
        }
        if (mediaType is null || content[mediaType] is not JsonObject media)
        {
            problems.Add($"{where}: media type '{mediaType}' is not documented ({string.Join(", ", content.Select(c => c.Key))})");
            return problems;
        }
        if (mediaType.EndsWith("json", StringComparison.Ordinal) && exchange["body"] is { } body && media["schema"] is { } schema)
        {
            problems.AddRange(Validate((string)body!, schema, where));
        }
        return problems;
    }

    private IEnumerable<string> Validate(string json, JsonNode schema, string where)
    {
        var key = schema.ToJsonString();
        var compiled = _schemas.GetOrAdd(key, _ =>
        {
            var root = Rewrite(schema.DeepClone()).AsObject();
            root["$schema"] = "https://json-schema.org/draft/2020-12/schema";
            root["$defs"] = _defs.DeepClone();
            return JsonSchema.FromText(root.ToJsonString());
        });
        using var instance = JsonDocument.Parse(json);
        var result = compiled.Evaluate(instance.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (result.IsValid)
        {
            return [];
        }
        var details = (result.Details ?? []).Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Key} {e.Value}")).Take(10);
        return [$"{where}: the body does not match its schema: {string.Join("; ", details)} — {Cut(json)}"];
    }

    private static string Cut(string text) => text.Length > 300 ? text[..300] + "…" : text;

    /// <summary>#/components/schemas/X → #/$defs/X everywhere in <paramref name="node"/>.</summary>
    private static JsonNode Rewrite(JsonNode node)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (name, value) in obj.ToList())
                {
                    if (name == "$ref" && value is JsonValue reference && reference.TryGetValue<string>(out var target))
                    {
                        obj["$ref"] = target.Replace("#/components/schemas/", "#/$defs/", StringComparison.Ordinal);
                    }
                    else if (value is not null)
                    {
                        Rewrite(value);
                    }
                }
                break;
            case JsonArray array:
                foreach (var item in array)
                {
                    if (item is not null)
                    {
                        Rewrite(item);
                    }
                }
                break;
        }
        return node;
    }
}
