using System.Net;
using BuildFarm.Contracts;
using BuildFarm.Worker.Builds;
using BuildFarm.Worker.Options;
using k8s.Autorest;
using MassTransit;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace BuildFarm.Worker.Messaging;

/// <summary>
/// Runs one build per message and HOLDS the message for the whole build (all attempts): the message is acked when
/// the build has ended, so a worker takes only as many builds as it has slots and a crashed worker's builds come back
/// by redelivery. On shutdown the build's token fires and the message is handed back without deleting its pod.
/// </summary>
public sealed class BuildImageConsumer(BuildRunner runner, RunningBuilds running) : IConsumer<BuildImage>
{
    public async Task Consume(ConsumeContext<BuildImage> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        using var cancellation = running.Register(context.Message.BuildId);
        await runner.RunAsync(context.Message, new ConsumeContextEventPublisher(context), cancellation, context.CancellationToken).ConfigureAwait(false);
    }

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
        // Redis or the Kubernetes API unreachable past the client's own retries, or the destination lock lost before success:
        // try the whole message again later (idempotent: pods are adopted by name, leases are re-entrant).
        // Everything else is a bug and faults the message.
        endpointConfigurator.UseMessageRetry(r =>
        {
            r.Exponential(10, TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(10));
            r.Handle<HttpRequestException>();
            r.Handle<HttpOperationException>(e => e.Response.StatusCode is HttpStatusCode.TooManyRequests || (int)e.Response.StatusCode >= 500);
            r.Handle<LeaseLostException>();
            // Redis unreachable: never build without locks; wait for it to come back.
            r.Handle<RedisConnectionException>();
            r.Handle<RedisTimeoutException>();
        });
        if (endpointConfigurator is IRabbitMqReceiveEndpointConfigurator rabbit)
        {
            rabbit.SetQuorumQueue();
        }
    }
}

/// <summary>
/// Cancels a build if it runs on this worker. Every worker gets every CancelBuild: the consumer sits on a
/// per-instance temporary endpoint (see AddBuildFarmWorker), so the fan-out reaches the worker holding the build.
/// </summary>
public sealed class CancelBuildConsumer(RunningBuilds running, ILogger<CancelBuildConsumer> logger) : IConsumer<CancelBuild>
{
    public Task Consume(ConsumeContext<CancelBuild> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (running.Cancel(context.Message.BuildId, context.Message.RequestedBy))
        {
            logger.LogInformation("build {Build}: cancelled by {RequestedBy}", context.Message.BuildId, context.Message.RequestedBy);
        }
        return Task.CompletedTask;
    }
}
