using BuildFarm.Registry;
using BuildFarm.Worker.Options;
using BuildFarm.Worker.Resilience;
using Polly;
using Polly.Registry;

namespace BuildFarm.Worker.Pods;

/// <summary>
/// Retries Kubernetes API requests through the <see cref="WorkerPipelines.KubeApi"/> pipeline: 429 (honouring Retry-After), 500/502/503/504 and
/// connection errors, with exponential backoff and jitter. Never 409 (AlreadyExists: the caller adopts), 422
/// (invalid), 403 (forbidden or quota: waiting for capacity is the caller's decision) or 404.
/// </summary>
public sealed class KubeApiResilienceHandler(ResiliencePipelineProvider<string> pipelines) : DelegatingHandler
{
    private readonly ResiliencePipeline<HttpResponseMessage> _pipeline = pipelines.GetPipeline<HttpResponseMessage>(WorkerPipelines.KubeApi);

    /// <summary>The retry of the <see cref="WorkerPipelines.KubeApi"/> pipeline.</summary>
    public static void AddRetry(ResiliencePipelineBuilder<HttpResponseMessage> builder, KubernetesOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        builder.AddRetry(TransientHttpRetry.Strategy(options.MaxRetries, options.RetryBaseDelay, ShouldRetry));
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        await _pipeline.ExecuteAsync(
            static async (state, ct) => await state.Handler.BaseSendAsync(state.Request, ct).ConfigureAwait(false),
            (Handler: this, Request: request), cancellationToken).ConfigureAwait(false);

    private Task<HttpResponseMessage> BaseSendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        base.SendAsync(request, cancellationToken);

    /// <summary>True for the outcomes worth another try (<see cref="TransientHttpRetry.ShouldRetry"/> without 408).</summary>
    public static bool ShouldRetry(Outcome<HttpResponseMessage> outcome, CancellationToken cancellationToken) =>
        TransientHttpRetry.ShouldRetry(outcome, requestTimeout: false, cancellationToken);

    /// <summary>The server's Retry-After (seconds or a date) when present, capped at 30 s; null takes the backoff.</summary>
    public static TimeSpan? RetryAfter(HttpResponseMessage? response) => TransientHttpRetry.RetryAfter(response);
}
