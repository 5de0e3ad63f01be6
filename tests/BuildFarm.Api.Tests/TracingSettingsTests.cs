using BuildFarm.Api.Hosting;
using BuildFarm.Hosting;
using BuildFarm.Hosting.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace BuildFarm.Api.Tests;

/// <summary><c>Otel:Endpoint</c>: off when absent, an OTLP/HTTP base address when set, a clear error when malformed; the
/// host defaults set the resource's <c>service.name</c> once, for metrics and traces alike.</summary>
public sealed class TracingSettingsTests
{
    private static IConfiguration Config(string? endpoint) =>
        new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [BuildFarmTracing.EndpointKey] = endpoint }).Build();

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    public void Unset_TracingOff_NoTracerProvider(string? endpoint)
    {
        Assert.Null(BuildFarmTracing.Endpoint(Config(endpoint)));
        var services = new ServiceCollection();
        services.AddOpenTelemetry().AddBuildFarmTracing(Config(endpoint));
        using var provider = services.BuildServiceProvider();
        Assert.Null(provider.GetService<TracerProvider>());
    }

    [Fact]
    public void Set_TracingOn_TracerProviderRegistered()
    {
        Assert.Equal(new Uri("http://jaeger:4318"), BuildFarmTracing.Endpoint(Config(" http://jaeger:4318 ")));
        var services = new ServiceCollection();
        services.AddOpenTelemetry().AddBuildFarmTracing(Config("http://jaeger:4318"));
        using var provider = services.BuildServiceProvider();
        Assert.NotNull(provider.GetService<TracerProvider>());
    }

    [Theory]
    [InlineData("jaeger:4318")]
    [InlineData("/v1/traces")]
    [InlineData("ftp://collector:4318")]
    public void Malformed_ErrorNamesTheSetting(string endpoint)
    {
        var error = Assert.Throws<InvalidOperationException>(() => BuildFarmTracing.Endpoint(Config(endpoint)));
        Assert.Contains("Otel:Endpoint", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Defaults_ApiHost_ServiceNameOnMetricsAndTraces()
    {
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateSlimBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { [BuildFarmTracing.EndpointKey] = "http://jaeger:4318" });
        builder.AddBuildFarmDefaults(ApiServiceCollectionExtensions.ServiceName);
        builder.Services.AddBuildFarmApiCore();
        using var provider = builder.Services.BuildServiceProvider();

        Assert.Equal("buildfarm-api", ServiceName(provider.GetRequiredService<MeterProvider>()));
        Assert.Equal("buildfarm-api", ServiceName(provider.GetRequiredService<TracerProvider>()));
    }

    [Fact]
    public void Defaults_Twice_TheResourceIsSetOnce_FirstNameKept()
    {
        // A host made of two hosts' parts (the demo) calls the defaults from each; the later name must not replace the first.
        var services = new ServiceCollection();
        services.AddBuildFarmDefaults("buildfarm-api");
        services.AddBuildFarmDefaults("buildfarm-worker");
        using var provider = services.BuildServiceProvider();

        Assert.Equal("buildfarm-api", ServiceName(provider.GetRequiredService<MeterProvider>()));
        Assert.Single(services, d => d.ServiceType == typeof(BuildFarmTracing.TelemetryService));
    }

    private static object? ServiceName(BaseProvider provider) =>
        provider.GetResource().Attributes.Single(a => a.Key == "service.name").Value;
}
