using BuildFarm.Contracts;
using BuildFarm.Coordination.Redis;
using BuildFarm.Coordination.Scheduling;
using BuildFarm.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BuildFarm.Status.Scheduling;

/// <summary>
/// How a producer hands over a build that is ready to run (the API's single builds, the batch orchestrator's released
/// builds): published at once, or, with <c>Scheduling:Admission</c>, queued in the admission store until a worker's
/// dispatcher releases it (docs/scheduling.md "Admission").
/// </summary>
public interface IBuildDispatch
{
    /// <summary>
    /// Hands <paramref name="command"/> over: <paramref name="publish"/> (the producer's own publish) when admission is off,
    /// else into the admission store under <paramref name="tenant"/> (null: none) and the command's batch; when that enqueue
    /// admits it at once (nothing else waiting, a slot free: the fast path), <paramref name="publish"/> too. A publish that
    /// fails after the fast path's claim is logged, not thrown: the store's sweep publishes the build again.
    /// </summary>
    Task DispatchAsync(BuildImage command, string? tenant, Func<BuildImage, Task> publish, CancellationToken cancellationToken);
}

public sealed class BuildDispatch(IOptions<AdmissionOptions> options, IServiceProvider services, ILogger<BuildDispatch> logger) : IBuildDispatch
{
    /// <summary>This producer in the admission store: the claimant of the builds its enqueues admit at once.</summary>
    public string ProducerId { get; } = $"producer-{Environment.MachineName}-{Guid.NewGuid():N}";

    public async Task DispatchAsync(BuildImage command, string? tenant, Func<BuildImage, Task> publish, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(publish);
        if (!options.Value.Admission)
        {
            await publish(command).ConfigureAwait(false);
            return;
        }
        var store = services.GetRequiredService<IAdmissionStore>();
        var enqueued = await store.EnqueueAsync([Entry(command, tenant)], ProducerId, cancellationToken).ConfigureAwait(false);
        if (enqueued.Admitted.Count == 0)
        {
            return;
        }
        // Admitted at once (the fast path): this producer publishes it. The build is durable in the store from here on, so a
        // failed publish is not the caller's failure: the sweep publishes it again after Scheduling:RepublishAfter.
        try
        {
            await publish(command).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning(e, "Build {BuildId} was admitted at enqueue but its publish failed; the admission sweep publishes it again after {RepublishAfter}",
                command.BuildId, options.Value.RepublishAfter);
        }
    }

    /// <summary>The admission entry of a command: group = its batch ("" for a single build), its priority (clamped to
    /// 0–9) and critical path (0 when unknown).</summary>
    public static AdmissionEntry Entry(BuildImage command, string? tenant)
    {
        ArgumentNullException.ThrowIfNull(command);
        var path = command.CriticalPathSeconds is { } p && double.IsFinite(p) && p > 0 ? p : 0;
        var ready = new ReadyBuild(command.BuildId, tenant ?? "", command.BatchId ?? "", Math.Clamp(command.Priority, 0, 9), path, 0);
        return new AdmissionEntry(ready, BuildImagePayload.Serialize(command));
    }
}

public static class AdmissionServiceCollectionExtensions
{
    /// <summary>
    /// The <c>Scheduling</c> section, <see cref="IBuildDispatch"/>, and the admission store a producer writes: in Redis
    /// when <c>Redis:ConnectionString</c> is set (keys under <c>Redis:KeyPrefix</c>, as the workers'), else in process
    /// (registered only when no store is yet: <c>buildfarm demo</c> shares one with its workers). Registered once however often called.
    /// </summary>
    public static IServiceCollection AddBuildFarmBuildDispatch(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (services.Any(d => d.ServiceType == typeof(IBuildDispatch)))
        {
            return services;
        }
        services.AddValidatedSection<AdmissionOptions>(AdmissionOptions.SectionName, o => o.Validate());
        services.TryAddSingleton(TimeProvider.System);
        services.AddBuildFarmRedisConnections();
        services.TryAddSingleton<IAdmissionStore>(sp =>
        {
            var configuration = sp.GetRequiredService<IConfiguration>();
            var connection = configuration["Redis:ConnectionString"];
            return string.IsNullOrWhiteSpace(connection)
                ? new InMemoryAdmissionStore(sp.GetRequiredService<TimeProvider>())
                : new RedisAdmissionStore(sp.GetRequiredService<RedisConnections>().Get(connection),
                    new RedisKeys(configuration["Redis:KeyPrefix"] is { Length: > 0 } prefix ? prefix : "buildfarm:"));
        });
        services.TryAddSingleton<IBuildDispatch, BuildDispatch>();
        return services;
    }
}
