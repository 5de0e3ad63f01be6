using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace BuildFarm.GeneratedClients.Tests;

/// <summary>
/// Clients generated from the live document by tools nobody here wrote run the whole API against the demo farm (submit,
/// idempotent replay told apart from a new submit, read, every page, JSON and YAML batches, events, cancel, and each
/// documented error as a typed problem); every answer they received is then checked against the document.
/// </summary>
public sealed class GeneratedClientTests(GeneratedClientsFixture fixture, ITestOutputHelper output) : IClassFixture<GeneratedClientsFixture>
{
    /// <summary>Every status the flows must meet, each documented.</summary>
    private static readonly int[] Statuses = [200, 202, 400, 401, 403, 404, 409, 413, 415, 422, 503];

    [Fact]
    public Task NSwagSystemTextJsonClient_RunsEveryStep_AndEveryAnswerMatchesTheDocument() => RunAsync("nswag");

    [Fact]
    public Task KiotaClient_RunsEveryStep_AndEveryAnswerMatchesTheDocument() => RunAsync("kiota");

    private async Task RunAsync(string generator)
    {
        foreach (var (step, seconds) in fixture.Seconds)
        {
            output.WriteLine($"{step}: {seconds:0.0} s");
        }
        var log = Path.Combine(fixture.WorkDirectory, $"{generator}-exchanges.jsonl");
        var run = Guid.NewGuid().ToString("N")[..8];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (exit, stdout, stderr) = await GeneratedClientsFixture.RunAsync("dotnet",
            [fixture.DriverDll, generator, fixture.Farm.Address.ToString(), fixture.BrokenAddress.ToString(), fixture.Farm.ApiKey, GeneratedClientsFixture.ReaderKey, run, log],
            fixture.WorkDirectory, check: false);
        output.WriteLine($"{generator} driver: {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.True(exit == 0, $"the {generator} driver failed:\n{stdout}\n{stderr}");

        var contract = new OpenApiContract(fixture.Document);
        var exchanges = (await File.ReadAllLinesAsync(log)).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        var problems = exchanges.SelectMany(contract.Problems).ToList();
        Assert.True(problems.Count == 0, $"{problems.Count} answer(s) do not match the document:\n{string.Join("\n", problems)}");
        var http = exchanges.Where(e => (string?)e["kind"] == "http").ToList();
        foreach (var status in Statuses)
        {
            Assert.Contains(http, e => (int)e["status"]! == status);
        }
        foreach (var status in Statuses.Where(s => s >= 400))
        {
            Assert.Contains(http, e => (int)e["status"]! == status && (string?)e["mediaType"] == "application/problem+json");
        }
        // The last page (no continue) was among the validated answers, and events were followed.
        Assert.Contains(http, e => (string)e["path"]! == "/v1/builds" && (string)e["method"]! == "GET" && (int)e["status"]! == 200
            && JsonNode.Parse((string)e["body"]!)!["continue"] is null);
        Assert.Contains(exchanges, e => (string?)e["kind"] == "sse" && (string?)e["event"] == "end");
        output.WriteLine($"{generator}: {http.Count} answers and {exchanges.Count - http.Count} events validated against the document");
    }
}
