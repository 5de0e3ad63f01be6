using System.Diagnostics;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace BuildFarm.Messaging.Tracing;

/// <summary>
/// The farm's OpenTelemetry resource and trace pipeline (docs/tracing.md), the same for the API, the worker and the demo.
/// Tracing is off until <c>Otel:Endpoint</c> names an OTLP/HTTP collector; the resource (<c>service.name</c>,
/// <c>service.version</c>) is set either way, so metrics carry it too.
/// </summary>
public static class BuildFarmTracing
{
    /// <summary>The setting that turns tracing on: the collector's OTLP/HTTP base address (spans go to <c>{it}/v1/traces</c>).</summary>
    public const string EndpointKey = "Otel:Endpoint";

    /// <summary>The sources whose spans are exported: the farm's own, MassTransit's, outgoing HTTP (the Kubernetes API).</summary>
    public static readonly IReadOnlyList<string> Sources = [TraceNames.SourceName, "MassTransit", "System.Net.Http"];

    /// <summary>
    /// Sets the resource for every signal of <paramref name="otel"/> and, when <see cref="EndpointKey"/> is set, exports
    /// spans over OTLP/HTTP protobuf and records trace-based exemplars on histograms. Throws when the endpoint is not an
    /// absolute http(s) URI.
    /// </summary>
    public static OpenTelemetryBuilder AddBuildFarmTracing(this OpenTelemetryBuilder otel, IConfiguration configuration, string serviceName)
    {
        ArgumentNullException.ThrowIfNull(otel);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentException.ThrowIfNullOrWhiteSpace(serviceName);
        otel.ConfigureResource(r => r.AddService(serviceName, serviceVersion: ServiceVersion()));
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

    private static bool IsProbe(string? path) => path is "/healthz" or "/readyz" or "/metrics";

    private static string ServiceVersion()
    {
        var assembly = Assembly.GetEntryAssembly() ?? typeof(BuildFarmTracing).Assembly;
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString() ?? "0.0.0";
        // The SDK appends "+<commit>"; keep it: it names the exact build.
        return version;
    }
}

/// <summary>The farm's span source, span names and attribute keys (docs/tracing.md lists them).</summary>
public static class TraceNames
{
    public const string SourceName = "BuildFarm";

    /// <summary>The source every farm span comes from.</summary>
    public static readonly ActivitySource Source = new(SourceName);

    public const string BuildSpan = "build";
    public const string AttemptSpan = "attempt";
    public const string PodCreateSpan = "pod.create";
    public const string PodStartupSpan = "pod.startup";
    /// <summary>Kaniko phase spans: <c>kaniko.pull</c>, <c>kaniko.extract</c>, <c>kaniko.build</c>, <c>kaniko.push</c>.</summary>
    public const string PhaseSpanPrefix = "kaniko.";
    public const string BatchSubmitSpan = "batch.submit";

    public const string BuildId = "buildfarm.build.id";
    public const string BatchId = "buildfarm.batch.id";
    public const string Attempt = "buildfarm.attempt";
    public const string Pod = "buildfarm.pod";
    public const string Registry = "buildfarm.registry";
    public const string Outcome = "buildfarm.outcome";
    public const string Reason = "buildfarm.reason";
    public const string Adopted = "buildfarm.pod.adopted";
    public const string PhaseSeconds = "kaniko.phase.seconds";
    public const string PhaseCount = "kaniko.phase.count";
    public const string PhaseResets = "kaniko.phase.resets";
}
