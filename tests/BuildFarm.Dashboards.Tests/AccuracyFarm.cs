using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using BuildFarm.Api.Hosting;
using BuildFarm.ClusterSim.Hosting;
using BuildFarm.ClusterSim.Scenarios;
using BuildFarm.Contracts;
using BuildFarm.Worker.Hosting;
using k8s;
using k8s.Models;
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
/// A farm whose durations follow known distributions, scraped by a real Prometheus, for <see cref="HistogramAccuracyTests"/>:
/// the simulator at time scale 1 with lognormal phase timings in the range the buckets are made for (push to
/// slow.example.net slower than to registry.example.com), queue waits drawn by the test (a build's <c>SubmittedAt</c>
/// lies that far in the past), and API publishes delayed by a drawn amount (a publish observer on the API's bus).
/// The true values come from outside the histograms: the phases from the workers' <see cref="BuildSucceeded"/> events
/// (the log analyzer's seconds), pod start-up from the worker's <see cref="BuildStarted"/> (stamped as the create is
/// answered) to the test's own pod watch seeing the container running, queue waits from the drawn values, publish
/// latency from the observer's own clock around each publish.
/// A warm-up build per registry and a warm-up submit come first so that every histogram series exists before the
/// measured window starts (a series born inside a rate window loses its first increase).
/// </summary>
public sealed class AccuracyFarm : IAsyncLifetime
{
    public const string WorkerJob = "buildfarm-worker";
    public const string ApiJob = "buildfarm-api";
    public const string FastRegistry = "registry.example.com";
    public const string SlowRegistry = "slow.example.net";
    private const string Namespace = "buildfarm";
    private const string ApiKey = "accuracy-test-key-0123456789abcdef";
    private const int Builds = 200;
    private const int Submits = 400;

    /// <summary>Wall seconds (time scale 1): every phase well inside the buckets' range (0.1 s and up for Kaniko phases).</summary>
    private const string ScenarioYaml = """
        timeScale: 1
        capacity: { nodes: 10, podsPerNode: 25 }
        timings:
          schedule:      { median: 0.1,  p95: 0.3 }
          executorPull:  { median: 1,    p95: 3 }
          manifest:      { median: 0.3,  p95: 1.2 }
          extract:       { median: 0.5,  p95: 2 }
          step:          { median: 0.05, p95: 0.2 }
          run:           { median: 0.6,  p95: 2.5 }
          push:          { median: 0.4,  p95: 1.5 }
          failedAttempt: { median: 0.2,  p95: 0.5 }
        registries:
          slow.example.net: { timings: { push: { median: 1, p95: 4 } } }
        """;

    private ClusterSimulator? _sim;
    private WebApplication? _worker;
    private WebApplication? _api;
    private string? _kubeconfig;
    private readonly ConcurrentDictionary<string, BuildSucceeded> _succeeded = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, BuildStarted> _started = new(StringComparer.Ordinal);
    private readonly PodStartWatch _pods = new();
    private readonly DelayingPublishObserver _publishes = new(new Random(5));

    public PrometheusServer Prometheus { get; private set; } = null!;

    /// <summary>The measured window per job: from a scrape after the warm-up to a scrape after the last measured event.</summary>
    public IReadOnlyDictionary<string, (DateTimeOffset From, DateTimeOffset To)> Windows { get; private set; } =
        new Dictionary<string, (DateTimeOffset, DateTimeOffset)>();

    /// <summary>True values by quantity (pull, extract, build, push, queue_wait, pod_startup, publish) and registry ("" when farm-wide).</summary>
    public Dictionary<(string Quantity, string Registry), List<double>> Truth { get; } = [];

    /// <summary>How long the measured part took (wall).</summary>
    public TimeSpan RunTime { get; private set; }

    public async Task InitializeAsync()
    {
        _ = PrometheusTools.Prometheus;
        _sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions
        {
            Scenario = ScenarioLoader.Parse(ScenarioYaml, "accuracy scenario"),
            Seed = 23,
        });
        _kubeconfig = Path.Combine(Path.GetTempPath(), $"accuracy-{Guid.NewGuid():N}.kubeconfig");
        _sim.WriteKubeconfig(_kubeconfig);
        using var watchStop = new CancellationTokenSource();
        var podWatch = _pods.RunAsync(_kubeconfig, Namespace, watchStop.Token);
        _worker = await StartWorkerAsync(_kubeconfig);
        _api = await StartApiAsync();
        _api.Services.GetRequiredService<IBus>().ConnectPublishObserver(_publishes);
        var workerBus = _worker.Services.GetRequiredService<IBus>();
        var events = workerBus.ConnectReceiveEndpoint("dashboards-accuracy-events", e =>
        {
            e.Handler<BuildSucceeded>(context =>
            {
                _succeeded[context.Message.BuildId] = context.Message;
                return Task.CompletedTask;
            });
            e.Handler<BuildStarted>(context =>
            {
                _started[context.Message.BuildId] = context.Message;
                return Task.CompletedTask;
            });
        });
        await events.Ready;
        var workerAddress = AddressOf(_worker);
        var apiAddress = AddressOf(_api);
        Prometheus = await PrometheusServer.StartAsync(
            new Dictionary<string, string> { [WorkerJob] = workerAddress.Authority, [ApiJob] = apiAddress.Authority }, Repo.Rules);
        await WaitForAsync("sum(up{job=~\"buildfarm-.*\"})", 2);

