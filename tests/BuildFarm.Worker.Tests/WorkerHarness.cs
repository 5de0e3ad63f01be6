using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;
using BuildFarm.ClusterSim.Hosting;
using BuildFarm.ClusterSim.Scenarios;
using BuildFarm.Contracts;
using BuildFarm.Worker.Hosting;
using k8s;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BuildFarm.Worker.Tests;

/// <summary>
/// A worker composed as in production (AddBuildFarmWorkerCore) against the cluster simulator in process, with
/// in-memory coordination and the MassTransit in-memory test harness. Every event the worker publishes is recorded.
/// </summary>
internal sealed class WorkerHarness : IAsyncDisposable
{
    /// <summary>A fast scenario: a typical build takes well under a second of wall time.</summary>
    public static readonly string FastYaml = ScenarioLoader.FastYaml() + "capacity: { nodes: 4, podsPerNode: 10 }\n";

    public const string Namespace = "buildfarm";

    private readonly string _kubeconfig;
    private readonly bool _ownsSim;

    private WorkerHarness(ClusterSimulator sim, bool ownsSim, IHost host, string kubeconfig)
    {
        Sim = sim;
        _ownsSim = ownsSim;
        Host = host;
        _kubeconfig = kubeconfig;
        Bus = host.Services.GetRequiredService<ITestHarness>();
        Events = host.Services.GetRequiredService<EventRecorder>();
        Kubernetes = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig));
    }

    public ClusterSimulator Sim { get; }
    public IHost Host { get; }
    public ITestHarness Bus { get; }
    public EventRecorder Events { get; }

    /// <summary>A client of its own (not the worker's), for test set-up and checks.</summary>
    public Kubernetes Kubernetes { get; }

    public static Scenario Scenario(string extraYaml = "") => ScenarioLoader.Parse(FastYaml + "\n" + extraYaml, "worker test scenario");

    /// <summary>Starts a worker, on a new simulator or on <paramref name="sharedSim"/> (a second worker of the same cluster).</summary>
    public static async Task<WorkerHarness> StartAsync(string scenarioYaml = "", IDictionary<string, string?>? settings = null, ClusterSimulator? sharedSim = null,
        Action<IServiceCollection>? configure = null)
    {
        var sim = sharedSim ?? await ClusterSimulator.StartAsync(new ClusterSimulatorOptions { Scenario = Scenario(scenarioYaml), Seed = 7 });
        var kubeconfig = Path.Combine(Path.GetTempPath(), $"worker-test-{Guid.NewGuid():N}.kubeconfig");
        sim.WriteKubeconfig(kubeconfig);
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(Settings(kubeconfig, settings));
        builder.Services.AddBuildFarmWorkerCore();
        builder.Services.AddSingleton<EventRecorder>();
        configure?.Invoke(builder.Services);
        builder.Services.AddMassTransitTestHarness(x =>
        {
            x.AddBuildFarmConsumers();
            x.AddConsumer<EventRecorderConsumer>();
            x.SetTestTimeouts(testTimeout: TimeSpan.FromMinutes(2), testInactivityTimeout: TimeSpan.FromMinutes(2));
        });
        var host = builder.Build();
        await host.StartAsync();
        return new WorkerHarness(sim, sharedSim is null, host, kubeconfig);
    }

    /// <summary>Worker settings for tests: fast backoff and polling; <paramref name="overrides"/> win.</summary>
    public static Dictionary<string, string?> Settings(string kubeconfig, IDictionary<string, string?>? overrides = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Kubernetes:KubeconfigPath"] = kubeconfig,
            ["Kaniko:Namespace"] = Namespace,
            ["Worker:Slots"] = "8",
            ["Worker:BackoffBase"] = "00:00:00.050",
            ["Worker:MaxBackoff"] = "00:00:00.200",
            ["Worker:WaitPollMin"] = "00:00:00.020",
            ["Worker:WaitPollMax"] = "00:00:00.200",
            ["Worker:LeaseTtl"] = "00:00:10",
            ["Worker:LeaseRenewInterval"] = "00:00:02",
            ["Worker:ShutdownGracePeriod"] = "00:00:00.100",
        };
        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }
        return settings;
    }

    public static BuildSpec Spec(string destination = "registry.example.com/team/app:1") => new()
    {
        Context = "s3://ctx-bucket/builds/app.tar.gz",
        Destinations = [destination],
    };

    public static BuildImage Command(string buildId, BuildSpec? spec = null) => new()
    {
        BuildId = buildId,
        Spec = spec ?? Spec($"registry.example.com/team/{buildId}:1"),
        SubmittedAt = DateTimeOffset.UtcNow,
    };

    public Task PublishAsync<T>(T message)
        where T : class => Bus.Bus.Publish(message);

    /// <summary>The simulator's pod history (every pod ever created, with outcome).</summary>
    public async Task<SimStatsSnapshot> StatsAsync()
    {
        using var http = new HttpClient();
        return (await http.GetFromJsonAsync<SimStatsSnapshot>(new Uri(Sim.Address, "/_sim/stats"), new JsonSerializerOptions(JsonSerializerDefaults.Web)))!;
    }

    public async Task<IReadOnlyList<string>> PodsOfAsync(string buildId) =>
        [.. (await StatsAsync()).Pods.Where(p => p.Name.StartsWith($"bf-{buildId}-", StringComparison.Ordinal)).Select(p => p.Name).Order(StringComparer.Ordinal)];

    /// <summary>True once the pod is gone from the API (deleted, grace period over).</summary>
    public async Task<bool> PodGoneAsync(string name)
    {
        var list = await Kubernetes.CoreV1.ListNamespacedPodAsync(Namespace, fieldSelector: $"metadata.name={name}");
        return list.Items.Count == 0;
    }

    public async ValueTask DisposeAsync()
    {
        // Bounded: a stop that hangs fails the test that owns the harness instead of hanging the whole run.
        using (var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            await Host.StopAsync(stopping.Token).WaitAsync(TimeSpan.FromSeconds(60));
        }
        Host.Dispose();
        Kubernetes.Dispose();
        if (_ownsSim)
        {
            await Sim.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(60));
        }
        File.Delete(_kubeconfig);
    }
}

