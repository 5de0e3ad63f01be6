using BuildFarm.Coordination;
using BuildFarm.Coordination.InMemory;
using BuildFarm.Coordination.Adaptive;
using BuildFarm.Coordination.Logs;
using BuildFarm.Coordination.Redis;
using BuildFarm.Coordination.Scheduling;
using BuildFarm.Hosting;
using BuildFarm.Kaniko.Pods;
using BuildFarm.Messaging;
using BuildFarm.Messaging.Hosting;
using BuildFarm.Registry;
using BuildFarm.Worker.Builds;
using BuildFarm.Worker.Messaging;
using BuildFarm.Worker.Metrics;
using BuildFarm.Worker.Options;
using BuildFarm.Worker.Pods;
using BuildFarm.Worker.Resilience;
using BuildFarm.Worker.Scheduling;
using k8s;
using MassTransit;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace BuildFarm.Worker.Hosting;

/// <summary>The worker's composition: options, coordination, Kubernetes, the runner, MassTransit and metrics.</summary>
public static class WorkerServiceCollectionExtensions
{
    /// <summary>The configuration sections the worker reads (the start-up check warns about sections no host reads). The
    /// worker process refuses to start with <c>Scheduling:Admission</c> on and no Redis
    /// (<see cref="AdmissionOptions.SharedStoreProblem(Func{string, string?})"/>).</summary>
    public static readonly HostSettings ConfigurationSettings = new(
        [WorkerOptions.SectionName, KanikoPodOptions.SectionName, BusOptions.SectionName, RedisOptions.SectionName, KubernetesOptions.SectionName,
            RegistrySectionName, BuildLogOptions.SectionName, AdmissionOptions.SectionName],
        new Dictionary<string, string>(),
        [configuration => AdmissionOptions.SharedStoreProblem(key => configuration[key])]);

    /// <summary>The section of the registry client the worker pushes image indexes with (<see cref="RegistryClientOptions"/>).</summary>
    public const string RegistrySectionName = "Registry";

    /// <summary>The worker's <c>service.name</c> on its metrics and spans.</summary>
    public const string ServiceName = "buildfarm-worker";

    /// <summary>Everything the worker needs, with the transport named by the <c>Bus</c> section (read at registration,
    /// because MassTransit fixes the transport then).</summary>
    public static IHostApplicationBuilder AddBuildFarmWorker(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        // Redis connections, health checks, OpenTelemetry (resource, Prometheus, traces when Otel:Endpoint is set).
        builder.AddBuildFarmDefaults(ServiceName);
        builder.Services.AddBuildFarmWorkerCore();
        // MassTransit's broker outages and handed-back messages as one line each, without a stack trace.
        builder.Services.AddBuildFarmOperatorLogging();
        var bus = builder.Configuration.GetBusOptions();
        builder.Services.AddMassTransit(x =>
        {
            x.AddBuildFarmConsumers();
            // The broker's health is part of /readyz, as in the API.
            x.ConfigureHealthCheckOptions(h =>
            {
                h.Name = "bus";
                h.Tags.Add(HostingDefaults.ReadyTag);
            });
            x.UsingBuildFarmTransport(bus);
        });
        return builder;
    }

    /// <summary>The worker's consumers: BuildImage on a shared queue, CancelBuild on a per-instance temporary one.</summary>
    public static void AddBuildFarmConsumers(this IBusRegistrationConfigurator bus)
    {
        ArgumentNullException.ThrowIfNull(bus);
        bus.AddConsumer<BuildImageConsumer, BuildImageConsumerDefinition>();
        // Recording the cancel marker needs Redis: retry a while rather than lose the cancel.
        bus.AddConsumer<CancelBuildConsumer>((_, c) => c.UseMessageRetry(r =>
        {
            r.Exponential(10, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(1));
            r.Handle<RedisException>();
        })).Endpoint(e =>
        {
            // One queue per worker instance, deleted when it stops: every worker sees every CancelBuild.
            e.Name = $"buildfarm-cancel-{Guid.NewGuid():N}";
            e.Temporary = true;
        });
    }

