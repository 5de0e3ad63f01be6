namespace BuildFarm.Worker.Builds;

/// <summary>Publishes a build's events (the contracts in BuildFarm.Contracts). The consumer adapts MassTransit's ConsumeContext.</summary>
public interface IBuildEventPublisher
{
    Task PublishAsync<T>(T message, CancellationToken cancellationToken)
        where T : class;
}