/// <summary>Every build event the worker published, in order.</summary>
internal sealed class EventRecorder
{
    private readonly ConcurrentQueue<object> _events = new();

    public void Add(object message) => _events.Enqueue(message);

    public IReadOnlyList<T> Of<T>(string buildId)
        where T : class => [.. _events.OfType<T>().Where(e => BuildIdOf(e) == buildId)];

    public IReadOnlyList<object> For(string buildId) => [.. _events.Where(e => BuildIdOf(e) == buildId)];

    /// <summary>Every event recorded, in order.</summary>
    public IReadOnlyList<object> All() => [.. _events];

    /// <summary>Waits for the first event of type <typeparamref name="T"/> for the build.</summary>
    public async Task<T> WaitAsync<T>(string buildId, double seconds = 30)
        where T : class
    {
        await Eventually.UntilAsync(() => Task.FromResult(Of<T>(buildId).Count > 0),
            $"{typeof(T).Name} for {buildId}; events so far: {string.Join(", ", For(buildId).Select(e => e.GetType().Name))}", TimeSpan.FromSeconds(seconds));
        return Of<T>(buildId)[0];
    }

    /// <summary>Waits for the build's terminal event (succeeded, failed or cancelled).</summary>
    public async Task<object> WaitEndAsync(string buildId, double seconds = 30)
    {
        await Eventually.UntilAsync(() => Task.FromResult(For(buildId).Any(IsTerminal)),
            $"the end of {buildId}; events so far: {string.Join(", ", For(buildId).Select(e => e.GetType().Name))}", TimeSpan.FromSeconds(seconds));
        return For(buildId).First(IsTerminal);
    }

    private static bool IsTerminal(object e) => e is BuildSucceeded or BuildFailed or BuildCancelled;

    private static string? BuildIdOf(object e) => e switch
    {
        BuildStarted s => s.BuildId,
        BuildAttemptFailed a => a.BuildId,
        BuildSucceeded s => s.BuildId,
        BuildFailed f => f.BuildId,
        BuildCancelled c => c.BuildId,
        BuildDeduplicated d => d.BuildId,
        _ => null,
    };
}

internal sealed class EventRecorderConsumer(EventRecorder recorder) :
    IConsumer<BuildStarted>, IConsumer<BuildAttemptFailed>, IConsumer<BuildSucceeded>, IConsumer<BuildFailed>, IConsumer<BuildCancelled>,
    IConsumer<BuildDeduplicated>
{
    public Task Consume(ConsumeContext<BuildStarted> context) => Record(context.Message);
    public Task Consume(ConsumeContext<BuildAttemptFailed> context) => Record(context.Message);
    public Task Consume(ConsumeContext<BuildSucceeded> context) => Record(context.Message);
    public Task Consume(ConsumeContext<BuildFailed> context) => Record(context.Message);
    public Task Consume(ConsumeContext<BuildCancelled> context) => Record(context.Message);
    public Task Consume(ConsumeContext<BuildDeduplicated> context) => Record(context.Message);

    private Task Record(object message)
    {
        recorder.Add(message);
        return Task.CompletedTask;
    }
}
