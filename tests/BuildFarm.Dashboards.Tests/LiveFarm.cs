using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using BuildFarm.Api.Hosting;
using BuildFarm.ClusterSim.Hosting;
using BuildFarm.ClusterSim.Scenarios;
using BuildFarm.Contracts;
using BuildFarm.Worker.Hosting;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BuildFarm.Dashboards.Tests;

/// <summary>
/// Runs alone: the Prometheus exporter listens to every meter named BuildFarm.Worker in the process, so workers of
/// other tests running in parallel would add their series to these scrapes (one worker per process in production).
/// </summary>
[CollectionDefinition(nameof(MetricsRunsAlone), DisableParallelization = true)]
public sealed class MetricsRunsAlone;

/// <summary>
/// The farm under a real Prometheus, once for the whole test class: the cluster simulator in process, the real worker
/// host and the real API host (Kestrel on 127.0.0.1:0, in-memory bus), and a prometheus process scraping both every
/// second (jobs buildfarm-worker and buildfarm-api, as the rules expect) with the shipped rules loaded. Builds run while
/// Prometheus scrapes: resets in pull, extract and push with retries, throttled Kubernetes API requests, permanent
/// failures (unauthorized), successes on two registries, cached builds, a pod create refused by a full quota, a
/// deduplicated build; the API takes builds and a batch and
/// refuses a request without a key.
/// </summary>
public sealed class LiveFarm : IAsyncLifetime
{
    public const string WorkerJob = "buildfarm-worker";
    public const string ApiJob = "buildfarm-api";
    private const string ApiKey = "dashboards-test-key-0123456789abcdef";
    private const string FastYaml = "capacity: { nodes: 4, podsPerNode: 10 }\n";

    private ClusterSimulator? _sim;
    private WebApplication? _worker;
    private WebApplication? _api;
    private string? _kubeconfig;

    public PrometheusServer Prometheus { get; private set; } = null!;

    /// <summary>The worker's and the API's /metrics text at the end of the run.</summary>
    public string WorkerMetrics { get; private set; } = "";

    public string ApiMetrics { get; private set; } = "";

    /// <summary>How long the builds ran while Prometheus scraped (the query window must cover it).</summary>
    public TimeSpan RunTime { get; private set; }

    /// <summary>Builds the worker finished (all outcomes).</summary>
    public int BuildsFinished { get; private set; }

    public async Task InitializeAsync()
    {
        // Fail before starting anything when the binaries are missing.
        _ = PrometheusTools.Prometheus;
        _sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions
        {
            Scenario = Scenario("faults: { pullReset: 0.3, extractReset: 0.2, pushReset: 0.3 }\napi: { throttleRate: 0.1 }\n" +
                "registries: { flaky.example.net: { faults: { pushReset: 1 } } }"),
            Seed = 11,
        });
        _kubeconfig = Path.Combine(Path.GetTempPath(), $"dashboards-{Guid.NewGuid():N}.kubeconfig");
        _sim.WriteKubeconfig(_kubeconfig);
        _worker = await StartWorkerAsync(_kubeconfig);
        _api = await StartApiAsync();
        var workerAddress = AddressOf(_worker);
        var apiAddress = AddressOf(_api);
        Prometheus = await PrometheusServer.StartAsync(
            new Dictionary<string, string> { [WorkerJob] = workerAddress.Authority, [ApiJob] = apiAddress.Authority }, Repo.Rules);
        await Prometheus.WaitUntilAsync(async () => (await Prometheus.QueryAsync("sum(up{job=~\"buildfarm-.*\"}) == 2")).GetArrayLength() == 1,
            "both targets up", TimeSpan.FromSeconds(30));

        var clock = Stopwatch.StartNew();
        using var workerHttp = new HttpClient { BaseAddress = workerAddress };
        var bus = _worker.Services.GetRequiredService<IBus>();
        // Builds run in waves, each one scraped before the next starts: Prometheus sees every counter and histogram
        // grow between scrapes (a series that appears and reaches its final value within one scrape has a rate of 0).
        var builds = 0;
        async Task WaveAsync(params (string Id, string Destination)[] wave)
        {
            foreach (var (id, destination) in wave)
            {
                await bus.Publish(Command(id, destination));
            }
            builds += wave.Length;
            await WaitForBuildsAsync(workerHttp, builds);
            await WaitForPrometheusAsync("sum(buildfarm_builds_total)", builds);
        }

