using System.Net;
using BuildFarm.Contracts;
using BuildFarm.Coordination;
using BuildFarm.Worker.Builds;
using BuildFarm.Worker.Hosting;
using BuildFarm.Worker.Options;
using BuildFarm.Worker.Scheduling;
using k8s.Autorest;
using MassTransit;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace BuildFarm.Worker.Messaging;

/// <summary>
/// Runs one build per message and HOLDS the message for the whole build (all attempts): the message is acked when
/// the build has ended, so a worker takes only as many builds as it has slots and a crashed worker's builds come back
/// by redelivery. On shutdown the build's token fires and the message is handed back without deleting its pod.
/// Before each run the build waits at the <see cref="CoordinationGate"/> (closed while Redis is unreachable).
/// Infrastructure unavailable (Redis or the Kubernetes API past the client's own retries, the API refusing pods because of
/// the farm's own set-up, or the destination lock lost before success): the build is tried again here up to <see cref="WorkerOptions.UnavailableRetries"/> times with growing
/// delays, then the message is put back at the tail of the build queue (a copy sent to the queue, then this delivery
/// acked) — never failed. Every retry is idempotent: pods are adopted by name, leases are re-entrant.
/// </summary>
public sealed class BuildImageConsumer(BuildRunner runner, RunningBuilds running, CoordinationGate gate, AdmissionDispatcher admission,
    IOptions<WorkerOptions> options, TimeProvider time, ILogger<BuildImageConsumer> logger) : IConsumer<BuildImage>
{
    /// <summary>Header on a requeued BuildImage: how many times it was put back in the queue.</summary>
    public const string RequeuedHeader = "BuildFarm-Requeued";

    public async Task Consume(ConsumeContext<BuildImage> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var message = context.Message;
        var stopping = context.CancellationToken;
        var requeued = context.Headers.Get<int>(RequeuedHeader) ?? 0;
        // Seen before (broker redelivery after a crash or hand-back, or a requeue): continue from the newest attempt's pod.
        var redelivered = context.ReceiveContext.Redelivered || requeued > 0;
        var settings = options.Value;
        using var cancellation = running.Register(message.BuildId);
        var events = new ConsumeContextEventPublisher(context);
        // Held too long (a long quota, lock or slot wait, a long build): the build lets go as on shutdown — pod and leases
        // left for the next take — and the message goes back to the queue before the broker's consumer_timeout fires.
        using var holdLimit = new CancellationTokenSource(settings.MaxMessageHold, time);
        using var handBack = CancellationTokenSource.CreateLinkedTokenSource(stopping, holdLimit.Token);
        bool ended;
        try
        {
            ended = await RunWithRetriesAsync(context, message, events, cancellation, redelivered, requeued, handBack.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (holdLimit.IsCancellationRequested && !stopping.IsCancellationRequested)
        {
            logger.LogInformation("build {Build}: message held for {Hold} (Worker:MaxMessageHold); back to the queue, the next take adopts its pod",
                message.BuildId, settings.MaxMessageHold);
            await RequeueAsync(context, message, requeued, stopping).ConfigureAwait(false);
            return;
        }
        catch (DuplicateDeliveryException e)
        {
            logger.LogInformation("{Duplicate}", e.Message);
            return;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A bug faults the message (to the error queue): the build will not run again, its admission slot goes back.
            await admission.EndAsync(message.BuildId).ConfigureAwait(false);
            throw;
        }
        if (ended)
        {
            // Admission (docs/scheduling.md): the slot goes back and the dispatcher looks for the next build at once.
            await admission.EndAsync(message.BuildId).ConfigureAwait(false);
        }
    }

    /// <summary>True when the build ended here; false when its message went back to the queue.</summary>
    private async Task<bool> RunWithRetriesAsync(ConsumeContext<BuildImage> context, BuildImage message, ConsumeContextEventPublisher events,
        BuildCancellation cancellation, bool redelivered, int requeued, CancellationToken stopping)
    {
        var settings = options.Value;
        for (var retry = 0; ; retry++)
        {
            await gate.WaitOpenAsync(stopping).ConfigureAwait(false);
            try
            {
                await runner.RunAsync(message, events, cancellation, stopping, redelivered || retry > 0, context.MessageId?.ToString()).ConfigureAwait(false);
                return true;
            }
            catch (Exception e) when (IsUnavailable(e) && !stopping.IsCancellationRequested)
            {
                if (e is RedisException)
                {
                    gate.ReportUnavailable(e);
                }
                var delay = RetryBackoff.Delay(retry + 1, settings.UnavailableRetryDelay, settings.UnavailableRetryMaxDelay, Random.Shared.NextDouble());
                if (retry >= settings.UnavailableRetries)
                {
                    logger.LogWarning("build {Build}: {Error}; retried {Retries} times here, back to the queue in {Delay}", message.BuildId, e.Message, retry, delay);
                    await Task.Delay(delay, time, stopping).ConfigureAwait(false);
                    await RequeueAsync(context, message, requeued, stopping).ConfigureAwait(false);
                    return false;
                }
                logger.LogInformation("build {Build}: {Error}; trying again in {Delay}", message.BuildId, e.Message, delay);
                await Task.Delay(delay, time, stopping).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Puts the message back at the tail of the build queue: a copy with the requeue count, then this delivery is acked.
    /// The copy keeps the message id: admission's duplicate check takes it for the same message.</summary>
    private static async Task RequeueAsync(ConsumeContext<BuildImage> context, BuildImage message, int requeued, CancellationToken stopping)
    {
        var queue = await context.GetSendEndpoint(context.ReceiveContext.InputAddress).ConfigureAwait(false);
        await queue.Send(message, s =>
        {
            s.Headers.Set(RequeuedHeader, requeued + 1);
            s.MessageId = context.MessageId;
        }, stopping).ConfigureAwait(false);
    }

    /// <summary>Errors that mean "the infrastructure is unavailable, try later", not "the build failed".</summary>
    public static bool IsUnavailable(Exception error) => error switch
    {
        LeaseLostException or FarmMisconfiguredException => true,
        RedisConnectionException or RedisTimeoutException => true,
        HttpRequestException => true,
        HttpOperationException h => h.Response.StatusCode is HttpStatusCode.TooManyRequests || (int)h.Response.StatusCode >= 500,
        TaskCanceledException { InnerException: TimeoutException } => true,
        _ => false,
    };

    private sealed class ConsumeContextEventPublisher(ConsumeContext context) : IBuildEventPublisher
    {
        public Task PublishAsync<T>(T message, CancellationToken cancellationToken)
            where T : class => context.Publish(message, cancellationToken);
    }
}

/// <summary>Concurrency = prefetch = worker slots; on RabbitMQ a durable quorum queue.</summary>
public sealed class BuildImageConsumerDefinition : ConsumerDefinition<BuildImageConsumer>
{
    private readonly int _slots;

    public BuildImageConsumerDefinition(IOptions<WorkerOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _slots = options.Value.Slots;
        EndpointName = "buildfarm-build-image";
        ConcurrentMessageLimit = _slots;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<BuildImageConsumer> consumerConfigurator,
        IRegistrationContext context)
    {
        ArgumentNullException.ThrowIfNull(endpointConfigurator);
        endpointConfigurator.PrefetchCount = _slots;
        // No message retry filter: the consumer retries infrastructure errors itself and requeues past its budget
        // (see BuildImageConsumer); anything else is a bug and faults the message.
        if (endpointConfigurator is IRabbitMqReceiveEndpointConfigurator rabbit)
        {
            rabbit.SetQuorumQueue();
        }
    }
}

/// <summary>
/// Cancels a build if it runs on this worker. Every worker gets every CancelBuild: the consumer sits on a
/// per-instance temporary endpoint (see AddBuildFarmWorker), so the fan-out reaches the worker holding the build.
/// It also records the cancel as a marker (Redis, with Worker:CancelMarkerTtl) so that a build still queued — on no
/// worker yet — ends cancelled, without a pod, when a worker takes it.
/// </summary>
public sealed class CancelBuildConsumer(RunningBuilds running, ICancelRequests requests, AdmissionDispatcher admission, IOptions<WorkerOptions> options,
    ILogger<CancelBuildConsumer> logger) : IConsumer<CancelBuild>
{
    public async Task Consume(ConsumeContext<CancelBuild> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var message = context.Message;
        if (running.Cancel(message.BuildId, message.RequestedBy))
        {
            logger.LogInformation("build {Build}: cancelled by {RequestedBy}", message.BuildId, message.RequestedBy);
        }
        await requests.RequestAsync(message.BuildId, message.RequestedBy, options.Value.CancelMarkerTtl, context.CancellationToken).ConfigureAwait(false);
        // Still waiting for admission: out of the admission store and published now, past the backlog; the worker that takes
        // it finds the marker just written and ends it cancelled without a pod. One worker of all wins the take-back.
        if (await admission.TakeBackReadyAsync(message.BuildId, context.CancellationToken).ConfigureAwait(false) is { } command)
        {
            await context.Publish(command, context.CancellationToken).ConfigureAwait(false);
        }
    }
}
