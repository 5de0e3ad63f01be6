using System.Net;
using Polly;
using Polly.Retry;

namespace BuildFarm.Registry;

/// <summary>
/// The retry of HTTP calls to a server that may be briefly unavailable, shared by the registry client
/// (<see cref="RegistryResilience"/>) and the worker's Kubernetes API handler: connection errors and timeouts, 429 and
/// 500/502/503/504 (408 where the caller asks), with exponential backoff and jitter (at most 10 s), honouring
/// <c>Retry-After</c> (capped at 30 s). A retried answer is disposed.
/// </summary>
public static class TransientHttpRetry
{
    /// <summary>The retry strategy: <paramref name="maxRetries"/> retries from <paramref name="baseDelay"/>, retrying
    /// what <paramref name="shouldRetry"/> says (given the outcome and the caller's token).</summary>
    public static RetryStrategyOptions<HttpResponseMessage> Strategy(
        int maxRetries, TimeSpan baseDelay, Func<Outcome<HttpResponseMessage>, CancellationToken, bool> shouldRetry)
    {
        ArgumentNullException.ThrowIfNull(shouldRetry);
        return new RetryStrategyOptions<HttpResponseMessage>
        {
            MaxRetryAttempts = maxRetries,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = baseDelay,
            MaxDelay = TimeSpan.FromSeconds(10),
            ShouldHandle = args => ValueTask.FromResult(shouldRetry(args.Outcome, args.Context.CancellationToken)),
            DelayGenerator = args => ValueTask.FromResult(RetryAfter(args.Outcome.Result)),
            OnRetry = args =>
            {
                args.Outcome.Result?.Dispose();
                return ValueTask.CompletedTask;
            },
        };
    }

    /// <summary>True for the outcomes worth another try: a connection error, a timeout that is not the caller's
    /// cancellation, or 429/500/502/503/504 (and 408 when <paramref name="requestTimeout"/>).</summary>
    public static bool ShouldRetry(Outcome<HttpResponseMessage> outcome, bool requestTimeout, CancellationToken cancellationToken) =>
        outcome.Exception switch
        {
            HttpRequestException => true,
            IOException => true,
            OperationCanceledException => !cancellationToken.IsCancellationRequested,
            null => outcome.Result?.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.InternalServerError
                    or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout
                || (requestTimeout && outcome.Result?.StatusCode == HttpStatusCode.RequestTimeout),
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