        // 1. Resets in every phase and a throttled Kubernetes API: builds succeed after retries; every push to
        //    flaky.example.net is reset, so its attempts fail (connection_reset) until the build fails.
        for (var wave = 0; wave < 4; wave++)
        {
            await WaveAsync(
                ($"dash-{wave}-a", $"registry.example.com/team/a{wave}:1"),
                ($"dash-{wave}-b", $"mirror.example.org/team/b{wave}:1"),
                ($"dash-{wave}-c", $"registry.example.com/team/c{wave}:1"),
                ($"dash-{wave}-flaky", $"flaky.example.net/team/f{wave}:1"));
        }

        // 2. Credentials refused: permanent failures, no retry.
        _sim.Reload(Scenario("faults: { unauthorized: 1 }"));
        await WaveAsync(("dash-unauthorized-1", "registry.example.com/team/locked1:1"));
        await WaveAsync(("dash-unauthorized-2", "registry.example.com/team/locked2:1"));

        // 3. Kaniko's layer cache (hits and misses), and a namespace quota of one pod: two builds at once, the second
        //    create refused (403 exceeded quota) until the first pod ends.
        _sim.Reload(Scenario("cache: { hitRate: 0.5 }\nquota: { podsPerNamespace: 1 }"));
        // Twice: a counter born and finished within one scrape has a rate of 0.
        await WaveAsync(("dash-cache-1", "registry.example.com/team/cached1:1"), ("dash-cache-2", "mirror.example.org/team/cached2:1"));
        await WaveAsync(("dash-cache-3", "registry.example.com/team/cached3:1"), ("dash-cache-4", "mirror.example.org/team/cached4:1"));
        await WaitForPrometheusAsync("sum(buildfarm_pod_create_refusals_total{kind=\"quota\"})", 1);

        // 4. A clean build, then the same spec twice more: answered by the completed one (dedupe hits).
        _sim.Reload(Scenario(""));
        await WaveAsync(("dash-clean", "registry.example.com/team/clean:1"));
        await WaveAsync(("dash-clean-again-1", "registry.example.com/team/clean:1"));
        await WaveAsync(("dash-clean-again-2", "registry.example.com/team/clean:1"));

        // 5. The API, twice: two builds, a batch of two, a request without a key.
        for (var wave = 1; wave <= 2; wave++)
        {
            await DriveApiAsync(apiAddress, wave);
            await WaitForPrometheusAsync("sum(buildfarm_api_builds_submitted_total)", 4 * wave);
            await WaitForPrometheusAsync("sum(buildfarm_api_requests_rejected_total)", wave);
        }

