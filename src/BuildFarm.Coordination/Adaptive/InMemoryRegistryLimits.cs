namespace BuildFarm.Coordination.Adaptive;

/// <summary>Adaptive registry limits in process (demo and unit tests), with the same semantics as the Redis ones.</summary>
public sealed class InMemoryRegistryLimits(TimeProvider time) : IRegistryLimits
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, AdaptiveLimitState> _states = new(StringComparer.OrdinalIgnoreCase);

    public Task<IReadOnlyDictionary<string, AdaptiveLimitState>> ApplyAsync(IReadOnlyDictionary<string, LimitReports> reports, AdaptiveLimitSettings settings,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reports);
        ArgumentNullException.ThrowIfNull(settings);
        cancellationToken.ThrowIfCancellationRequested();
        var now = time.GetUtcNow();
        var result = new Dictionary<string, AdaptiveLimitState>(StringComparer.OrdinalIgnoreCase);
        lock (_gate)
        {
            foreach (var (registry, window) in reports)
            {
                var state = _states.TryGetValue(registry, out var stored) ? stored : AdaptiveLimit.Initial(settings);
                var next = AdaptiveLimit.Next(state, window.Clean, window.Congested, now, settings);
                if (window.Clean > 0 || window.Congested > 0)
                {
                    _states[registry] = next;
                }
                result[registry] = next;
            }
        }
        return Task.FromResult<IReadOnlyDictionary<string, AdaptiveLimitState>>(result);
    }
}
