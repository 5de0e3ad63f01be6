using BuildFarm.Messaging.Tracing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;

namespace BuildFarm.Api.Tests;

/// <summary><c>Otel:Endpoint</c>: off when absent, an OTLP/HTTP base address when set, a clear error when malformed.</summary>
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
        services.AddOpenTelemetry().AddBuildFarmTracing(Config(endpoint), "buildfarm-api");
        using var provider = services.BuildServiceProvider();
        Assert.Null(provider.GetService<TracerProvider>());
    }

    [Fact]
    public void Set_TracingOn_TracerProviderRegistered()
    {
        Assert.Equal(new Uri("http://jaeger:4318"), BuildFarmTracing.Endpoint(Config(" http://jaeger:4318 ")));
        var services = new ServiceCollection();
        services.AddOpenTelemetry().AddBuildFarmTracing(Config("http://jaeger:4318"), "buildfarm-api");
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
}