        RunTime = clock.Elapsed;
        WorkerMetrics = await workerHttp.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        using (var apiHttp = new HttpClient { BaseAddress = apiAddress })
        {
            ApiMetrics = await apiHttp.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        }
        BuildsFinished = (int)Sum(WorkerMetrics, "buildfarm_builds_total");
        Assert.Equal(builds, BuildsFinished);
        // At least 3 scrapes of each target (rates need 2 samples; the run took many more).
        await WaitForPrometheusAsync("min(count_over_time(up{job=~\"buildfarm-.*\"}[10m]))", 3);
    }

    private Task WaitForPrometheusAsync(string expr, int atLeast) =>
        Prometheus.WaitUntilAsync(async () => (await Prometheus.QueryAsync($"{expr} >= {atLeast}")).GetArrayLength() == 1,
            $"Prometheus to see {expr} >= {atLeast}", TimeSpan.FromSeconds(30));

    public async Task DisposeAsync()
    {
        if (Prometheus is not null)
        {
            await Prometheus.DisposeAsync();
        }
        foreach (var app in new[] { _api, _worker })
        {
            if (app is not null)
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }
        }
        if (_sim is not null)
        {
            await _sim.DisposeAsync();
        }
        if (_kubeconfig is not null)
        {
            File.Delete(_kubeconfig);
        }
    }

    /// <summary>The sum of every sample of <paramref name="metric"/> in Prometheus text.</summary>
    public static double Sum(string text, string metric) => text.Split('\n')
        .Where(l => l.StartsWith(metric + "{", StringComparison.Ordinal) || l.StartsWith(metric + " ", StringComparison.Ordinal))
        .Sum(l => double.Parse(l.Split(' ')[^1], CultureInfo.InvariantCulture));

    private static Scenario Scenario(string extraYaml) =>
        ScenarioLoader.Parse(ScenarioLoader.FastYaml() + FastYaml + extraYaml, "dashboards test scenario");

    private static BuildImage Command(string buildId, string destination) => new()
    {
        BuildId = buildId,
        Spec = new BuildSpec
        {
            Context = "s3://ctx-bucket/builds/app.tar.gz", Destinations = [destination], Cache = buildId.StartsWith("dash-cache", StringComparison.Ordinal),
        },
        SubmittedAt = DateTimeOffset.UtcNow,
    };

    private static async Task<WebApplication> StartWorkerAsync(string kubeconfig)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kubernetes:KubeconfigPath"] = kubeconfig,
            ["Kaniko:Namespace"] = "buildfarm",
            ["Bus:Transport"] = "InMemory",
            ["Worker:Slots"] = "8",
            ["Worker:MaxAttempts"] = "4",
            ["Worker:BackoffBase"] = "00:00:00.050",
            ["Worker:MaxBackoff"] = "00:00:00.200",
            ["Worker:WaitPollMin"] = "00:00:00.020",
            ["Worker:WaitPollMax"] = "00:00:00.200",
            ["Worker:LeaseTtl"] = "00:00:10",
            ["Worker:LeaseRenewInterval"] = "00:00:02",
            ["Worker:ShutdownGracePeriod"] = "00:00:00.100",
            ["Kubernetes:RetryBaseDelay"] = "00:00:00.010",
        });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.AddBuildFarmWorker();
        var app = builder.Build();
        app.MapBuildFarmWorkerEndpoints();
        await app.StartAsync();
        return app;
    }

    private static async Task<WebApplication> StartApiAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Api:Keys:dash:Key"] = ApiKey,
            ["Api:Keys:dash:Scopes"] = "submit,read,cancel",
            ["Bus:Transport"] = "InMemory",
        });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.AddBuildFarmApi();
        var app = builder.Build();
        app.MapBuildFarmApi();
        await app.StartAsync();
        return app;
    }

    private static Uri AddressOf(WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    private static async Task WaitForBuildsAsync(HttpClient worker, int count)
    {
        var clock = Stopwatch.StartNew();
        var text = "";
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            text = await worker.GetStringAsync(new Uri("/metrics", UriKind.Relative));
            if (Sum(text, "buildfarm_builds_total") >= count)
            {
                return;
            }
            await Task.Delay(50);
        }
        throw new TimeoutException($"the worker did not finish {count} builds within 60s; its buildfarm_builds_total lines:\n" +
            string.Join('\n', text.Split('\n').Where(l => l.StartsWith("buildfarm_builds_total", StringComparison.Ordinal))));
    }

    private static async Task DriveApiAsync(Uri address, int wave)
    {
        using var http = new HttpClient { BaseAddress = address };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
        for (var i = 0; i < 2; i++)
        {
            var body = "{\"spec\": {\"context\": \"s3://ctx-bucket/builds/api.tar.gz\", \"destinations\": [\"registry.example.com/team/api" + wave + "-" + i + ":1\"]}}";
            using var response = await http.PostAsync(new Uri("/v1/builds", UriKind.Relative), new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.True((int)response.StatusCode == 202, $"POST /v1/builds answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
        var batch = """
            {"source": "dashboards-test", "images": [
              {"name": "base", "spec": {"context": "s3://ctx-bucket/builds/base.tar.gz", "destinations": ["registry.example.com/team/base:1"]}},
              {"name": "app", "spec": {"context": "s3://ctx-bucket/builds/app.tar.gz", "destinations": ["registry.example.com/team/app:1"]},
               "dependsOn": [{"image": "base", "buildArg": "BASE_IMAGE"}]}]}
            """.Replace("dashboards-test", $"dashboards-test-{wave}", StringComparison.Ordinal).Replace(":1\"", $":{wave}\"", StringComparison.Ordinal);
        using (var response = await http.PostAsync(new Uri("/v1/batches", UriKind.Relative), new StringContent(batch, Encoding.UTF8, "application/json")))
        {
            Assert.True((int)response.StatusCode == 202, $"POST /v1/batches answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
        using var anonymous = new HttpClient { BaseAddress = address };
        using (var refused = await anonymous.PostAsync(new Uri("/v1/builds", UriKind.Relative), new StringContent("{}", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(401, (int)refused.StatusCode);
        }
    }
}
