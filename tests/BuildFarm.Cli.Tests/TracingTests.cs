using System.Diagnostics;
using BuildFarm.Cli.Demo;
using BuildFarm.Client;
using BuildFarm.ClusterSim.Scenarios;
using BuildFarm.Contracts;

namespace BuildFarm.Cli.Tests;

/// <summary>
/// Issue 15's done-when for tracing: the farm (API, in-memory MassTransit bus, demo workers, cluster simulator) exports
/// its spans over OTLP/HTTP to a real endpoint in the test; a build that retried once is one trace from the API request
/// to the last push span, with the attempt/pod/phase tree and phase spans as long as the analyzer's seconds.
/// </summary>
public sealed class TracingTests
{
    private const string ResetRegistry = "reset.example.com";

    // Half the attempts pushing to ResetRegistry end in connection resets (a transient failure: retried in a new pod).
    private static readonly string Yaml = ScenarioLoader.FastYaml()
        + "capacity: { nodes: 4, podsPerNode: 10 }\n"
        + $"registries:\n  {ResetRegistry}:\n    faults: {{ pushReset: 0.5 }}\n";

    [Fact]
    public async Task BuildRetriedOnce_IsOneTraceFromApiRequestToLastPush()
    {
        await using var receiver = await OtlpTraceReceiver.StartAsync();
        BuildRecord? retried = null;
        BatchStatus? batch = null;
        var farm = await DemoFarm.StartAsync(new DemoFarmOptions
        {
            Scenario = ScenarioLoader.Parse(Yaml, "tracing test scenario"), ScenarioYaml = Yaml, Seed = 11, OtlpEndpoint = receiver.Endpoint,
        }, CancellationToken.None);
        try
        {
            using var http = new HttpClient { BaseAddress = farm.Address };
            var client = new BuildFarmClient(http, farm.ApiKey);
            var submittedBatch = await client.SubmitBatchAsync(new SubmitBatchRequest
            {
                Images = [.. Enumerable.Range(1, 2).Select(i => new BatchImageRequest
                {
                    Name = $"img-{i}", Spec = new BuildSpec { Context = "s3://ctx-bucket/app.tar.gz", Destinations = [$"registry.example.com/trace/batch-{i}:1"] },
                })],
            });
            // P(an attempt resets, the next one does not) = 1/4 per build; rounds of 8 until one build shows it.
            for (var round = 0; round < 8 && retried is null; round++)
            {
                var submitted = await Task.WhenAll(Enumerable.Range(1, 8).Select(i => client.SubmitBuildAsync(new SubmitBuildRequest
                {
                    Spec = new BuildSpec { Context = "s3://ctx-bucket/app.tar.gz", Destinations = [$"{ResetRegistry}/trace/r{round}-{i}:1"] },
                })));
                var done = await Task.WhenAll(submitted.Select(b => WaitFinalAsync(client, b.BuildId)));
                retried = done.FirstOrDefault(b => b.State == BuildState.Succeeded && b.Attempts.Count == 2);
            }
            batch = await client.GetBatchAsync(submittedBatch.BatchId);
            foreach (var member in batch.Images)
            {
                await WaitFinalAsync(client, member.BuildId);
            }
        }
        finally
        {
            // Disposing the host shuts its tracer provider down, which exports every span still batched.
            await farm.DisposeAsync();
        }
        Assert.NotNull(retried);
        Assert.Equal(FailureReasons.ConnectionReset, retried.Attempts[0].Reason);

        var all = receiver.Spans.DistinctBy(s => s.SpanId).ToList();
        var build = Assert.Single(all, s => s.Name == "build" && Equals(s.Attributes.GetValueOrDefault("buildfarm.build.id"), retried.BuildId));
        var trace = all.Where(s => s.TraceId == build.TraceId).ToDictionary(s => s.SpanId);
        Assert.All(trace.Values, s => Assert.Equal("buildfarm-api", s.ServiceName));

        // The build span hangs, through MassTransit's send and consume spans, under the API's POST /builds server span.
        var ancestors = Ancestors(build, trace);
        Assert.Contains(ancestors, s => s.Kind == 2 && s.Name.StartsWith("POST", StringComparison.Ordinal)); // SERVER
        Assert.Contains(ancestors, s => s.Kind == 4); // PRODUCER (MassTransit send/publish)
        Assert.Contains(ancestors, s => s.Kind == 5); // CONSUMER (MassTransit consume)

        var attempts = Children(build, trace, "attempt").OrderBy(s => s.StartNanos).ToList();
        Assert.Equal(2, attempts.Count);
        Assert.Equal([1L, 2L], attempts.Select(a => (long)a.Attributes["buildfarm.attempt"]!));
        Assert.Equal(FailureReasons.ConnectionReset, attempts[0].Attributes["buildfarm.reason"]);
        Assert.Equal(2, attempts[0].StatusCode); // ERROR
        Assert.Equal("succeeded", attempts[1].Attributes["buildfarm.outcome"]);
        foreach (var attempt in attempts)
        {
            var create = Assert.Single(Children(attempt, trace, "pod.create"));
            // The pod's creation is a Kubernetes API call: an HTTP client span under pod.create.
            Assert.Contains(Descendants(create, trace), s => s.Kind == 3 && s.Name.StartsWith("POST", StringComparison.Ordinal));
            Assert.Single(Children(attempt, trace, "pod.startup"));
            foreach (var phase in new[] { "pull", "extract", "build", "push" })
            {
                Assert.Single(Children(attempt, trace, "kaniko." + phase));
            }
        }
        Assert.Equal(2, Assert.Single(Children(attempts[0], trace, "kaniko.push")).StatusCode); // the reset was in the push

        // The last attempt's phase spans last exactly the analyzer's seconds (the build's recorded phase seconds).
        foreach (var (phase, seconds) in retried.PhaseSeconds)
        {
            var span = Assert.Single(Children(attempts[1], trace, "kaniko." + phase));
            Assert.Equal(seconds, span.Seconds, 6);
            Assert.Equal(seconds, (double)span.Attributes["kaniko.phase.seconds"]!, 9);
            Assert.InRange(span.StartNanos, attempts[1].StartNanos - 2_000_000_000UL, attempts[1].EndNanos); // Kaniko's clock is the simulator's
        }
        var lastPush = Assert.Single(Children(attempts[1], trace, "kaniko.push"));
        Assert.Equal(build.TraceId, lastPush.TraceId);

        // Each build of the batch links the batch's submit span.
        var submit = Assert.Single(all, s => s.Name == "batch.submit" && Equals(s.Attributes.GetValueOrDefault("buildfarm.batch.id"), batch!.BatchId));
        foreach (var member in batch!.Images)
        {
            var memberBuild = Assert.Single(all, s => s.Name == "build" && Equals(s.Attributes.GetValueOrDefault("buildfarm.build.id"), member.BuildId));
            Assert.Contains((submit.TraceId, submit.SpanId), memberBuild.Links);
        }
    }

