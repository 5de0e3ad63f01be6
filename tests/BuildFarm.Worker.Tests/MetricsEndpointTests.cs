using BuildFarm.ClusterSim.Hosting;
using BuildFarm.Worker.Hosting;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BuildFarm.Worker.Tests;

/// <summary>
/// Runs alone: the Prometheus exporter listens to every meter named BuildFarm.Worker in the process, so workers of
/// tests running in parallel would add their series to this scrape (one worker per process in production).
/// </summary>
[CollectionDefinition(nameof(MetricsRunsAlone), DisableParallelization = true)]
public sealed class MetricsRunsAlone;

/// <summary>The real worker host (Kestrel on 127.0.0.1:0, in-memory bus) scraped on /metrics and /healthz.</summary>
[Collection(nameof(MetricsRunsAlone))]
public sealed class MetricsEndpointTests
{
    [Fact]
    public async Task Metrics_AfterFailedSucceededAndDeduplicatedBuilds_ExportsExactlyTheDesignNames()
    {
        await using var sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions { Scenario = WorkerHarness.Scenario("faults: { pushReset: 1 }"), Seed = 7 });
        var kubeconfig = Path.Combine(Path.GetTempPath(), $"worker-metrics-{Guid.NewGuid():N}.kubeconfig");
        sim.WriteKubeconfig(kubeconfig);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var settings = WorkerHarness.Settings(kubeconfig, new Dictionary<string, string?> { ["Worker:MaxAttempts"] = "1", ["Bus:Transport"] = "InMemory" });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.AddBuildFarmWorker();
        await using var app = builder.Build();
        app.MapBuildFarmWorkerEndpoints();
        await app.StartAsync();
        try
        {
            var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            using var http = new HttpClient { BaseAddress = address };
            var bus = app.Services.GetRequiredService<IBus>();

            Assert.Equal("Healthy", await http.GetStringAsync(new Uri("/healthz", UriKind.Relative)));

            await bus.Publish(WorkerHarness.Command("metrics-fail"));
            await ScrapeUntilAsync(http, "buildfarm_build_attempts_total{", "reason=\"connection_reset\"");
            sim.Reload(WorkerHarness.Scenario());
            var spec = WorkerHarness.Spec("registry.example.com/team/metrics:1");
            await bus.Publish(WorkerHarness.Command("metrics-ok", spec));
            await ScrapeUntilAsync(http, "buildfarm_builds_total{", "outcome=\"succeeded\"");
            await bus.Publish(WorkerHarness.Command("metrics-dup", spec));
            var text = await ScrapeUntilAsync(http, "buildfarm_dedupe_hits_total{", "kind=\"completed\"");

            string[] histograms =
            [
                "buildfarm_kaniko_pull_duration_seconds", "buildfarm_kaniko_extract_duration_seconds", "buildfarm_kaniko_push_duration_seconds",
                "buildfarm_build_duration_seconds", "buildfarm_queue_wait_seconds", "buildfarm_pod_startup_seconds",
            ];
            foreach (var name in histograms)
            {
                Assert.Contains($"# TYPE {name} histogram", text, StringComparison.Ordinal);
                Assert.Contains($"{name}_bucket{{", text, StringComparison.Ordinal);
            }
            var buildfarmLines = string.Join("\n", text.Split('\n').Where(l => l.StartsWith("buildfarm_", StringComparison.Ordinal) && !l.Contains("_bucket", StringComparison.Ordinal)));
            foreach (var name in new[] { "buildfarm_connection_resets_total", "buildfarm_build_attempts_total", "buildfarm_builds_total", "buildfarm_dedupe_hits_total", "buildfarm_kube_api_requests_total" })
            {
                Assert.True(text.Contains($"# TYPE {name} counter", StringComparison.Ordinal), $"{name} missing from:\n{buildfarmLines}");
            }
            Assert.Contains("# TYPE buildfarm_builds_in_flight gauge", text, StringComparison.Ordinal);

            Assert.Contains(Line(text, "buildfarm_connection_resets_total{"), l => l.Contains("phase=\"push\"", StringComparison.Ordinal) && l.Contains("registry=\"registry.example.com\"", StringComparison.Ordinal));
            Assert.Contains(Line(text, "buildfarm_build_attempts_total{"), l => l.Contains("outcome=\"failed\"", StringComparison.Ordinal) && l.Contains("reason=\"connection_reset\"", StringComparison.Ordinal));
            Assert.Contains(Line(text, "buildfarm_build_attempts_total{"), l => l.Contains("outcome=\"succeeded\"", StringComparison.Ordinal));
            Assert.Contains(Line(text, "buildfarm_kaniko_push_duration_seconds_count{"), l => l.Contains("registry=\"registry.example.com\"", StringComparison.Ordinal));
            // Pull durations carry the base image's registry from the log ("Retrieving image … from registry X"), not "unknown".
            var pulls = Line(text, "buildfarm_kaniko_pull_duration_seconds_count{").ToList();
            Assert.NotEmpty(pulls);
            Assert.All(pulls, l => Assert.Matches("registry=\"[a-z0-9.-]+\\.[a-z]+(:[0-9]+)?\"", l));
            Assert.DoesNotContain(pulls, l => l.Contains("registry=\"unknown\"", StringComparison.Ordinal));
            Assert.Contains(Line(text, "buildfarm_kube_api_requests_total{"), l => l.Contains("verb=\"create\"", StringComparison.Ordinal) && l.Contains("code=\"201\"", StringComparison.Ordinal));
            Assert.Contains(Line(text, "buildfarm_kube_api_requests_total{"), l => l.Contains("verb=\"watch\"", StringComparison.Ordinal));
            Assert.Contains(Line(text, "buildfarm_kube_api_requests_total{"), l => l.Contains("verb=\"log\"", StringComparison.Ordinal));
            // Low cardinality: no build id, tag or pod name in any label.
            Assert.DoesNotContain("metrics-ok", text, StringComparison.Ordinal);
            Assert.DoesNotContain("bf-", text, StringComparison.Ordinal);
            Assert.DoesNotContain(":1\"", text, StringComparison.Ordinal);
        }
        finally
        {
            await app.StopAsync();
            File.Delete(kubeconfig);
        }
    }

    [Fact]
    public async Task Healthz_RedisUnreachable_Unhealthy503()
    {
        await using var sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions { Scenario = WorkerHarness.Scenario(), Seed = 7 });
        var kubeconfig = Path.Combine(Path.GetTempPath(), $"worker-health-{Guid.NewGuid():N}.kubeconfig");
        sim.WriteKubeconfig(kubeconfig);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        // Nothing listens on port 1.
        builder.Configuration.AddInMemoryCollection(WorkerHarness.Settings(kubeconfig, new Dictionary<string, string?> { ["Redis:ConnectionString"] = "127.0.0.1:1,connectTimeout=200" }));
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.AddBuildFarmWorker();
        await using var app = builder.Build();
        app.MapBuildFarmWorkerEndpoints();
        await app.StartAsync();
        try
        {
            var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            using var http = new HttpClient { BaseAddress = address };
            using var response = await http.GetAsync(new Uri("/healthz", UriKind.Relative));
            Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("Unhealthy", await response.Content.ReadAsStringAsync());
        }
        finally
        {
            await app.StopAsync();
            File.Delete(kubeconfig);
        }
    }

    private static IEnumerable<string> Line(string text, string prefix) =>
        text.Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal));

    private static async Task<string> ScrapeUntilAsync(HttpClient http, string prefix, string label)
    {
        var text = "";
        await Eventually.UntilAsync(async () =>
        {
            text = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
            return Line(text, prefix).Any(l => l.Contains(label, StringComparison.Ordinal));
        }, $"{prefix} with {label} on /metrics");
        return text;
    }
}
