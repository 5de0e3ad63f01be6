namespace BuildFarm.Coordination.Adaptive;

/// <summary>One worker's reports on one registry over a window: builds that transferred cleanly, builds that met
/// congestion (a connection reset, a 429 or a 5xx from that registry).</summary>
public readonly record struct LimitReports(int Clean, int Congested);

/// <summary>
/// The adaptive slot limit of each registry, shared by every worker of the farm (Redis; in process for the demo and
/// unit tests). Workers report in windows and read the limits back in the same call.
/// </summary>
public interface IRegistryLimits
{
    /// <summary>Applies each registry's window of reports (<see cref="AdaptiveLimit.Next"/>, atomically against other
    /// workers' windows) and returns the state of every registry in <paramref name="reports"/> (a registry with no
    /// reports, (0, 0), is only read).</summary>
    Task<IReadOnlyDictionary<string, AdaptiveLimitState>> ApplyAsync(IReadOnlyDictionary<string, LimitReports> reports, AdaptiveLimitSettings settings,
        CancellationToken cancellationToken);
}