        // Warm-up: one build per registry and one submit, seen by Prometheus before the window opens.
        await workerBus.Publish(Command("warmup-fast", $"{FastRegistry}/team/warmup:1", TimeSpan.FromSeconds(1)));
        await workerBus.Publish(Command("warmup-slow", $"{SlowRegistry}/team/warmup:1", TimeSpan.FromSeconds(1)));
        using var api = new HttpClient { BaseAddress = apiAddress };
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
        await SubmitAsync(api, "warmup");
        await WaitForAsync("count(buildfarm_kaniko_push_duration_seconds_count)", 2);
        await WaitForAsync("sum(buildfarm_builds_total)", 2);
        await WaitForAsync("sum(buildfarm_api_publish_duration_seconds_count)", 2);
        var from = new Dictionary<string, DateTimeOffset>
        {
            [WorkerJob] = await LastScrapeAsync(WorkerJob),
            [ApiJob] = await LastScrapeAsync(ApiJob),
        };

        // Measured: builds on both registries, queue waits drawn from a lognormal (median 40 s, p95 95 s: long beside the
        // time a message spends in the in-memory bus), API submits.
        var clock = Stopwatch.StartNew();
        _pods.Measuring = true;
        _publishes.Measuring = true;
        var random = new Random(17);
        var waits = new Dictionary<string, double>(StringComparer.Ordinal);
        for (var i = 0; i < Builds; i++)
        {
            var id = $"acc-{i}";
            var registry = i % 2 == 0 ? FastRegistry : SlowRegistry;
            var wait = Lognormal(random, median: 40, p95: 95);
            waits[id] = wait;
            await workerBus.Publish(Command(id, $"{registry}/team/app{i}:1", TimeSpan.FromSeconds(wait)));
        }
        await Parallel.ForEachAsync(Enumerable.Range(0, Submits), new ParallelOptions { MaxDegreeOfParallelism = 8 },
            async (i, _) => await SubmitAsync(api, $"s{i}"));
        _publishes.Measuring = false;
        await WaitForAsync("sum(buildfarm_builds_total)", Builds + 2);
        await WaitForAsync("sum(buildfarm_api_publish_duration_seconds_count)", 2 + 2 * Submits);
        RunTime = clock.Elapsed;
        Windows = new Dictionary<string, (DateTimeOffset, DateTimeOffset)>
        {
            [WorkerJob] = (from[WorkerJob], await LastScrapeAsync(WorkerJob)),
            [ApiJob] = (from[ApiJob], await LastScrapeAsync(ApiJob)),
        };
        await watchStop.CancelAsync();
        await podWatch;

