// Compiled with the NSwag-generated client (namespace Gen.NSwag) by GeneratedClientsFixture.
using System.Text;
using System.Text.Json;
using Gen.NSwag;

namespace Gen.NSwag
{
    /// <summary>NSwag's own extension point (a partial method called with each request before it is sent): used for the
    /// request bodies the generated method cannot express (a YAML manifest, a wrong media type).</summary>
    public partial class BuildFarmNSwagClient
    {
        public Action<HttpRequestMessage> Rewrite { get; set; }

        partial void PrepareRequest(HttpClient client, HttpRequestMessage request, string url) => Rewrite?.Invoke(request);
    }
}

namespace Driver
{
    public static class NSwagFlow
    {
        private static readonly CancellationToken None = CancellationToken.None;

        public static async Task RunAsync(Target t, ExchangeLog log)
        {
            using var http = Check.Http(t.Api, t.AdminKey, log);
            var client = new BuildFarmNSwagClient(http);
            BuildSpec Spec(string name) => new() { Context = "s3://ctx-bucket/app.tar.gz", Destinations = [$"registry.example.com/gen-{t.Run}/nswag-{name}:1"] };

            // Submit, replay with the same Idempotency-Key (200, marked), a new key is a new build.
            var key = $"nswag-{t.Run}-1";
            var request = new SubmitBuildRequest { Spec = Spec("one"), Priority = 3 };
            var first = await client.SubmitBuildAsync(key, request, None);
            Check.That(first.StatusCode == 202, $"first submit: {first.StatusCode}");
            Check.That(Header(first.Headers, "Location") == $"/v1/builds/{first.Result.BuildId}", "Location of the 202");
            Check.That(first.Result.State == BuildState.Queued && first.Result.Version == 1, "a new build is queued, version 1");
            var replay = await client.SubmitBuildAsync(key, request, None);
            Check.That(replay.StatusCode == 200 && replay.Result.BuildId == first.Result.BuildId, "the replay is 200 with the same build");
            Check.That(Header(replay.Headers, "Idempotent-Replayed") == "true", "the replay is marked Idempotent-Replayed: true");
            var second = await client.SubmitBuildAsync($"nswag-{t.Run}-2", new SubmitBuildRequest { Spec = Spec("two") }, None);
            Check.That(second.StatusCode == 202 && second.Result.BuildId != first.Result.BuildId, "another key is another build");
            Check.That(Header(second.Headers, "Idempotent-Replayed") is null, "a new submit is not marked as a replay");

            var read = await client.GetBuildAsync(first.Result.BuildId, None);
            Check.That(read.Result.BuildId == first.Result.BuildId && read.Result.Spec.Destinations.Count == 1, "read the build");

            // Every page, one build a page, until continue is absent.
            var seen = new List<string>();
            string token = null;
            var pages = 0;
            do
            {
                var page = await client.ListBuildsAsync(null, null, null, 1, token, None);
                seen.AddRange(page.Result.Items.Select(i => i.BuildId));
                token = page.Result.Continue;
                pages++;
            }
            while (token is not null && pages < 500);
            Check.That(token is null && pages >= 2, $"paged to the last page ({pages} pages)");
            Check.That(seen.Contains(first.Result.BuildId) && seen.Contains(second.Result.BuildId) && seen.Distinct().Count() == seen.Count, "every build once");

            // A JSON batch, then a YAML manifest (the generated method sends JSON: the body is swapped in PrepareRequest).
            var batch = await client.SubmitBatchAsync(null, null, null, null, new SubmitBatchRequest
            {
                Source = "nswag",
                Images =
                [
                    new BatchImageRequest { Name = "base", Spec = Spec("base") },
                    new BatchImageRequest { Name = "app", Spec = Spec("app"), DependsOn = [new BatchDependency { Image = "base", BuildArg = "BASE_IMAGE" }] },
                ],
            }, None);
            Check.That(batch.StatusCode == 202 && batch.Result.Total == 2 && Header(batch.Headers, "Location") == $"/v1/batches/{batch.Result.BatchId}", "JSON batch accepted");
            var batchRead = await client.GetBatchAsync(batch.Result.BatchId, None);
            Check.That(batchRead.Result.Images.Count == 2 && batchRead.Result.Counts.Values.Sum() == 2, "read the batch");
            client.Rewrite = r => r.Content = new StringContent(Check.Manifest(t.Run), Encoding.UTF8, "application/yaml");
            var manifest = await client.SubmitBatchAsync(null, "3f9c0a1b2c4d", null, null, new SubmitBatchRequest(), None);
            client.Rewrite = null;
            Check.That(manifest.StatusCode == 202 && manifest.Result.Total == 2 && manifest.Result.Images.Any(i => i.Name == "app"), "manifest batch accepted");
            Check.That((await client.GetBatchAsync(manifest.Result.BatchId, None)).Result.Total == 2, "read the manifest batch");

            // Follow the first build to its end.
            using (var stream = await client.StreamBuildEventsAsync(first.Result.BuildId, null, None))
            {
                Check.That(stream.StatusCode == 200, "the event stream opens");
                var events = await Check.ReadEventsAsync(stream.Stream, $"/v1/builds/{first.Result.BuildId}/events", log, TimeSpan.FromSeconds(90));
                Check.That(events[0].Event == "snapshot" && events[^1].Event == "end", "snapshot first, end last");
                var last = JsonSerializer.Deserialize<BuildRecord>(events[^2].Data);
                Check.That(last.BuildId == first.Result.BuildId && last.State == BuildState.Succeeded, $"the build ended succeeded ({last.State})");
            }

            // Cancel a waiting batch image: the answer is the record after the cancel. Again: 409.
            var chain = await client.SubmitBatchAsync(null, null, null, null, new SubmitBatchRequest
            {
                Images =
                [
                    new BatchImageRequest { Name = "a", Spec = Spec("a") },
                    new BatchImageRequest { Name = "b", Spec = Spec("b"), DependsOn = [new BatchDependency { Image = "a" }] },
                ],
            }, None);
            var waiting = chain.Result.Images.Single(i => i.Name == "b");
            Check.That(waiting.State == BuildState.Waiting, "b waits for a");
            var cancelled = await client.CancelBuildAsync(waiting.BuildId, None);
            Check.That(cancelled.StatusCode == 202 && cancelled.Result.State == BuildState.Cancelled, $"the cancel answers the cancelled record ({cancelled.Result.State})");
            await Expect<ProblemDetails>(() => client.CancelBuildAsync(waiting.BuildId, None), 409);

            // Each documented error as a typed problem.
            var invalid = await Expect<HttpValidationProblemDetails>(() => client.ListBuildsAsync(null, null, null, 0, null, None), 400);
            Check.That(invalid.Errors.ContainsKey("limit"), "the 400 names limit");
            using (var anonymous = Check.Http(t.Api, null, log))
            {
                await Expect<ProblemDetails>(() => new BuildFarmNSwagClient(anonymous).GetBuildAsync(first.Result.BuildId, None), 401);
            }
            using (var readerHttp = Check.Http(t.Api, t.ReaderKey, log))
            {
                await Expect<ProblemDetails>(() => new BuildFarmNSwagClient(readerHttp).SubmitBuildAsync(null, request, None), 403);
            }
            await Expect<ProblemDetails>(() => client.GetBuildAsync("b-000000000000", None), 404);
            var huge = new SubmitBuildRequest { Spec = Spec("huge") };
            huge.Spec.Labels = new Dictionary<string, string> { ["x"] = new string('a', 70_000) };
            await Expect<ProblemDetails>(() => client.SubmitBuildAsync(null, huge, None), 413);
            client.Rewrite = r => r.Content.Headers.ContentType = new("text/plain");
            await Expect<ProblemDetails>(() => client.SubmitBuildAsync(null, request, None), 415);
            client.Rewrite = null;
            await Expect<ProblemDetails>(() => client.SubmitBuildAsync(key, new SubmitBuildRequest { Spec = Spec("other") }, None), 422);
            using (var brokenHttp = Check.Http(t.Broken, t.AdminKey, log))
            {
                var unavailable = await ExpectException<ProblemDetails>(() => new BuildFarmNSwagClient(brokenHttp).SubmitBuildAsync(null, request, None), 503);
                Check.That(Header(unavailable.Headers, "Retry-After") is { Length: > 0 }, "the 503 has Retry-After");
            }
        }

        private static string Header(IReadOnlyDictionary<string, IEnumerable<string>> headers, string name) =>
            headers.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value is { } values ? string.Join(",", values) : null;

        private static async Task<T> Expect<T>(Func<Task> call, int status)
            where T : class => (await ExpectException<T>(call, status)).Result;

        private static async Task<ApiException<T>> ExpectException<T>(Func<Task> call, int status)
            where T : class
        {
            try
            {
                await call();
            }
            catch (ApiException<T> e)
            {
                Check.That(e.StatusCode == status, $"expected {status}, got {e.StatusCode}");
                var problemStatus = e.Result switch { ProblemDetails p => p.Status, HttpValidationProblemDetails v => v.Status, _ => null };
                Check.That(problemStatus == status, $"the problem's status is {status} ({problemStatus})");
                return e;
            }
            throw new InvalidOperationException($"expected a {status} answered as ApiException<{typeof(T).Name}>");
        }
    }
}