    /// <summary>Everything but the bus: options (validated at start), coordination, Kubernetes, the pod watcher, the runner,
    /// health checks and metrics. Tests add the bus with the MassTransit test harness and <see cref="AddBuildFarmConsumers"/>.</summary>
    public static IServiceCollection AddBuildFarmWorkerCore(this IServiceCollection services)
    {
        services.AddBuildFarmDefaults(ServiceName);
        services.AddValidatedSection<WorkerOptions>(WorkerOptions.SectionName, o => o.Validate());
        services.AddValidatedSection<KanikoPodOptions>(KanikoPodOptions.SectionName, SectionValidators.Kaniko);
        services.AddValidatedSection<BusOptions>(BusOptions.SectionName, o => o.Validate());
        services.AddValidatedSection<RedisOptions>(RedisOptions.SectionName, o => o.Validate());
        services.AddValidatedSection<KubernetesOptions>(KubernetesOptions.SectionName, o => o.Validate());
        services.AddValidatedSection<RegistryClientOptions>(RegistrySectionName, o => o.Validate());
        services.AddValidatedSection<AdmissionOptions>(AdmissionOptions.SectionName, o => o.Validate());

        // Stopping: MassTransit waits ShutdownGracePeriod, then cancels ConsumeContext.CancellationToken; the runner then
        // leaves the pod and leases alone and the unacknowledged message goes back to the queue.
        services.AddOptions<MassTransitHostOptions>().Configure<IOptions<WorkerOptions>>((host, worker) =>
        {
            host.WaitUntilStarted = true;
            host.ConsumerStopTimeout = worker.Value.ShutdownGracePeriod;
        });
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<BuildFarmMetrics>();
        services.AddBuildFarmCoordination();
        services.AddBuildFarmLogStore();
        services.AddBuildFarmKubernetes();
        services.AddSingleton<PodWatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<PodWatcher>());
        services.AddSingleton<RegistryLimitFeedback>();
        services.AddHostedService(sp => sp.GetRequiredService<RegistryLimitFeedback>());
        services.AddValidatedSection<ImageDurationOptions>(ImageDurationOptions.SectionName, o => o.Validate());
        services.AddSingleton<ImageDurationFeedback>();
        services.AddHostedService(sp => sp.GetRequiredService<ImageDurationFeedback>());
        // Admission (Scheduling:Admission, docs/scheduling.md): this worker's slots offered, ready builds released in the
        // policy's order (Scheduling:Policy) unless a host registered another policy first.
        services.AddValidatedSection<FairShareOptions>(FairShareOptions.SectionName, o => o.Validate());
        services.TryAddSingleton<ISchedulingPolicy>(sp => sp.GetRequiredService<IOptions<AdmissionOptions>>().Value.Policy == SchedulingPolicyKind.Fifo
            ? new FifoSchedulingPolicy()
            : new WeightedFairSchedulingPolicy(sp.GetRequiredService<IOptions<FairShareOptions>>().Value));
        services.AddSingleton<AdmissionDispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<AdmissionDispatcher>());
        services.AddSingleton<CoordinationGate>();
        services.AddHostedService(sp => sp.GetRequiredService<CoordinationGate>());
        services.AddSingleton<RunningBuilds>();
        services.AddWorkerPipelines();
        services.AddSingleton<AttemptPods>();
        services.AddSingleton<AttemptLogStreamer>();
        services.AddSingleton<AttemptLogs>();
        services.AddSingleton<LeaseScopes>();
        services.AddSingleton<BuildEvents>();
        services.AddSingleton<BuildRunner>();
        // Multi-platform builds: the index push (docs/multi-platform.md), its resets counted with phase "index".
        services.AddBuildFarmRegistryClient();
        services.AddSingleton<IRegistryResetObserver, RegistryResetMetrics>();
        services.AddSingleton<IndexPublisher>();

        services.AddHealthChecks().AddCheck<RedisHealthCheck>("redis", tags: [HostingDefaults.ReadyTag]);
        services.AddOpenTelemetry().WithMetrics(m => m.AddMeter(BuildFarmMetrics.MeterName, "Polly"));
        return services;
    }

    private static void AddBuildFarmCoordination(this IServiceCollection services)
    {
        // The process's one multiplexer for Redis:ConnectionString, shared with the status store and the scheduler when a
        // host runs them too (closing it twice, here and by RedisConnections, is harmless).
        services.AddSingleton<IConnectionMultiplexer>(sp =>
            sp.GetRequiredService<RedisConnections>().Get(sp.GetRequiredService<IOptions<RedisOptions>>().Value.ConnectionString!));
        services.AddSingleton(sp => new RedisKeys(sp.GetRequiredService<IOptions<RedisOptions>>().Value.KeyPrefix));
        services.AddSingleton<IBuildDedupe>(sp => UseRedis(sp)
            ? new RedisBuildDedupe(sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<RedisKeys>())
            : new InMemoryBuildDedupe(sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IDestinationLocks>(sp => UseRedis(sp)
            ? new RedisDestinationLocks(sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<RedisKeys>())
            : new InMemoryDestinationLocks(sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IRegistrySlots>(sp => new MeteredRegistrySlots(UseRedis(sp)
            ? new RedisRegistrySlots(sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<RedisKeys>())
            : new InMemoryRegistrySlots(sp.GetRequiredService<TimeProvider>()), sp.GetRequiredService<BuildFarmMetrics>()));
        services.AddSingleton<IRegistryLimits>(sp => UseRedis(sp)
            ? new RedisRegistryLimits(sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<RedisKeys>(), sp.GetRequiredService<TimeProvider>())
            : new InMemoryRegistryLimits(sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<IImageDurations>(sp => UseRedis(sp)
            ? new RedisImageDurations(sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<RedisKeys>(),
                sp.GetRequiredService<IOptions<ImageDurationOptions>>().Value)
            : new InMemoryImageDurations(sp.GetRequiredService<IOptions<ImageDurationOptions>>().Value, sp.GetRequiredService<TimeProvider>()));
        // Registered only when no store is yet: `buildfarm demo` shares the API's.
        services.TryAddSingleton<IAdmissionStore>(sp => UseRedis(sp)
            ? new RedisAdmissionStore(sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<RedisKeys>())
            : new InMemoryAdmissionStore(sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<ICancelRequests>(sp => UseRedis(sp)
            ? new RedisCancelRequests(sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<RedisKeys>())
            : new InMemoryCancelRequests(sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IMemoryHistory>(sp => UseRedis(sp)
            ? new RedisMemoryHistory(sp.GetRequiredService<IConnectionMultiplexer>(), sp.GetRequiredService<RedisKeys>())
            : new InMemoryMemoryHistory(sp.GetRequiredService<TimeProvider>()));
    }

    /// <summary>The log store (the <c>Logs</c> section): in Redis with the coordination's connection, else in process
    /// (registered only when no store is yet: <c>buildfarm demo</c> shares one with its API).</summary>
    private static void AddBuildFarmLogStore(this IServiceCollection services)
    {
        services.AddValidatedSection<BuildLogOptions>(BuildLogOptions.SectionName, o => o.Validate());
        services.TryAddSingleton<IBuildLogStore>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<BuildLogOptions>>().Value;
            return UseRedis(sp)
                ? options.WithArchive(new RedisBuildLogStore(sp.GetRequiredService<IConnectionMultiplexer>(), options.KeyPrefix, options.Ttl))
                : options.WithArchive(new InMemoryBuildLogStore(sp.GetRequiredService<TimeProvider>(), options.Ttl));
        });
    }

    private static bool UseRedis(IServiceProvider sp) => sp.GetRequiredService<IOptions<RedisOptions>>().Value.UseRedis;

    private static void AddBuildFarmKubernetes(this IServiceCollection services)
    {
        services.AddTransient<KubeApiMetricsHandler>();
        services.AddTransient<KubeApiResilienceHandler>();
        services.AddSingleton<IKubernetes>(sp =>
        {
            // No usable configuration stops the host with one line naming the setting (OptionsValidationException).
            var config = KubernetesConfigSource.Load(sp.GetRequiredService<IOptions<KubernetesOptions>>().Value);
            // Retries outside, metrics inside: every request that reaches the server is counted, retries included. The
            // body is read innermost, so a body cut short counts as an error and is retried like a failed request.
            return new Kubernetes(config, sp.GetRequiredService<KubeApiResilienceHandler>(), sp.GetRequiredService<KubeApiMetricsHandler>(),
                new KubeApiBufferingHandler());
        });
    }

    /// <summary>Ready only while the coordination gate is open (Redis answers, when configured): without locks the worker must not build.</summary>
    private sealed class RedisHealthCheck(CoordinationGate gate, IOptions<RedisOptions> options) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            if (!options.Value.UseRedis)
            {
                return Task.FromResult(HealthCheckResult.Healthy("in-process coordination"));
            }
            return Task.FromResult(gate.IsOpen ? HealthCheckResult.Healthy("redis answers") : HealthCheckResult.Unhealthy(gate.LastError));
        }
    }
}
