using BuildFarm.Api.Auth;
using BuildFarm.Api.Events;
using BuildFarm.Api.Metrics;
using BuildFarm.Api.OpenApi;
using BuildFarm.Api.Options;
using BuildFarm.Api.Submissions;
using BuildFarm.Hosting;
using BuildFarm.Coordination.Logs;
using BuildFarm.Coordination.Scheduling;
using BuildFarm.Manifests.Hosting;
using BuildFarm.Manifests.Scheduling;
using BuildFarm.Messaging;
using BuildFarm.Messaging.Hosting;
using BuildFarm.Status;
using BuildFarm.Status.Hosting;
using BuildFarm.Status.Stores;
using MassTransit;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace BuildFarm.Api.Hosting;

/// <summary>The API host's composition: options, API keys, the status store, the bus, OpenAPI, health and metrics.</summary>
public static class ApiServiceCollectionExtensions
{
    /// <summary>The configuration sections the API reads, and the Redis settings' old names (still honoured, with a
    /// warning at start): <c>Redis:ConnectionString</c> is the one Redis setting of every host. The API process refuses to
    /// start with <c>Scheduling:Admission</c> on and no Redis (<see cref="AdmissionOptions.SharedStoreProblem(Func{string, string?})"/>).</summary>
    public static readonly HostSettings ConfigurationSettings = new(
        [ApiOptions.SectionName, BusOptions.SectionName, "Redis", BuildStatusStoreOptions.SectionName, ManifestSchedulerOptions.SectionName, BuildLogOptions.SectionName,
            AdmissionOptions.SectionName],
        new Dictionary<string, string>
        {
            [$"{BuildStatusStoreOptions.SectionName}:RedisConnectionString"] = BuildStatusStoreOptions.SharedRedisSetting,
            [$"{ManifestSchedulerOptions.SectionName}:RedisConnectionString"] = ManifestSchedulerOptions.SharedRedisSetting,
        },
        [configuration => AdmissionOptions.SharedStoreProblem(key => configuration[key])]);

    /// <summary>
    /// Everything the API needs, with the bus named by the <c>Bus</c> section (InMemory or RabbitMq, read now because
    /// MassTransit fixes the transport at registration). <paramref name="configureBus"/> adds more consumers to the same
    /// bus (e.g. <c>buildfarm demo</c> adds the worker's); the status projector and batch orchestrator are added unless
    /// <c>Api:HostStatusConsumers</c> is false (they then run elsewhere, e.g. another API deployment).
    /// </summary>
    public static IHostApplicationBuilder AddBuildFarmApi(this IHostApplicationBuilder builder, Action<IBusRegistrationConfigurator>? configureBus = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        // Redis connections, health checks, OpenTelemetry (resource, Prometheus, traces when Otel:Endpoint is set).
        builder.AddBuildFarmDefaults(ServiceName);
        builder.Services.AddBuildFarmApiCore();
        // MassTransit's broker outages and handed-back messages as one line each, without a stack trace.
        builder.Services.AddBuildFarmOperatorLogging();
        // Scheduled manifest rebuilds, when the Scheduler section says Enabled: true (publishes SubmitBatch on this bus).
        builder.AddBuildFarmScheduler();
        var bus = builder.Configuration.GetBusOptions();
        var api = builder.Configuration.GetSection(ApiOptions.SectionName).Get<ApiOptions>() ?? new ApiOptions();
        builder.Services.AddMassTransit(x =>
        {
            if (api.HostStatusConsumers)
            {
                x.AddBuildFarmApiConsumers();
            }
            configureBus?.Invoke(x);
            x.ConfigureHealthCheckOptions(h =>
            {
                h.Name = "bus";
                h.Tags.Add(ReadyTag);
            });
            x.UsingBuildFarmTransport(bus);
        });
        // The in-memory bus starts at once: wait for it, so that a host stopped right after starting never stops a bus
        // half started. RabbitMQ is not waited for: the API starts (and /readyz says 503) while the broker is down.
        builder.Services.AddOptions<MassTransitHostOptions>().Configure(o => o.WaitUntilStarted = bus.Transport == BusTransport.InMemory);
        return builder;
    }

    /// <summary>The consumers an API host runs besides serving HTTP: the status projector (farm events → records) and the
    /// batch orchestrator (SubmitBatch → BuildImage in dependency order), from BuildFarm.Status.</summary>
    public static void AddBuildFarmApiConsumers(this IBusRegistrationConfigurator bus)
    {
        ArgumentNullException.ThrowIfNull(bus);
        bus.AddBuildFarmStatusConsumers();
    }

