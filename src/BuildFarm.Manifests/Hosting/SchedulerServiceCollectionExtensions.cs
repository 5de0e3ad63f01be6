using BuildFarm.Hosting;
using BuildFarm.Manifests.Scheduling;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace BuildFarm.Manifests.Hosting;

/// <summary>Composition of the manifest scheduler. The host brings the MassTransit bus (it publishes through <c>IPublishEndpoint</c>).</summary>
public static class SchedulerServiceCollectionExtensions
{
    /// <summary>Adds the scheduler when the <c>Scheduler</c> section says <c>Enabled: true</c> (the API host runs it by config).</summary>
    public static IHostApplicationBuilder AddBuildFarmScheduler(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var section = builder.Configuration.GetSection(ManifestSchedulerOptions.SectionName);
        if (section.GetValue<bool>(nameof(ManifestSchedulerOptions.Enabled)))
        {
            builder.Services.AddBuildFarmScheduler();
        }
        return builder;
    }

    /// <summary>
    /// Adds the scheduler unconditionally: options from the <c>Scheduler</c> section (validated at start) then
    /// <paramref name="configure"/>, the coordinator (Redis when a connection string is set, else in process; an
    /// <see cref="IScheduleCoordinator"/> registered before wins) and <see cref="ManifestScheduler"/> as a hosted service.
    /// </summary>
    public static IServiceCollection AddBuildFarmScheduler(this IServiceCollection services, Action<ManifestSchedulerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<ManifestSchedulerOptions>().BindConfiguration(ManifestSchedulerOptions.SectionName)
            .Configure<IConfiguration>((o, configuration) =>
            {
                // Redis:ConnectionString is the one Redis setting of every host; Scheduler:RedisConnectionString is its old name.
                if (configuration[ManifestSchedulerOptions.SharedRedisSetting] is { } shared && !string.IsNullOrWhiteSpace(shared))
                {
                    o.RedisConnectionString = shared;
                }
            });
        if (configure is not null)
        {
            options.Configure(configure);
        }
        options.ValidateOnStart();
        services.AddSingleton<IValidateOptions<ManifestSchedulerOptions>>(new SectionValidator<ManifestSchedulerOptions>(o => o.Validate()));
        services.TryAddSingleton(TimeProvider.System);
        services.AddBuildFarmRedisConnections();
        services.TryAddSingleton<IScheduleCoordinator>(sp =>
        {
            var o = sp.GetRequiredService<IOptions<ManifestSchedulerOptions>>().Value;
            if (string.IsNullOrWhiteSpace(o.RedisConnectionString))
            {
                return new InMemoryScheduleCoordinator(sp.GetRequiredService<TimeProvider>());
            }
            // The process's shared multiplexer (the status store's, when both use Redis:ConnectionString).
            return new RedisScheduleCoordinator(sp.GetRequiredService<RedisConnections>().Get(o.RedisConnectionString), o.KeyPrefix);
        });
        services.AddSingleton<ManifestScheduler>();
        services.AddHostedService(sp => sp.GetRequiredService<ManifestScheduler>());
        return services;
    }
}
