namespace BuildFarm.ClusterSim.Scenarios;

/// <summary>
/// What the simulated cluster does: time scale, capacity, timing distributions, fault rates and the Dockerfiles
/// the simulated Kaniko "builds". Loaded from YAML by <see cref="ScenarioLoader"/>; see docs/cluster-simulator.md.
/// </summary>
public sealed class Scenario
{
    /// <summary>Simulated seconds per wall second (60 = one simulated minute per second).</summary>
    public double TimeScale { get; set; } = 30;

    public CapacitySettings Capacity { get; set; } = new();
    public QuotaSettings Quota { get; set; } = new();
    public TimingSettings Timings { get; set; } = new();
    public FaultSettings Faults { get; set; } = new();

    /// <summary>Per registry host (e.g. <c>ghcr.io</c>, <c>index.docker.io</c>): timing and fault overrides.</summary>
    public Dictionary<string, RegistrySettings> Registries { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The probability that one push try resets at a registry of <paramref name="capacity"/> concurrent pushes
    /// while <paramref name="load"/> pods push there: 0 up to the capacity, then 1.5 × (load − capacity) / capacity, at most 0.9.</summary>
    public static double CongestionResetRate(int load, int capacity) =>
        capacity < 1 || load <= capacity ? 0 : Math.Min(0.9, 1.5 * (load - capacity) / capacity);

    /// <summary>The faults for a registry host: its <c>registries.&lt;host&gt;.faults</c> over the global <see cref="Faults"/>.</summary>
    public FaultSettings FaultsFor(string registry) =>
        Registries.TryGetValue(registry, out var r) && r.Faults is { } f ? f.Over(Faults) : Faults;

    public CacheSettings Cache { get; set; } = new();

    /// <summary>Per-image build durations: how much slower or faster each image's <c>RUN</c> steps are than
    /// <c>timings.run</c> (<see cref="ImageDurationSettings"/>). The default leaves every image alike.</summary>
    public ImageDurationSettings ImageDurations { get; set; } = new();

    /// <summary>The Dockerfile built when no entry of <see cref="Dockerfiles"/> matches.</summary>
    public DockerfileSettings Dockerfile { get; set; } = DockerfileSettings.Default();

    /// <summary>Dockerfiles chosen by a substring of the pod's <c>--context</c>, <c>--dockerfile</c> or destination.</summary>
    public List<DockerfileSettings> Dockerfiles { get; set; } = [];

    public ApiSettings Api { get; set; } = new();

    /// <summary>How many watch events are kept for watch-from-resourceVersion; older versions get 410 Expired.</summary>
    public int History { get; set; } = 10_000;

    /// <summary>Every problem with the values, as messages naming the field; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!(TimeScale > 0) || double.IsInfinity(TimeScale))
        {
            errors.Add($"timeScale must be a positive number (got {TimeScale})");
        }
        Capacity.Validate(errors);
        if (Quota.PodsPerNamespace < 0)
        {
            errors.Add($"quota.podsPerNamespace must be 0 (unlimited) or more (got {Quota.PodsPerNamespace})");
        }
        if (!string.IsNullOrWhiteSpace(Quota.MaxContainerMemory) && Quota.MaxContainerMemoryQuantity() is null)
        {
            errors.Add($"quota.maxContainerMemory must be a positive Kubernetes quantity such as 8Gi (got '{Quota.MaxContainerMemory}')");
        }
        if (History < 10)
        {
            errors.Add($"history must be at least 10 (got {History})");
        }
        Timings.Validate("timings", errors);
        Faults.Validate("faults", errors);
        foreach (var (host, registry) in Registries)
        {
            if (registry.Endpoint is { } endpoint
                && (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")))
            {
                errors.Add($"registries.{host}.endpoint must be an absolute http or https URL (got '{endpoint}')");
            }
            if (registry.Capacity is < 1 or > 100_000)
            {
                errors.Add($"registries.{host}.capacity must be between 1 and 100000 (got {registry.Capacity})");
            }
            Rate(errors, $"registries.{host}.tooManyRequests", registry.TooManyRequests);
            registry.Timings?.Validate($"registries.{host}.timings", errors);
            registry.Faults?.Validate($"registries.{host}.faults", errors);
        }
        Rate(errors, "cache.hitRate", Cache.HitRate);
        Dockerfile.Validate("dockerfile", errors);
        for (var i = 0; i < Dockerfiles.Count; i++)
        {
            Dockerfiles[i].Validate($"dockerfiles[{i}]", errors);
            if (string.IsNullOrEmpty(Dockerfiles[i].Match))
            {
                errors.Add($"dockerfiles[{i}].match is required");
            }
        }
        ImageDurations.Validate(errors);
        Api.Validate(errors);
        return errors;
    }

    internal static void Rate(List<string> errors, string name, double value)
    {
        if (!(value >= 0 && value <= 1))
        {
            errors.Add($"{name} must be a probability between 0 and 1 (got {value})");
        }
    }
}
