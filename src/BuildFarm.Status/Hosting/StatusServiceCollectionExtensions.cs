using BuildFarm.Status.Batches;
using BuildFarm.Status.Messaging;
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
    /// The status store and the idempotency store (<see cref="IIdempotencyStore"/>, same backend and key prefix): Redis when <see cref="BuildStatusStoreOptions.RedisConnectionString"/> is set (its own
    /// connection), else in process. Options bind the <c>Status</c> section, then <c>Redis:ConnectionString</c> (when set)
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
        services.AddSingleton<IValidateOptions<BuildStatusStoreOptions>, StatusOptionsValidator>();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<StatusRedisConnection>();
        services.TryAddSingleton<IBuildStatusStore>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<BuildStatusStoreOptions>>().Value;
            var time = sp.GetRequiredService<TimeProvider>();
            return options.UseRedis
                ? new RedisBuildStatusStore(sp.GetRequiredService<StatusRedisConnection>().Multiplexer, options.KeyPrefix, options.RecordTtl, time)
                : new InMemoryBuildStatusStore(time, options.RecordTtl);
        });
        services.TryAddSingleton<IIdempotencyStore>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<BuildStatusStoreOptions>>().Value;
            return options.UseRedis
                ? new RedisIdempotencyStore(sp.GetRequiredService<StatusRedisConnection>().Multiplexer, options.KeyPrefix)
                : new InMemoryIdempotencyStore(sp.GetRequiredService<TimeProvider>());
        });
        return services;
    }

    private sealed class StatusOptionsValidator : IValidateOptions<BuildStatusStoreOptions>
    {
        public ValidateOptionsResult Validate(string? name, BuildStatusStoreOptions options)
        {
            var errors = options.Validate();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}

/// <summary>The status store's own Redis connection, made on first use and closed with the container.</summary>
internal sealed class StatusRedisConnection(IOptions<BuildStatusStoreOptions> options) : IDisposable
{
    private readonly Lazy<ConnectionMultiplexer> _connection = new(() =>
    {
        var config = ConfigurationOptions.Parse(options.Value.RedisConnectionString!);
        config.AbortOnConnectFail = false;
        return ConnectionMultiplexer.Connect(config);
    });

    public IConnectionMultiplexer Multiplexer => _connection.Value;

    public void Dispose()
    {
        if (_connection.IsValueCreated)
        {
            _connection.Value.Dispose();
        }
    }
}
