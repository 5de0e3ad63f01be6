using BuildFarm.Hosting.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace BuildFarm.Hosting;

/// <summary>What every farm host registers and maps the same way: the shared Redis connections, validated option
/// sections, OpenTelemetry (<see cref="BuildFarmTracing"/>), and the health and metrics endpoints.</summary>
public static class HostingDefaults
{
    /// <summary>Liveness: the process is up and serving HTTP; no dependency is checked (a restart would not fix Redis).</summary>
    public const string HealthPath = "/healthz";

    /// <summary>Readiness: every health check tagged <see cref="ReadyTag"/> (Redis, the broker) is healthy.</summary>
    public const string ReadyPath = "/readyz";

    /// <summary>Health checks with this tag make up <see cref="ReadyPath"/>.</summary>
    public const string ReadyTag = "ready";

    /// <summary>Prometheus scrapes the host's metrics here.</summary>
    public const string MetricsPath = "/metrics";

    /// <summary>
    /// The shared pieces of a host named <paramref name="serviceName"/>: <see cref="RedisConnections"/> (once, whoever asks
    /// first), the health-check service, and OpenTelemetry's resource and Prometheus exporter (once: the first name
    /// given wins). The host adds its own meters with <c>services.AddOpenTelemetry().WithMetrics(...)</c>.
    /// </summary>
    public static IServiceCollection AddBuildFarmDefaults(this IServiceCollection services, string serviceName)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddBuildFarmRedisConnections();
        services.AddHealthChecks();
        services.AddBuildFarmTelemetry(serviceName);
        return services;
    }

    /// <summary>The service defaults (<see cref="AddBuildFarmDefaults(IServiceCollection, string)"/>) and the trace
    /// pipeline, which the host's configuration turns on (<see cref="BuildFarmTracing.EndpointKey"/>).</summary>
    public static IHostApplicationBuilder AddBuildFarmDefaults(this IHostApplicationBuilder builder, string serviceName)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddBuildFarmDefaults(serviceName);
        builder.Services.AddOpenTelemetry().AddBuildFarmTracing(builder.Configuration);
        return builder;
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

    /// <summary><see cref="HealthPath"/> (liveness, no checks run), <see cref="ReadyPath"/> (the checks tagged
    /// <see cref="ReadyTag"/>) and <see cref="MetricsPath"/> (Prometheus).</summary>
    public static TBuilder MapBuildFarmDefaults<TBuilder>(this TBuilder endpoints)
        where TBuilder : IEndpointRouteBuilder
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        endpoints.MapHealthChecks(HealthPath, new HealthCheckOptions { Predicate = _ => false });
        endpoints.MapHealthChecks(ReadyPath, new HealthCheckOptions { Predicate = c => c.Tags.Contains(ReadyTag) });
        endpoints.MapPrometheusScrapingEndpoint(MetricsPath);
        return endpoints;
    }
}
