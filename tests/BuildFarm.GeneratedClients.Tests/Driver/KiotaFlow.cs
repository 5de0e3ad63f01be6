// Compiled with the Kiota-generated client (namespace Gen.Kiota) by GeneratedClientsFixture.
using System.Text;
using System.Text.Json;
using Gen.Kiota;
using Gen.Kiota.Models;
using Microsoft.Kiota.Abstractions;
using Microsoft.Kiota.Abstractions.Authentication;
using Microsoft.Kiota.Abstractions.Serialization;
using Microsoft.Kiota.Http.HttpClientLibrary;
using Microsoft.Kiota.Http.HttpClientLibrary.Middleware.Options;

namespace Driver;

public static class KiotaFlow
{
    private sealed record Api(BuildFarmKiotaClient Client, HttpClientRequestAdapter Adapter, HttpClient Http) : IDisposable
    {
        public void Dispose()
        {
            Adapter.Dispose();
            Http.Dispose();
        }
    }

    /// <summary>Kiota's own HTTP pipeline ending in the exchange log; no retries (a 503 is the answer under test).</summary>
    private static Api Connect(Uri baseAddress, string key, ExchangeLog log)
    {
        var http = KiotaClientFactory.Create(new LoggingHandler(log) { InnerHandler = new HttpClientHandler() },
            [new RetryHandlerOption { MaxRetry = 0, ShouldRetry = (_, _, _) => false }]);
        http.Timeout = TimeSpan.FromSeconds(90);
        if (key is not null)
        {
            http.DefaultRequestHeaders.Authorization = new("Bearer", key);
        }
        var adapter = new HttpClientRequestAdapter(new AnonymousAuthenticationProvider(), httpClient: http) { BaseUrl = baseAddress.ToString().TrimEnd('/') };
        return new Api(new BuildFarmKiotaClient(adapter), adapter, http);
    }

    /// <summary>The error mapping the generated methods use, for requests sent through the adapter directly.</summary>
    private static readonly Dictionary<string, ParsableFactory<IParsable>> Problems = new()
    {
        ["400"] = HttpValidationProblemDetails.CreateFromDiscriminatorValue,
        ["4XX"] = ProblemDetails.CreateFromDiscriminatorValue,
        ["5XX"] = ProblemDetails.CreateFromDiscriminatorValue,
    };

