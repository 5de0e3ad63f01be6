using BuildFarm.Coordination.Redis;
using BuildFarm.Coordination.Scheduling;
using BuildFarm.Hosting;
using BuildFarm.Status.Batches;
using BuildFarm.Status.Messaging;
using BuildFarm.Status.Scheduling;
using BuildFarm.Status.Stores;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace BuildFarm.Status.Hosting;

/// <summary>Registration of the status store and the status consumers (the API host and <c>buildfarm demo</c> host them).</summary>
public static class StatusServiceCollectionExtensions
{
    /// <summary>
    /// The event projector (queue <c>buildfarm-status</c>) and the batch orchestrator (queue <c>buildfarm-batches</c>).
    /// Both need an <see cref="IBuildStatusStore"/> (<see cref="AddBuildFarmStatusStore(IServiceCollection)"/>).
    /// </summary>
    public static IBusRegistrationConfigurator AddBuildFarmStatusConsumers(this IBusRegistrationConfigurator bus)
    {
        ArgumentNullException.ThrowIfNull(bus);
        bus.AddConsumer<BuildStatusProjector, BuildStatusProjectorDefinition>();
        bus.AddConsumer<BatchOrchestrator, BatchOrchestratorDefinition>();
        return bus;
    }

    /// <summary>The status store, configured from the <c>Status</c> section (validated at start).</summary>
    public static IServiceCollection AddBuildFarmStatusStore(this IServiceCollection services) =>
        services.AddBuildFarmStatusStore(_ => { });

    /// <summary>
    /// The status store and the idempotency store (<see cref="IIdempotencyStore"/>, same backend and key prefix): Redis when <see cref="BuildStatusStoreOptions.RedisConnectionString"/> is set (the
    /// process's shared connection), else in process. Options bind the <c>Status</c> section, then <c>Redis:ConnectionString</c> (when set)
    /// gives the connection string, then <paramref name="configure"/> runs.
    /// </summary>
    public static IServiceCollection AddBuildFarmStatusStore(this IServiceCollection services, Action<BuildStatusStoreOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<BuildStatusStoreOptions>().BindConfiguration(BuildStatusStoreOptions.SectionName)
            .Configure<IConfiguration>((o, configuration) =>
            {
                // Redis:ConnectionString is the one Redis setting of every host; Status:RedisConnectionString is its old name.
                if (configuration[BuildStatusStoreOptions.SharedRedisSetting] is { } shared && !string.IsNullOrWhiteSpace(shared))
                {
                    o.RedisConnectionString = shared;
                }
            })
            .Configure(configure).ValidateOnStart();
        services.AddSingleton<IValidateOptions<BuildStatusStoreOptions>>(new SectionValidator<BuildStatusStoreOptions>(o => o.Validate()));
        services.TryAddSingleton(TimeProvider.System);
        services.AddBuildFarmRedisConnections();
        // How the batch orchestrator (and the API) hand over ready builds: published, or queued for admission.
        services.AddBuildFarmBuildDispatch();
        services.TryAddSingleton<IBuildStatusStore>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<BuildStatusStoreOptions>>().Value;
            var time = sp.GetRequiredService<TimeProvider>();
            return options.UseRedis
                ? new RedisBuildStatusStore(Redis(sp, options), options.KeyPrefix, options.RecordTtl, time)
                : new InMemoryBuildStatusStore(time, options.RecordTtl);
        });
        // The images' expected durations the batch orchestrator reads: under the workers' key prefix (Redis:KeyPrefix),
        // where they write them.
        services.AddValidatedSection<ImageDurationOptions>(ImageDurationOptions.SectionName, o => o.Validate());
        services.TryAddSingleton<IImageDurations>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<BuildStatusStoreOptions>>().Value;
            var durations = sp.GetRequiredService<IOptions<ImageDurationOptions>>().Value;
            var prefix = sp.GetRequiredService<IConfiguration>()["Redis:KeyPrefix"] is { Length: > 0 } p ? p : "buildfarm:";
            return options.UseRedis
                ? new RedisImageDurations(Redis(sp, options), new RedisKeys(prefix), durations)
                : new InMemoryImageDurations(durations, sp.GetRequiredService<TimeProvider>());
        });
        services.TryAddSingleton<IIdempotencyStore>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<BuildStatusStoreOptions>>().Value;
            return options.UseRedis
                ? new RedisIdempotencyStore(Redis(sp, options), options.KeyPrefix)
                : new InMemoryIdempotencyStore(sp.GetRequiredService<TimeProvider>());
        });
        return services;
    }

    /// <summary>The process's shared multiplexer for the store's connection string.</summary>
    private static IConnectionMultiplexer Redis(IServiceProvider sp, BuildStatusStoreOptions options) =>
        sp.GetRequiredService<RedisConnections>().Get(options.RedisConnectionString!);
}
