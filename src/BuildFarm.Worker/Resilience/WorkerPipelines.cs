using BuildFarm.Worker.Options;
using BuildFarm.Worker.Pods;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;
using Polly.Telemetry;

namespace BuildFarm.Worker.Resilience;

/// <summary>
/// The worker's infrastructure retries and waits as named Polly pipelines (registered with
/// <c>AddResiliencePipeline</c>, so Polly's telemetry logs and meters them under the meter <c>Polly</c>). Build-level
/// retries (another attempt after a failed pod) are <see cref="Builds.AttemptDecision"/>'s; message-level ones are
/// MassTransit's (docs/worker.md "Retries").
/// </summary>
public static class WorkerPipelines
{
    /// <summary>Kubernetes API requests: 429 (Retry-After honoured), 5xx and connection errors, exponential backoff with jitter.</summary>
    public const string KubeApi = "buildfarm-kube-api";

    /// <summary>Polling until something is free (a destination lock, a registry slot, an identical build's claim):
    /// <c>Worker:WaitPollMin</c>, doubling up to <c>Worker:WaitPollMax</c>, until done or cancelled.</summary>
    public const string Poll = "buildfarm-poll";

    /// <summary>As <see cref="Poll"/>, each wait jittered to 50–100 % so that pods refused by a full ResourceQuota
    /// together do not all come back together.</summary>
    public const string QuotaWait = "buildfarm-quota-wait";

    /// <summary>Registers the three pipelines and Polly's telemetry (metered; logged at Debug).</summary>
    public static IServiceCollection AddWorkerPipelines(this IServiceCollection services)
    {
        services.AddResiliencePipeline<string, HttpResponseMessage>(KubeApi, (builder, context) =>
        {
            builder.TimeProvider = context.ServiceProvider.GetRequiredService<TimeProvider>();
            KubeApiResilienceHandler.AddRetry(builder, context.ServiceProvider.GetRequiredService<IOptions<KubernetesOptions>>().Value);
        });
        services.AddResiliencePipeline(Poll, (builder, context) => AddPolling(builder, context.ServiceProvider, jitter: false));
        services.AddResiliencePipeline(QuotaWait, (builder, context) => AddPolling(builder, context.ServiceProvider, jitter: true));
        services.AddOptions<TelemetryOptions>().Configure(o => o.SeverityProvider = Severity);
        return services;
    }

    /// <summary>Polls at most this often, ever: the first wait is <paramref name="min"/>, each next one twice the last,
    /// capped at <paramref name="max"/>. <paramref name="retry"/> is 0 for the first wait.</summary>
    public static TimeSpan PollDelay(int retry, TimeSpan min, TimeSpan max)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(retry);
        var ticks = min.Ticks * Math.Pow(2, Math.Min(retry, 40));
        return ticks >= max.Ticks ? max : TimeSpan.FromTicks((long)ticks);
    }

    private static void AddPolling(ResiliencePipelineBuilder builder, IServiceProvider services, bool jitter)
    {
        var options = services.GetRequiredService<IOptions<WorkerOptions>>().Value;
        builder.TimeProvider = services.GetRequiredService<TimeProvider>();
        builder.AddRetry(new RetryStrategyOptions
        {
            Name = "poll",
            MaxRetryAttempts = int.MaxValue,
            ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result is IPolled { Done: false }),
            DelayGenerator = args =>
            {
                var delay = PollDelay(args.AttemptNumber, options.WaitPollMin, options.WaitPollMax);
                return ValueTask.FromResult<TimeSpan?>(jitter ? delay * (0.5 + (Random.Shared.NextDouble() / 2)) : delay);
            },
        });
    }

    /// <summary>Every Polly event logs at Debug (the meter still counts each one): a wait is normal, a retried API
    /// request is reported by the build when the retries run out, and the operator's log stays one line per fault
    /// without the exception's stack trace that Polly's log entries carry.</summary>
    private static ResilienceEventSeverity Severity(SeverityProviderArguments args) =>
        args.Event.Severity == ResilienceEventSeverity.None ? ResilienceEventSeverity.None : ResilienceEventSeverity.Debug;
}

/// <summary>One poll's answer: <see cref="Done"/> ends the wait with <see cref="Polled{T}.Value"/>.</summary>
internal interface IPolled
{
    bool Done { get; }
}

/// <summary>One poll's answer for <see cref="Polling.UntilAsync"/>.</summary>
internal readonly record struct Polled<T>(T Value, bool Done) : IPolled
{
    public static Polled<T> Finished(T value) => new(value, true);

    public static Polled<T> NotYet(T value) => new(value, false);
}

/// <summary>Runs a poll through a <see cref="WorkerPipelines.Poll"/>-style pipeline until it answers done.</summary>
internal static class Polling
{
    /// <summary>Calls <paramref name="poll"/>, waiting between calls as the pipeline says, until it answers
    /// <see cref="Polled{T}.Done"/>; returns that answer's value. Throws <see cref="OperationCanceledException"/> when
    /// <paramref name="ct"/> fires during a wait.</summary>
    public static async Task<T> UntilAsync<T>(this ResiliencePipeline pipeline, Func<CancellationToken, Task<Polled<T>>> poll, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(poll);
        var answer = await pipeline.ExecuteAsync(static async (poll, token) => await poll(token).ConfigureAwait(false), poll, ct).ConfigureAwait(false);
        return answer.Value;
    }
}