    public static async Task RunAsync(Target t, ExchangeLog log)
    {
        using var api = Connect(t.Api, t.AdminKey, log);
        var client = api.Client;
        BuildSpec Spec(string name) => new() { Context = "s3://ctx-bucket/app.tar.gz", Destinations = [$"registry.example.com/gen-{t.Run}/kiota-{name}:1"] };

        var key = $"kiota-{t.Run}-1";
        var request = new SubmitBuildRequest { Spec = Spec("one"), Priority = 3 };
        var firstHeaders = new HeadersInspectionHandlerOption { InspectResponseHeaders = true };
        var first = await client.V1.Builds.PostAsync(request, c => { c.Headers.Add("Idempotency-Key", key); c.Options.Add(firstHeaders); });
        Check.That(Header(firstHeaders, "Location") == $"/v1/builds/{first.BuildId}", "Location of the 202");
        Check.That(first.State == BuildState.Queued && first.Version == 1, "a new build is queued, version 1");
        var replayHeaders = new HeadersInspectionHandlerOption { InspectResponseHeaders = true };
        var replay = await client.V1.Builds.PostAsync(request, c => { c.Headers.Add("Idempotency-Key", key); c.Options.Add(replayHeaders); });
        Check.That(replay.BuildId == first.BuildId && Header(replayHeaders, "Idempotent-Replayed") == "true", "the replay answers the same build, marked Idempotent-Replayed");
        Check.That(Header(firstHeaders, "Idempotent-Replayed") is null, "the first submit is not marked as a replay");
        var second = await client.V1.Builds.PostAsync(new SubmitBuildRequest { Spec = Spec("two") }, c => c.Headers.Add("Idempotency-Key", $"kiota-{t.Run}-2"));
        Check.That(second.BuildId != first.BuildId, "another key is another build");

        var read = await client.V1.Builds[first.BuildId].GetAsync();
        Check.That(read.BuildId == first.BuildId && read.Spec.Destinations.Count == 1, "read the build");

        var seen = new List<string>();
        string token = null;
        var pages = 0;
        do
        {
            var page = await client.V1.Builds.GetAsync(c => { c.QueryParameters.Limit = 1; c.QueryParameters.Continue = token; });
            seen.AddRange(page.Items.Select(i => i.BuildId));
            token = page.Continue;
            pages++;
        }
        while (token is not null && pages < 500);
        Check.That(token is null && pages >= 2, $"paged to the last page ({pages} pages)");
        Check.That(seen.Contains(first.BuildId) && seen.Contains(second.BuildId) && seen.Distinct().Count() == seen.Count, "every build once");

        var batch = await client.V1.Batches.PostAsync(new SubmitBatchRequest
        {
            Source = "kiota",
            Images =
            [
                new BatchImageRequest { Name = "base", Spec = Spec("base") },
                new BatchImageRequest { Name = "app", Spec = Spec("app"), DependsOn = [new BatchDependency { Image = "base", BuildArg = "BASE_IMAGE" }] },
            ],
        });
        Check.That(batch.Total == 2, "JSON batch accepted");
        var batchRead = await client.V1.Batches[batch.BatchId].GetAsync();
        Check.That(batchRead.Images.Count == 2 && batchRead.Counts.AdditionalData.Count == 7, "read the batch (every state counted)");

        // The manifest: the generated request (its query parameters) with the YAML body in place of the JSON one.
        var info = client.V1.Batches.ToPostRequestInformation(new SubmitBatchRequest(), c => c.QueryParameters.Sha = "3f9c0a1b2c4d");
        info.Headers.Remove("Content-Type");
        info.SetStreamContent(new MemoryStream(Encoding.UTF8.GetBytes(Check.Manifest(t.Run))), "application/yaml");
        var manifest = await api.Adapter.SendAsync(info, BatchStatus.CreateFromDiscriminatorValue, Problems);
        Check.That(manifest.Total == 2 && manifest.Images.Any(i => i.Name == "app"), "manifest batch accepted");
        Check.That((await client.V1.Batches[manifest.BatchId].GetAsync()).Total == 2, "read the manifest batch");

        await using (var stream = await client.V1.Builds[first.BuildId].Events.GetAsync())
        {
            var events = await Check.ReadEventsAsync(stream, $"/v1/builds/{first.BuildId}/events", log, TimeSpan.FromSeconds(90));
            Check.That(events[0].Event == "snapshot" && events[^1].Event == "end", "snapshot first, end last");
            using var last = JsonDocument.Parse(events[^2].Data);
            Check.That(last.RootElement.GetProperty("state").GetString() == "succeeded", "the build ended succeeded");
        }

        var chain = await client.V1.Batches.PostAsync(new SubmitBatchRequest
        {
            Images =
            [
                new BatchImageRequest { Name = "a", Spec = Spec("a") },
                new BatchImageRequest { Name = "b", Spec = Spec("b"), DependsOn = [new BatchDependency { Image = "a" }] },
            ],
        });
        var waiting = chain.Images.Single(i => i.Name == "b");
        Check.That(waiting.State == BuildState.Waiting, "b waits for a");
        var cancelled = await client.V1.Builds[waiting.BuildId].DeleteAsync();
        Check.That(cancelled.State == BuildState.Cancelled, $"the cancel answers the cancelled record ({cancelled.State})");
        await Expect<ProblemDetails>(() => client.V1.Builds[waiting.BuildId].DeleteAsync(), 409);

        var invalid = await Expect<HttpValidationProblemDetails>(() => client.V1.Builds.GetAsync(c => c.QueryParameters.Limit = 0), 400);
        Check.That(invalid.Errors.AdditionalData.ContainsKey("limit"), "the 400 names limit");
        using (var anonymous = Connect(t.Api, null, log))
        {
            await Expect<ProblemDetails>(() => anonymous.Client.V1.Builds[first.BuildId].GetAsync(), 401);
        }
        using (var reader = Connect(t.Api, t.ReaderKey, log))
        {
            await Expect<ProblemDetails>(() => reader.Client.V1.Builds.PostAsync(request), 403);
        }
        await Expect<ProblemDetails>(() => client.V1.Builds["b-000000000000"].GetAsync(), 404);
        var huge = new SubmitBuildRequest { Spec = Spec("huge") };
        huge.Spec.Labels = new BuildSpec_labels { AdditionalData = new Dictionary<string, object> { ["x"] = new string('a', 70_000) } };
        await Expect<ProblemDetails>(() => client.V1.Builds.PostAsync(huge), 413);
        var wrongType = client.V1.Builds.ToPostRequestInformation(request);
        wrongType.Headers.Remove("Content-Type");
        wrongType.SetStreamContent(new MemoryStream(Encoding.UTF8.GetBytes("{}")), "text/plain");
        await Expect<ProblemDetails>(() => api.Adapter.SendAsync(wrongType, BuildRecord.CreateFromDiscriminatorValue, Problems), 415);
        await Expect<ProblemDetails>(() => client.V1.Builds.PostAsync(new SubmitBuildRequest { Spec = Spec("other") }, c => c.Headers.Add("Idempotency-Key", key)), 422);
        using (var broken = Connect(t.Broken, t.AdminKey, log))
        {
            var unavailable = await Expect<ProblemDetails>(() => broken.Client.V1.Builds.PostAsync(request), 503);
            Check.That(unavailable.ResponseHeaders.Keys.Any(k => string.Equals(k, "Retry-After", StringComparison.OrdinalIgnoreCase)), "the 503 has Retry-After");
        }
    }

    private static string Header(HeadersInspectionHandlerOption option, string name) =>
        option.ResponseHeaders.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value is { } values ? string.Join(",", values) : null;

    private static async Task<T> Expect<T>(Func<Task> call, int status)
        where T : ApiException
    {
        try
        {
            await call();
        }
        catch (T e)
        {
            Check.That(e.ResponseStatusCode == status, $"expected {status}, got {e.ResponseStatusCode}");
            var problemStatus = e switch { HttpValidationProblemDetails v => v.Status, ProblemDetails p => p.Status, _ => null };
            Check.That(problemStatus == status, $"the problem's status is {status} ({problemStatus})");
            return e;
        }
        throw new InvalidOperationException($"expected a {status} answered as {typeof(T).Name}");
    }
}
