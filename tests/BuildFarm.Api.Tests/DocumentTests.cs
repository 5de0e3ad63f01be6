using System.Net;
using System.Text.Json;

namespace BuildFarm.Api.Tests;

public sealed class DocumentTests
{
    [Fact]
    public async Task OpenApi_Document_ListsEveryRouteAndTheRequestSchemas()
    {
        await using var api = new ApiFactory();
        using var http = api.Http(apiKey: null);

        using var document = JsonDocument.Parse(await http.GetStringAsync(new Uri("/openapi/v1.json", UriKind.Relative)));

        var paths = document.RootElement.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(["/healthz", "/metrics", "/readyz", "/v1/batches", "/v1/batches/{id}", "/v1/batches/{id}/events", "/v1/batches/{id}/rerun", "/v1/builds", "/v1/builds/{id}", "/v1/builds/{id}/events", "/v1/builds/{id}/logs", "/v1/builds/{id}/rerun"], paths.Order(StringComparer.Ordinal));
        Assert.True(document.RootElement.GetProperty("paths").GetProperty("/v1/batches/{id}").TryGetProperty("delete", out _), "DELETE /v1/batches/{id}");
        var properties = document.RootElement.GetProperty("components").GetProperty("schemas");
        Assert.True(properties.GetProperty("BuildRecord").GetProperty("properties").TryGetProperty("tenant", out _), "BuildRecord.tenant");
        Assert.True(properties.GetProperty("BatchStatus").GetProperty("properties").TryGetProperty("tenant", out _), "BatchStatus.tenant");
        var schemas = document.RootElement.GetProperty("components").GetProperty("schemas").EnumerateObject().Select(s => s.Name).ToList();
        Assert.Contains("SubmitBuildRequest", schemas);
        Assert.Contains("SubmitBatchRequest", schemas);
        Assert.Contains("BuildRecord", schemas);
        Assert.Contains("BatchStatus", schemas);
        var scheme = document.RootElement.GetProperty("components").GetProperty("securitySchemes").GetProperty("ApiKey");
        Assert.Equal("bearer", scheme.GetProperty("scheme").GetString());
    }

    [Fact]
    public async Task Metrics_AfterSubmitsAndRejections_ExposeApiCountersAndHttpServerMetrics()
    {
        await using var api = new ApiFactory();
        var client = api.Client();
        await client.SubmitBuildAsync(Samples.Build());
        await client.SubmitBatchAsync(Samples.Batch());
        using var anonymous = api.Http(apiKey: null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync(new Uri("/v1/builds", UriKind.Relative))).StatusCode);

        var text = "";
        await Eventually.UntilAsync(() =>
        {
            text = anonymous.GetStringAsync(new Uri("/metrics", UriKind.Relative)).GetAwaiter().GetResult();
            return text.Contains("buildfarm_api_requests_rejected_total{", StringComparison.Ordinal);
        }, "the API counters in /metrics");

        Assert.Contains("# TYPE buildfarm_api_builds_submitted_total counter", text, StringComparison.Ordinal);
        Assert.Contains(text.Split('\n'), l => l.StartsWith("buildfarm_api_builds_submitted_total{", StringComparison.Ordinal) && l.Contains("kind=\"single\"", StringComparison.Ordinal));
        Assert.Contains(text.Split('\n'), l => l.StartsWith("buildfarm_api_builds_submitted_total{", StringComparison.Ordinal) && l.Contains("kind=\"batch\"", StringComparison.Ordinal));
        Assert.Contains(text.Split('\n'), l => l.StartsWith("buildfarm_api_requests_rejected_total{", StringComparison.Ordinal) && l.Contains("reason=\"no_key\"", StringComparison.Ordinal));
        Assert.Contains("# TYPE buildfarm_api_batches_submitted_total counter", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE buildfarm_api_publish_duration_seconds histogram", text, StringComparison.Ordinal);
        Assert.Contains("http_server_request_duration_seconds_bucket{", text, StringComparison.Ordinal);
    }
}
