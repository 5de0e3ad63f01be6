using System.Net;
using BuildFarm.ClusterSim.Hosting;
using BuildFarm.ClusterSim.Scenarios;
using BuildFarm.Worker.Metrics;
using BuildFarm.Api.Hosting;
using BuildFarm.Hosting.Telemetry;
using k8s;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BuildFarm.Cli.Demo;

/// <summary>How to start the demo farm.</summary>
public sealed record DemoFarmOptions
{
    public required Scenario Scenario { get; init; }
    public string? ScenarioYaml { get; init; }
    public long Seed { get; init; } = 1;

    /// <summary>Port of the demo's HTTP server (the API and <c>/metrics</c>); 0 picks a free one.</summary>
    public int Port { get; init; }

    public int Workers { get; init; } = 2;
    public int SlotsPerWorker { get; init; } = 4;

    /// <summary>More API settings on top of <see cref="DemoFarm.ApiSettings"/> (tests: more keys, smaller limits).</summary>
    public IReadOnlyDictionary<string, string?> ExtraApiSettings { get; init; } = new Dictionary<string, string?>();

    /// <summary>An OTLP/HTTP collector to send the farm's traces to (<c>Otel:Endpoint</c>, docs/tracing.md); null: no tracing.</summary>
    public Uri? OtlpEndpoint { get; init; }
}

/// <summary>
/// The whole farm in one process: the cluster simulator (Kestrel, loopback), the demo host (the HTTP API, the
/// MassTransit in-memory bus, the in-process status store with its event projector and batch orchestrator, and
/// <c>/metrics</c>) and the workers (<see cref="DemoWorkerPool"/>). Dispose to stop it all.
/// </summary>
public sealed class DemoFarm : IAsyncDisposable
{
    /// <summary>The namespace the workers create their pods in.</summary>
    public const string Namespace = "buildfarm";

    private readonly WebApplication _app;
    private readonly string _kubeconfigPath;
    private readonly Kubernetes _kubernetes;

    private DemoFarm(ClusterSimulator sim, WebApplication app, DemoWorkerPool workers, Uri address, string apiKey, string kubeconfigPath)
    {
        Sim = sim;
        _app = app;
        Workers = workers;
        Address = address;
        ApiKey = apiKey;
        _kubeconfigPath = kubeconfigPath;
        _kubernetes = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfigPath));
    }

    public ClusterSimulator Sim { get; }
    public DemoWorkerPool Workers { get; }

    /// <summary>The demo host's base address (the API).</summary>
    public Uri Address { get; }

    public Uri MetricsAddress => new(Address, "/metrics");

    /// <summary>The API key generated for this run (every scope).</summary>
    public string ApiKey { get; }

    /// <summary>The demo host's services (the bus, the status store).</summary>
    public IServiceProvider Services => _app.Services;

    public static async Task<DemoFarm> StartAsync(DemoFarmOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions
        {
            Scenario = options.Scenario,
            ScenarioYaml = options.ScenarioYaml,
            Seed = options.Seed,
        }, cancellationToken).ConfigureAwait(false);
        var kubeconfig = Path.Combine(Path.GetTempPath(), $"buildfarm-demo-{Environment.ProcessId}-{Guid.NewGuid():N}.kubeconfig");
        WebApplication? app = null;
        DemoWorkerPool? workers = null;
        try
        {
            sim.WriteKubeconfig(kubeconfig);
            var apiKey = "demo-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
            workers = new DemoWorkerPool(options.Workers, options.SlotsPerWorker);
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
            // Only the demo's own settings: no appsettings.json or environment variables leak in.
            builder.Configuration.Sources.Clear();
            var settings = ApiSettings(apiKey);
            if (options.OtlpEndpoint is { } otlp)
            {
                // One tracer provider in the process: it sees the API's, the bus's and the demo workers' spans.
                settings[BuildFarmTracing.EndpointKey] = otlp.ToString();
            }
            builder.Configuration.AddInMemoryCollection(settings).AddInMemoryCollection(options.ExtraApiSettings);
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k =>
            {
                k.AddServerHeader = false;
                k.Listen(IPAddress.Loopback, options.Port);
            });
            builder.Services.AddSingleton(workers);
            builder.Services.AddSingleton(workers.Logs);
            builder.Services.AddSingleton<BuildFarmMetrics>();
            builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddMeter(BuildFarmMetrics.MeterName));
            // The API host also runs the status projector and the batch orchestrator (Api:HostStatusConsumers, on by default)
            // with the in-process status store (no Status:RedisConnectionString); the workers' queue joins the same bus.
            builder.AddBuildFarmApi(x => x.AddDemoWorkerConsumers(workers.TotalSlots));
            app = builder.Build();
            app.MapBuildFarmApi();
            // Workers first (their pod watches are up before any build), then the host with the bus and the API.
            await workers.StartAsync(kubeconfig, app.Services.GetRequiredService<BuildFarmMetrics>(), null, cancellationToken).ConfigureAwait(false);
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            var address = new Uri($"http://127.0.0.1:{new Uri(bound).Port}/");
            return new DemoFarm(sim, app, workers, address, apiKey, kubeconfig);
        }
        catch
        {
            if (workers is not null)
            {
                await workers.DisposeAsync().ConfigureAwait(false);
            }
            if (app is not null)
            {
                await app.DisposeAsync().ConfigureAwait(false);
            }
            await sim.DisposeAsync().ConfigureAwait(false);
            File.Delete(kubeconfig);
            throw;
        }
    }

    /// <summary>The API host's settings: in-memory bus, one generated key with every scope.</summary>
    public static Dictionary<string, string?> ApiSettings(string apiKey) => new()
    {
        ["Bus:Transport"] = "InMemory",
        ["Api:Keys:demo:Key"] = apiKey,
        // The demo's one key owns tenant "demo" and is an admin: the operator of a demo sees everything.
        ["Api:Keys:demo:Scopes"] = "submit,read,cancel,admin",
        ["Api:Keys:demo:Tenant"] = "demo",
        ["Api:SseHeartbeat"] = "00:00:02",
    };

    /// <summary>The farm's pods still in the cluster (any phase).</summary>
    public async Task<IReadOnlyList<string>> PodsAsync(CancellationToken cancellationToken)
    {
        var list = await _kubernetes.CoreV1.ListNamespacedPodAsync(Namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
        return [.. list.Items.Select(p => p.Metadata.Name).Order(StringComparer.Ordinal)];
    }

    /// <summary>Waits until the cluster has no pods of the farm or <paramref name="timeout"/> passes; returns those left.</summary>
    public async Task<IReadOnlyList<string>> WaitForNoPodsAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var until = DateTimeOffset.UtcNow + timeout;
        while (true)
        {
            var pods = await PodsAsync(cancellationToken).ConfigureAwait(false);
            if (pods.Count == 0 || DateTimeOffset.UtcNow >= until)
            {
                return pods;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        // The bus first (no new deliveries), then the workers.
        using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await _app.StopAsync(stop.Token).ConfigureAwait(false);
        }
        await Workers.DisposeAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _kubernetes.Dispose();
        await Sim.DisposeAsync().ConfigureAwait(false);
        File.Delete(_kubeconfigPath);
    }
}
