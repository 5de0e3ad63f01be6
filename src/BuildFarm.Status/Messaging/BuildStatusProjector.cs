using BuildFarm.Contracts;
using BuildFarm.Status.Projection;
using MassTransit;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace BuildFarm.Status.Messaging;

/// <summary>
/// Keeps the build records from the farm's events (<see cref="BuildRecordReducer"/> through the store's atomic update).
/// Idempotent: a redelivered or late event changes nothing. An event about a build nobody recorded makes a minimal
/// record when it reports progress or an outcome; otherwise it is dropped with a log line.
/// </summary>
public sealed class BuildStatusProjector(IBuildStatusStore store, ILogger<BuildStatusProjector> logger) :
    IConsumer<BuildQueued>, IConsumer<BuildStarted>, IConsumer<BuildAttemptFailed>, IConsumer<BuildSucceeded>, IConsumer<BuildFailed>,
    IConsumer<BuildCancelled>, IConsumer<BuildDeduplicated>
{
    public Task Consume(ConsumeContext<BuildQueued> context) => ProjectAsync(context);
    public Task Consume(ConsumeContext<BuildStarted> context) => ProjectAsync(context);
    public Task Consume(ConsumeContext<BuildAttemptFailed> context) => ProjectAsync(context);
    public Task Consume(ConsumeContext<BuildSucceeded> context) => ProjectAsync(context);
    public Task Consume(ConsumeContext<BuildFailed> context) => ProjectAsync(context);
    public Task Consume(ConsumeContext<BuildCancelled> context) => ProjectAsync(context);
    public Task Consume(ConsumeContext<BuildDeduplicated> context) => ProjectAsync(context);

    private async Task ProjectAsync<T>(ConsumeContext<T> context)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(context);
        await ApplyAsync(store, context.Message, logger, context.CancellationToken).ConfigureAwait(false);
    }

    /// <summary>Applies one event to its build's record (creating a minimal record for an unknown build when the event allows).</summary>
    public static async Task<BuildChange?> ApplyAsync(IBuildStatusStore store, object message, ILogger logger, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(logger);
        var buildId = BuildRecordReducer.BuildIdOf(message);
        for (var tries = 0; tries < 3; tries++)
        {
            var found = false;
            var change = await store.UpdateBuildAsync(buildId, record =>
            {
                found = true;
                return BuildRecordReducer.Apply(record, message);
            }, cancellationToken).ConfigureAwait(false);
            if (found)
            {
                return change;
            }
            if (BuildRecordReducer.Minimal(message) is not { } minimal)
            {
                logger.LogWarning("{Event} for unknown build {Build}: dropped (no record, and the event says too little to make one)",
                    message.GetType().Name, buildId);
                return null;
            }
            var applied = BuildRecordReducer.Apply(minimal, message)?.Record ?? minimal;
            if (await store.CreateBuildAsync(applied, cancellationToken).ConfigureAwait(false))
            {
                logger.LogInformation("{Event} for unknown build {Build}: made a minimal record", message.GetType().Name, buildId);
                return new BuildChange(applied with { Version = 1 }, BuildRecordReducer.EventFor(applied.State));
            }
            // Created meanwhile by someone else: apply to theirs.
        }
        throw new InvalidOperationException($"build '{buildId}': its record kept appearing and disappearing");
    }
}

/// <summary>One durable queue, <c>buildfarm-status</c>; retries store outages.</summary>
public sealed class BuildStatusProjectorDefinition : ConsumerDefinition<BuildStatusProjector>
{
    public const string QueueName = "buildfarm-status";

    public BuildStatusProjectorDefinition()
    {
        EndpointName = QueueName;
        ConcurrentMessageLimit = 32;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<BuildStatusProjector> consumerConfigurator,
        IRegistrationContext context)
    {
        StatusEndpoint.Configure(endpointConfigurator);
    }
}

/// <summary>
/// The endpoint set-up both status consumers use: a durable quorum queue on RabbitMQ, and Redis unreachable or slow →
/// try the message again later.
/// </summary>
internal static class StatusEndpoint
{
    public static void Configure(IReceiveEndpointConfigurator endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        endpoint.UseMessageRetry(Retry);
        if (endpoint is IRabbitMqReceiveEndpointConfigurator rabbit)
        {
            rabbit.SetQuorumQueue();
        }
    }

    private static void Retry(IRetryConfigurator retry)
    {
        retry.Exponential(10, TimeSpan.FromMilliseconds(200), TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(1));
        retry.Handle<RedisConnectionException>();
        retry.Handle<RedisTimeoutException>();
    }
}
