using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace BuildFarm.Hosting;

/// <summary>What every farm host registers and maps the same way: the shared Redis connections, validated option
/// sections, and the health endpoints.</summary>
public static class HostingDefaults
{
    /// <summary>Liveness: the process is up and serving HTTP; no dependency is checked (a restart would not fix Redis).</summary>
    public const string HealthPath = "/healthz";

    /// <summary>Readiness: every health check tagged <see cref="ReadyTag"/> (Redis, the broker) is healthy.</summary>
    public const string ReadyPath = "/readyz";

    /// <summary>Health checks with this tag make up <see cref="ReadyPath"/>.</summary>
    public const string ReadyTag = "ready";

    /// <summary>The shared pieces: <see cref="RedisConnections"/> (once, whoever asks first) and the health-check service.</summary>
    public static IServiceCollection AddBuildFarmDefaults(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddBuildFarmRedisConnections();
        services.AddHealthChecks();
        return services;
    }

    /// <summary>Registers the process's <see cref="RedisConnections"/> unless already registered.</summary>
    public static IServiceCollection AddBuildFarmRedisConnections(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton<RedisConnections>();
        return services;
    }

    /// <summary>Binds <typeparamref name="T"/> to <paramref name="section"/> and checks it with <paramref name="validate"/> at start.</summary>
    public static OptionsBuilder<T> AddValidatedSection<T>(this IServiceCollection services, string section, Func<T, IReadOnlyList<string>> validate)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(services);
        var builder = services.AddOptions<T>().BindConfiguration(section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<T>>(new SectionValidator<T>(validate));
        return builder;
    }

    /// <summary><see cref="HealthPath"/> (liveness, no checks run) and <see cref="ReadyPath"/> (the checks tagged <see cref="ReadyTag"/>).</summary>
    public static TBuilder MapBuildFarmDefaults<TBuilder>(this TBuilder endpoints)
        where TBuilder : IEndpointRouteBuilder
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        endpoints.MapHealthChecks(HealthPath, new HealthCheckOptions { Predicate = _ => false });
        endpoints.MapHealthChecks(ReadyPath, new HealthCheckOptions { Predicate = c => c.Tags.Contains(ReadyTag) });
        return endpoints;
    }
}
