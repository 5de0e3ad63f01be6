using System.Net;
using Polly;
using Polly.Retry;

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
        return builder.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
        {
            MaxRetryAttempts = options.MaxRetries,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = options.RetryBaseDelay,
            MaxDelay = TimeSpan.FromSeconds(10),
            ShouldHandle = args => ValueTask.FromResult(ShouldRetry(args.Outcome, args.Context.CancellationToken)),
            DelayGenerator = args => ValueTask.FromResult(RetryAfter(args.Outcome.Result)),
            OnRetry = args =>
            {
                args.Outcome.Result?.Dispose();
                return ValueTask.CompletedTask;
            },
        });
    }

    /// <summary>A pipeline built outside dependency injection (tests, the cluster simulator).</summary>
    public static ResiliencePipeline<HttpResponseMessage> Create(RegistryClientOptions options, TimeProvider? time = null) =>
        Configure(new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time ?? TimeProvider.System }, options).Build();

    /// <summary>True for the outcomes worth another try.</summary>
    public static bool ShouldRetry(Outcome<HttpResponseMessage> outcome, CancellationToken cancellationToken) =>
        outcome.Exception switch
        {
            HttpRequestException => true,
            IOException => true,
            OperationCanceledException => !cancellationToken.IsCancellationRequested,
            null => outcome.Result?.StatusCode is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests
                or HttpStatusCode.InternalServerError or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable
                or HttpStatusCode.GatewayTimeout,
            _ => false,
        };

    /// <summary>The server's Retry-After (seconds or a date), capped at 30 s; null takes the backoff.</summary>
    public static TimeSpan? RetryAfter(HttpResponseMessage? response)
    {
        var header = response?.Headers.RetryAfter;
        var delay = header?.Delta ?? (header?.Date is { } date ? date - DateTimeOffset.UtcNow : null);
        return delay is { } d ? TimeSpan.FromTicks(Math.Clamp(d.Ticks, 0, TimeSpan.FromSeconds(30).Ticks)) : null;
    }
}