    private static async Task<BuildRecord> WaitFinalAsync(BuildFarmClient client, string buildId)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            var record = await client.GetBuildAsync(buildId);
            // A success recorded before the last attempt's start event (the status projection takes events in parallel)
            // still shows the failed attempt last: not settled yet.
            var settled = record.State != BuildState.Succeeded || record.Attempts is [] or [.., { Reason: null }];
            if (settled && record.State is BuildState.Succeeded or BuildState.Failed or BuildState.Cancelled)
            {
                return record;
            }
            await Task.Delay(50);
        }
        throw new TimeoutException($"build {buildId} did not end within 60 s");
    }

    private static IEnumerable<ExportedSpan> Children(ExportedSpan parent, Dictionary<string, ExportedSpan> trace, string name) =>
        trace.Values.Where(s => s.ParentSpanId == parent.SpanId && s.Name == name);

    private static List<ExportedSpan> Ancestors(ExportedSpan span, Dictionary<string, ExportedSpan> trace)
    {
        var chain = new List<ExportedSpan>();
        while (span.ParentSpanId.Length > 0 && trace.TryGetValue(span.ParentSpanId, out var parent) && chain.Count < 64)
        {
            chain.Add(parent);
            span = parent;
        }
        return chain;
    }

    private static List<ExportedSpan> Descendants(ExportedSpan span, Dictionary<string, ExportedSpan> trace)
    {
        var found = new List<ExportedSpan>();
        var next = new Queue<ExportedSpan>([span]);
        while (next.TryDequeue(out var s) && found.Count < 1000)
        {
            foreach (var child in trace.Values.Where(c => c.ParentSpanId == s.SpanId))
            {
                found.Add(child);
                next.Enqueue(child);
            }
        }
        return found;
    }
}
