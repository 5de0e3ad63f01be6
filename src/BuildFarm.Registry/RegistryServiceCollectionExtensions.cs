using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Registry;

namespace BuildFarm.Registry;

/// <summary>Registers the registry client and its named retry pipeline.</summary>
public static class RegistryServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="RegistryClient"/> (a singleton) with the options from <paramref name="configure"/> (and any other
    /// <c>Configure&lt;RegistryClientOptions&gt;</c>), and the retry pipeline <see cref="RegistryResilience.PipelineName"/>
    /// through Polly's <c>AddResiliencePipeline</c>. An <see cref="IRegistryResetObserver"/> registered in the container is
    /// told of every connection reset.
    /// </summary>
    public static IServiceCollection AddBuildFarmRegistryClient(this IServiceCollection services, Action<RegistryClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<RegistryClientOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }
        services.AddResiliencePipeline<string, HttpResponseMessage>(RegistryResilience.PipelineName, (builder, context) =>
        {
            var settings = context.ServiceProvider.GetRequiredService<IOptions<RegistryClientOptions>>().Value;
            RegistryResilience.Configure(builder, settings);
        });
        services.TryAddSingleton(provider =>
        {
            var settings = provider.GetRequiredService<IOptions<RegistryClientOptions>>().Value;
            var pipeline = provider.GetRequiredService<ResiliencePipelineProvider<string>>().GetPipeline<HttpResponseMessage>(RegistryResilience.PipelineName);
            return new RegistryClient(settings, credentials: null, pipeline, provider.GetService<IRegistryResetObserver>());
        });
        return services;
    }
}
