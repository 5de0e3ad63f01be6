using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace BuildFarm.Hosting.Telemetry;

/// <summary>
/// The farm's OpenTelemetry set-up (docs/tracing.md), the same for the API, the worker and the demo: one resource
/// (<c>service.name</c>, <c>service.version</c>) for every signal, metrics for the Prometheus exporter, and the trace
/// pipeline. Tracing is off until <c>Otel:Endpoint</c> names an OTLP/HTTP collector; the resource is set either way, so
/// metrics carry it too. <see cref="HostingDefaults"/> calls these.
/// </summary>
public static class BuildFarmTracing
{
    /// <summary>The setting that turns tracing on: the collector's OTLP/HTTP base address (spans go to <c>{it}/v1/traces</c>).</summary>
    public const string EndpointKey = "Otel:Endpoint";

    /// <summary>The name of the farm's own span source (BuildFarm.Messaging's <c>TraceNames.Source</c>).</summary>
    public const string FarmSourceName = "BuildFarm";

    /// <summary>The sources whose spans are exported: the farm's own, MassTransit's, outgoing HTTP (the Kubernetes API).</summary>
    public static readonly IReadOnlyList<string> Sources = [FarmSourceName, "MassTransit", "System.Net.Http"];

    /// <summary>
    /// The resource of every signal (<paramref name="serviceName"/> and this build's version) and the Prometheus exporter,
    /// registered once per service collection: a second call (a host composed of two hosts' parts, as the demo is) keeps
    /// the first service name.
    /// </summary>
    public static OpenTelemetryBuilder AddBuildFarmTelemetry(this IServiceCollection services, string serviceName)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(serviceName);
        var otel = services.AddOpenTelemetry();
        if (services.Any(d => d.ServiceType == typeof(TelemetryService)))
        {
            return otel;
        }
        services.AddSingleton(new TelemetryService(serviceName));
        otel.ConfigureResource(r => r.AddService(serviceName, serviceVersion: ServiceVersion()))
            .WithMetrics(m => m.AddPrometheusExporter());
        return otel;
    }

    /// <summary>
    /// When <see cref="EndpointKey"/> is set, exports spans over OTLP/HTTP protobuf and records trace-based exemplars on
    /// histograms; otherwise adds nothing. Throws when the endpoint is not an absolute http(s) URI.
    /// </summary>
    public static OpenTelemetryBuilder AddBuildFarmTracing(this OpenTelemetryBuilder otel, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(otel);
        ArgumentNullException.ThrowIfNull(configuration);
        if (Endpoint(configuration) is not { } endpoint)
        {
            return otel;
        }
        var traces = new Uri(endpoint, endpoint.AbsolutePath.EndsWith('/') ? "v1/traces" : endpoint.AbsolutePath + "/v1/traces");
        otel.WithTracing(t => t
            .AddSource([.. Sources])
            .AddAspNetCoreInstrumentation(o => o.Filter = http => !IsProbe(http.Request.Path.Value))
            .AddRedisInstrumentation()
            .AddOtlpExporter(o =>
            {
                o.Endpoint = traces;
                o.Protocol = OpenTelemetry.Exporter.OtlpExportProtocol.HttpProtobuf;
            }));
        otel.WithMetrics(m => m.SetExemplarFilter(ExemplarFilterType.TraceBased));
        return otel;
    }

    /// <summary>The collector's base address from <see cref="EndpointKey"/>, or null when tracing is off.</summary>
    public static Uri? Endpoint(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var value = configuration[EndpointKey];
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }
        if (!Uri.TryCreate(value.Trim(), UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new InvalidOperationException($"{EndpointKey} must be an absolute http(s) URI of an OTLP/HTTP collector (e.g. http://jaeger:4318), not '{value}'");
        }
        return uri;
    }

    private static bool IsProbe(string? path) => path is HostingDefaults.HealthPath or HostingDefaults.ReadyPath or HostingDefaults.MetricsPath;

    private static string ServiceVersion()
    {
        var assembly = Assembly.GetEntryAssembly() ?? typeof(BuildFarmTracing).Assembly;
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString() ?? "0.0.0";
        // The SDK appends "+<commit>"; keep it: it names the exact build.
        return version;
    }

    /// <summary>Marks a service collection whose resource is set, and names the service.</summary>
    public sealed record TelemetryService(string Name);
}