    /// <summary>Everything but the bus. Tests and hosts that compose their own MassTransit bus call this and
    /// <see cref="AddBuildFarmApiConsumers"/>.</summary>
    public static IServiceCollection AddBuildFarmApiCore(this IServiceCollection services)
    {
        services.AddBuildFarmDefaults(ServiceName);
        services.AddValidatedSection<ApiOptions>(ApiOptions.SectionName, o => o.Validate());
        services.AddValidatedSection<BusOptions>(BusOptions.SectionName, o => o.Validate());
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<ApiMetrics>();
        // Redis when Redis:ConnectionString is set (several API replicas share it), else in process (one host).
        services.AddBuildFarmStatusStore();
        services.AddBuildFarmLogReader();
        services.AddSingleton(sp => ApiKeyRing.Load(sp.GetRequiredService<IConfiguration>(), sp.GetRequiredService<IOptions<ApiOptions>>().Value));
        // Loads the keys when the host starts, among the settings checked then: a key the API cannot use is a configuration
        // problem (one line, exit code 2), not an exception at the first request.
        services.AddOptions<ApiKeysChecked>().Configure<ApiKeyRing>((_, _) => { }).ValidateOnStart();
        services.AddSingleton<Submitter>();
        services.AddSingleton<EventStreams>();

        // Routing answers a Content-Type that a route does not accept with an empty 415 before the route runs; the
        // problem then says what was sent and what the route takes.
        services.AddProblemDetails(o => o.CustomizeProblemDetails = c =>
        {
            if (c.ProblemDetails.Status == StatusCodes.Status415UnsupportedMediaType && c.ProblemDetails.Detail is null)
            {
                c.ProblemDetails.Detail = RequestChecks.UnsupportedMediaTypeDetail(c.HttpContext.Request);
            }
        });
        services.ConfigureHttpJsonOptions(o => BuildFarmJson.Configure(o.SerializerOptions));
        // The document is the contract generated clients are made from: BuildFarm.Api.OpenApi makes it say what the API does.
        services.AddOpenApi(o =>
        {
            o.AddDocumentTransformer<ApiDocumentTransformer>();
            o.AddOperationTransformer<ApiOperationTransformer>();
            o.AddSchemaTransformer<ApiSchemaTransformer>();
        });

        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        var policies = services.AddAuthorizationBuilder();
        foreach (var scope in ApiScopes.All)
        {
            policies.AddPolicy(scope, p => p.RequireAuthenticatedUser().RequireClaim(ApiScopes.ClaimType, scope));
        }

        services.AddHealthChecks().AddCheck<StoreHealthCheck>("store", tags: [ReadyTag]);
        services.AddOpenTelemetry().WithMetrics(m => m.AddMeter(ApiMetrics.MeterName, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel"));
        return services;
    }

    /// <summary>Health checks with this tag make up <c>/readyz</c>.</summary>
    public const string ReadyTag = HostingDefaults.ReadyTag;

    /// <summary>The API's <c>service.name</c> on its metrics and spans.</summary>
    public const string ServiceName = "buildfarm-api";

    /// <summary>The log store the workers write (<c>Logs</c> section): in Redis when <c>Redis:ConnectionString</c> is set
    /// (the process's one multiplexer for it, <see cref="RedisConnections"/>), else in process (registered only when no
    /// store is yet: <c>buildfarm demo</c> shares one with its workers).</summary>
    private static void AddBuildFarmLogReader(this IServiceCollection services)
    {
        services.AddValidatedSection<BuildLogOptions>(BuildLogOptions.SectionName, o => o.Validate());
        services.TryAddSingleton<IBuildLogStore>(sp =>
        {
            var logs = sp.GetRequiredService<IOptions<BuildLogOptions>>().Value;
            var store = sp.GetRequiredService<IOptions<BuildStatusStoreOptions>>().Value;
            return store.UseRedis
                ? logs.WithArchive(new RedisBuildLogStore(sp.GetRequiredService<RedisConnections>().Get(store.RedisConnectionString!), logs.KeyPrefix, logs.Ttl))
                : logs.WithArchive(new InMemoryBuildLogStore(sp.GetRequiredService<TimeProvider>(), logs.Ttl));
        });
    }

    /// <summary>Ready while the status store answers a read within 2 s.</summary>
    private sealed class StoreHealthCheck(IBuildStatusStore store) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            try
            {
                await store.GetBuildAsync("readyz-probe", timeout.Token);
                return HealthCheckResult.Healthy("status store answers");
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                return HealthCheckResult.Unhealthy("status store unreachable: " + e.Message);
            }
        }
    }
}