        // The truth, from the events and the test's own clocks.
        var measured = _succeeded.Values.Where(s => s.BuildId.StartsWith("acc-", StringComparison.Ordinal)).ToList();
        Assert.Equal(Builds, measured.Count);
        Assert.All(measured, s => Assert.Equal(1, s.Attempts));
        foreach (var build in measured)
        {
            var registry = build.Pushed.Single().Split('/')[0];
            foreach (var phase in new[] { "pull", "extract", "build", "push" })
            {
                var seconds = build.PhaseSeconds[phase];
                Add(phase, "", seconds);
                Add(phase, registry, seconds);
            }
            Add("queue_wait", "", waits[build.BuildId]);
            var started = _started[build.BuildId];
            Assert.True(_pods.StartedAt.TryGetValue(started.Pod, out var running), $"the test's pod watch did not see {started.Pod} start");
            Add("pod_startup", "", (running - started.At).TotalSeconds);
        }
        foreach (var latency in _publishes.Latencies)
        {
            Add("publish", "", latency);
        }
        Assert.Equal(2 * Submits, Truth[("publish", "")].Count);
    }

    private void Add(string quantity, string registry, double value)
    {
        if (!Truth.TryGetValue((quantity, registry), out var values))
        {
            Truth[(quantity, registry)] = values = [];
        }
        values.Add(value);
    }

    private async Task<DateTimeOffset> LastScrapeAsync(string job)
    {
        var result = await Prometheus.QueryAsync($"timestamp(up{{job=\"{job}\"}})");
        var seconds = double.Parse(result[0].GetProperty("value")[1].GetString()!, NumberStyles.Float, CultureInfo.InvariantCulture);
        return DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(seconds * 1000));
    }

    private Task WaitForAsync(string expr, int atLeast) =>
        Prometheus.WaitUntilAsync(async () => (await Prometheus.QueryAsync($"{expr} >= {atLeast}")).GetArrayLength() == 1,
            $"Prometheus to see {expr} >= {atLeast}", TimeSpan.FromSeconds(90));

    /// <summary>A lognormal draw given its median and 95th percentile.</summary>
    public static double Lognormal(Random random, double median, double p95)
    {
        var sigma = Math.Log(p95 / median) / 1.6448536269514722;
        // Box-Muller.
        var u1 = 1 - random.NextDouble();
        var u2 = random.NextDouble();
        var z = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        return median * Math.Exp(sigma * z);
    }

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

    private static BuildImage Command(string buildId, string destination, TimeSpan queued) => new()
    {
        BuildId = buildId,
        Spec = new BuildSpec { Context = "s3://ctx-bucket/builds/app.tar.gz", Destinations = [destination] },
        SubmittedAt = DateTimeOffset.UtcNow - queued,
    };

    private static async Task SubmitAsync(HttpClient api, string name)
    {
        var body = "{\"spec\": {\"context\": \"s3://ctx-bucket/builds/api.tar.gz\", \"destinations\": [\"registry.example.com/team/" + name + ":1\"]}}";
        using var response = await api.PostAsync(new Uri("/v1/builds", UriKind.Relative), new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.True((int)response.StatusCode == 202, $"POST /v1/builds answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    private static async Task<WebApplication> StartWorkerAsync(string kubeconfig)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kubernetes:KubeconfigPath"] = kubeconfig,
            ["Kaniko:Namespace"] = Namespace,
            ["Bus:Transport"] = "InMemory",
            ["Worker:Slots"] = "200",
            ["Worker:RegistrySlotLimit"] = "200",
            ["Worker:MaxAttempts"] = "1",
            ["Worker:WaitPollMin"] = "00:00:00.020",
            ["Worker:WaitPollMax"] = "00:00:00.200",
            ["Worker:ShutdownGracePeriod"] = "00:00:00.100",
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
            ["Api:Keys:acc:Key"] = ApiKey,
            ["Api:Keys:acc:Scopes"] = "submit,read",
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

    /// <summary>
    /// The test's own watch on the builds' namespace: the wall time it first saw each pod's container running. With the
    /// worker's BuildStarted.At (taken as the create is answered) that is the pod's start-up; the time the watch saw the
    /// pod appear is no start, as a burst of 200 creates delays the ADDED events more than the later ones.
    /// </summary>
    private sealed class PodStartWatch
    {
        public volatile bool Measuring;

        public ConcurrentDictionary<string, DateTimeOffset> StartedAt { get; } = new(StringComparer.Ordinal);

        public async Task RunAsync(string kubeconfig, string ns, CancellationToken ct)
        {
            using var client = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig));
            try
            {
                await foreach (var (_, pod) in client.CoreV1.WatchListNamespacedPodAsync(ns, cancellationToken: ct))
                {
                    var now = DateTimeOffset.UtcNow;
                    if (Measuring && Started(pod))
                    {
                        StartedAt.TryAdd(pod.Metadata.Name, now);
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // Done.
            }
        }

        private static bool Started(V1Pod pod) =>
            pod.Status?.Phase is "Running" or "Succeeded" or "Failed"
            || pod.Status?.ContainerStatuses?.Any(c => c.State?.Running is not null || c.State?.Terminated is not null) == true;
    }

    /// <summary>Delays each publish of the API's bus by a lognormal draw (median 20 ms, p95 80 ms) and times it.</summary>
    private sealed class DelayingPublishObserver(Random random) : IPublishObserver
    {
        private readonly ConcurrentDictionary<object, long> _started = new(ReferenceEqualityComparer.Instance);
        private readonly ConcurrentQueue<double> _latencies = new();

        public volatile bool Measuring;

        public IReadOnlyCollection<double> Latencies => _latencies;

        public async Task PrePublish<T>(PublishContext<T> context)
            where T : class
        {
            double delay;
            lock (random)
            {
                delay = Lognormal(random, median: 0.02, p95: 0.08);
            }
            if (Measuring)
            {
                _started[context] = Stopwatch.GetTimestamp();
            }
            await Task.Delay(TimeSpan.FromSeconds(delay));
        }

        public Task PostPublish<T>(PublishContext<T> context)
            where T : class
        {
            if (_started.TryRemove(context, out var started))
            {
                _latencies.Enqueue(Stopwatch.GetElapsedTime(started).TotalSeconds);
            }
            return Task.CompletedTask;
        }

        public Task PublishFault<T>(PublishContext<T> context, Exception exception)
            where T : class
        {
            _started.TryRemove(context, out _);
            return Task.CompletedTask;
        }
    }
}
