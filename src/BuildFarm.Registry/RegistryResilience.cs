using Polly;

namespace BuildFarm.Registry;

/// <summary>
/// The registry client's retry pipeline, registered by name (<see cref="PipelineName"/>) with Polly's
/// <c>AddResiliencePipeline</c>: connection errors (resets included), timeouts and 408/429/500/502/503/504 are retried
/// with exponential backoff and jitter, honouring <c>Retry-After</c> (capped at 30 s). 401, 403, 404 and other 4xx are not.
/// </summary>
public static class RegistryResilience
{
    public const string PipelineName = "buildfarm-registry";

    /// <summary>Adds the retry strategy to <paramref name="builder"/>.</summary>
    public static ResiliencePipelineBuilder<HttpResponseMessage> Configure(ResiliencePipelineBuilder<HttpResponseMessage> builder, RegistryClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxRetries == 0)
        {
            return builder;
        }
        return builder.AddRetry(TransientHttpRetry.Strategy(options.MaxRetries, options.RetryBaseDelay, ShouldRetry));
    }

    /// <summary>A pipeline built outside dependency injection (tests, the cluster simulator).</summary>
    public static ResiliencePipeline<HttpResponseMessage> Create(RegistryClientOptions options, TimeProvider? time = null) =>
        Configure(new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time ?? TimeProvider.System }, options).Build();

    /// <summary>True for the outcomes worth another try (<see cref="TransientHttpRetry.ShouldRetry"/> with 408).</summary>
    public static bool ShouldRetry(Outcome<HttpResponseMessage> outcome, CancellationToken cancellationToken) =>
        TransientHttpRetry.ShouldRetry(outcome, requestTimeout: true, cancellationToken);

    /// <summary>The server's Retry-After (seconds or a date), capped at 30 s; null takes the backoff.</summary>
    public static TimeSpan? RetryAfter(HttpResponseMessage? response) => TransientHttpRetry.RetryAfter(response);
}
