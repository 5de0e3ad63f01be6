using BuildFarm.Contracts;
using BuildFarm.Worker.Builds;
using BuildFarm.Worker.Options;
using MassTransit;
using Microsoft.Extensions.Options;

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
