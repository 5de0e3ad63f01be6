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

public sealed class CapacitySettings
{
    /// <summary>Nodes, all <c>linux/amd64</c>, when <see cref="NodePools"/> is empty.</summary>
    public int Nodes { get; set; } = 4;
    public int PodsPerNode { get; set; } = 10;

    /// <summary>Nodes of several platforms (replacing <see cref="Nodes"/> when given): each pool's nodes carry the labels
    /// <c>kubernetes.io/os</c>, <c>kubernetes.io/arch</c> and the pool's own; a pod runs only on a node its node selector
    /// matches (docs/cluster-simulator.md).</summary>
    public List<NodePoolSettings> NodePools { get; set; } = [];

    /// <summary>Most nodes a scenario may have.</summary>
    public const int MaxNodes = 10_000;

    /// <summary>The labels of each node, in node order (<c>sim-node-1</c> first).</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, string>> NodeLabels()
    {
        var nodes = new List<IReadOnlyDictionary<string, string>>();
        if (NodePools.Count == 0)
        {
            for (var i = 0; i < Math.Clamp(Nodes, 0, MaxNodes); i++)
            {
                nodes.Add(NodePoolSettings.LabelsOf("linux", "amd64", null));
            }
            return nodes;
        }
        foreach (var pool in NodePools)
        {
            for (var i = 0; i < Math.Clamp(pool.Nodes, 0, MaxNodes) && nodes.Count < MaxNodes; i++)
            {
                nodes.Add(NodePoolSettings.LabelsOf(pool.Os, pool.Arch, pool.Labels));
            }
        }
        return nodes;
    }

    internal void Validate(List<string> errors)
    {
        if (NodePools.Count == 0)
        {
            if (Nodes < 1)
            {
                errors.Add($"capacity.nodes must be at least 1 (got {Nodes})");
            }
            else if (Nodes > MaxNodes)
            {
                errors.Add($"capacity.nodes must be at most {MaxNodes} (got {Nodes})");
            }
        }
        else
        {
            var total = 0L;
            for (var i = 0; i < NodePools.Count; i++)
            {
                NodePools[i].Validate($"capacity.nodePools[{i}]", errors);
                total += Math.Max(0, NodePools[i].Nodes);
            }
            if (total > MaxNodes)
            {
                errors.Add($"capacity.nodePools have {total} nodes in all, over the limit of {MaxNodes}");
            }
        }
        if (PodsPerNode < 1)
        {
            errors.Add($"capacity.podsPerNode must be at least 1 (got {PodsPerNode})");
        }
    }
}

/// <summary>Nodes of one platform: <c>{name: arm, nodes: 2, os: linux, arch: arm64, labels: {pool: builds}}</c>.</summary>
public sealed class NodePoolSettings
{
    public string Name { get; set; } = "pool";
    public int Nodes { get; set; } = 1;

    /// <summary>The node's <c>kubernetes.io/os</c> (GOOS): <c>linux</c>, <c>windows</c>.</summary>
    public string Os { get; set; } = "linux";

    /// <summary>The node's <c>kubernetes.io/arch</c> (GOARCH): <c>amd64</c>, <c>arm64</c>, <c>s390x</c>, …</summary>
    public string Arch { get; set; } = "amd64";

    /// <summary>More node labels a pod's node selector may name.</summary>
    public Dictionary<string, string> Labels { get; set; } = new(StringComparer.Ordinal);

    internal static IReadOnlyDictionary<string, string> LabelsOf(string os, string arch, IReadOnlyDictionary<string, string>? more)
    {
        var labels = new Dictionary<string, string>(more ?? new Dictionary<string, string>(), StringComparer.Ordinal)
        {
            ["kubernetes.io/os"] = os,
            ["kubernetes.io/arch"] = arch,
        };
        return labels;
    }

    internal void Validate(string field, List<string> errors)
    {
        if (Nodes < 1)
        {
            errors.Add($"{field}.nodes must be at least 1 (got {Nodes})");
        }
        foreach (var (name, value) in new[] { ("os", Os), ("arch", Arch) })
        {
            if (string.IsNullOrEmpty(value) || value.Length > 20 || !value.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_'))
            {
                errors.Add($"{field}.{name} must be 1-20 lower-case letters, digits or '_' (got '{value}')");
            }
        }
        if (Labels.Count > 32)
        {
            errors.Add($"{field}.labels has {Labels.Count} labels, over the limit of 32");
        }
    }
}

public sealed class QuotaSettings
{
    /// <summary>Non-terminated pods allowed per namespace; 0 = no quota.</summary>
    public int PodsPerNamespace { get; set; }

    /// <summary>
    /// A LimitRange's largest memory limit per container (a Kubernetes quantity such as <c>8Gi</c>); a pod with a container
    /// whose memory limit is above it is refused (403, as the LimitRanger admission plugin does). Empty: no limit.
    /// </summary>
    public string? MaxContainerMemory { get; set; }

    /// <summary><see cref="MaxContainerMemory"/> as a quantity, or null when unset or not a quantity.</summary>
    public k8s.Models.ResourceQuantity? MaxContainerMemoryQuantity()
    {
        if (string.IsNullOrWhiteSpace(MaxContainerMemory))
        {
            return null;
        }
        try
        {
            var quantity = new k8s.Models.ResourceQuantity(MaxContainerMemory.Trim());
            return quantity.ToDecimal() > 0 ? quantity : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}

/// <summary>A lognormal distribution given by its median and 95th percentile, in simulated seconds.</summary>
public sealed class Distribution
{
    public double Median { get; set; } = 1;
    public double P95 { get; set; } = 3;

    public Distribution()
    {
    }

    public Distribution(double median, double p95)
    {
        Median = median;
        P95 = p95;
    }

    internal void Validate(string name, List<string> errors)
    {
        if (!(Median >= 0))
        {
            errors.Add($"{name}.median must be 0 or more (got {Median})");
        }
        if (!(P95 >= Median))
        {
            errors.Add($"{name}.p95 must be at least the median (got p95 {P95}, median {Median})");
        }
    }

    /// <summary>Draws a value: exp(mu + sigma z) with mu = ln(median), sigma = ln(p95/median)/1.645.</summary>
    public double Sample(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        if (Median <= 0)
        {
            return 0;
        }
        var sigma = P95 > Median ? Math.Log(P95 / Median) / 1.6448536269514722 : 0;
        // Box-Muller: two uniforms, always drawn so the stream position does not depend on the values.
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        var z = Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
        return Median * Math.Exp(sigma * z);
    }
}

/// <summary>Simulated durations of each phase.</summary>
public sealed class TimingSettings
{
    /// <summary>Scheduler latency: created → bound to a node.</summary>
    public Distribution? Schedule { get; set; }

    /// <summary>Pulling the executor image (ContainerCreating).</summary>
    public Distribution? ExecutorPull { get; set; }

    /// <summary>Base-image manifest and config retrieval.</summary>
    public Distribution? Manifest { get; set; }

    /// <summary>Base layers download and untar.</summary>
    public Distribution? Extract { get; set; }

    /// <summary>A non-RUN instruction (ENV, WORKDIR, COPY…).</summary>
    public Distribution? Step { get; set; }

    /// <summary>A RUN instruction, including its snapshot.</summary>
    public Distribution? Run { get; set; }

    /// <summary>Pushing the image to one destination.</summary>
    public Distribution? Push { get; set; }

    /// <summary>How long a network attempt runs before a reset or timeout ends it.</summary>
    public Distribution? FailedAttempt { get; set; }

    public static TimingSettings Defaults() => new()
    {
        Schedule = new(0.2, 1),
        ExecutorPull = new(2, 10),
        Manifest = new(0.5, 3),
        Extract = new(6, 30),
        Step = new(0.3, 2),
        Run = new(12, 90),
        Push = new(5, 30),
        FailedAttempt = new(3, 20),
    };

    internal void Validate(string prefix, List<string> errors)
    {
        Schedule?.Validate($"{prefix}.schedule", errors);
        ExecutorPull?.Validate($"{prefix}.executorPull", errors);
        Manifest?.Validate($"{prefix}.manifest", errors);
        Extract?.Validate($"{prefix}.extract", errors);
        Step?.Validate($"{prefix}.step", errors);
        Run?.Validate($"{prefix}.run", errors);
        Push?.Validate($"{prefix}.push", errors);
        FailedAttempt?.Validate($"{prefix}.failedAttempt", errors);
    }

    /// <summary>This with every unset phase taken from <paramref name="fallback"/>.</summary>
    public TimingSettings Over(TimingSettings fallback) => new()
    {
        Schedule = Schedule ?? fallback.Schedule,
        ExecutorPull = ExecutorPull ?? fallback.ExecutorPull,
        Manifest = Manifest ?? fallback.Manifest,
        Extract = Extract ?? fallback.Extract,
        Step = Step ?? fallback.Step,
        Run = Run ?? fallback.Run,
        Push = Push ?? fallback.Push,
        FailedAttempt = FailedAttempt ?? fallback.FailedAttempt,
    };
}

/// <summary>Fault probabilities. Reset and timeout rates apply per attempt; the others per pod.</summary>
public sealed class FaultSettings
{
    public double? PullReset { get; set; }
    public double? ExtractReset { get; set; }
    public double? PushReset { get; set; }
    public double? PullTimeout { get; set; }
    public double? PushTimeout { get; set; }
    public double? Unauthorized { get; set; }
    public double? BaseImageNotFound { get; set; }
    public double? RunFailure { get; set; }

    /// <summary>Exit code of a failing RUN (Kaniko passes it through).</summary>
    public int? RunExitCode { get; set; }

    public double? OomKilled { get; set; }
    public double? Evicted { get; set; }
    public double? ExecutorImagePullBackOff { get; set; }
    public double? NodeLost { get; set; }

    internal void Validate(string prefix, List<string> errors)
    {
        void R(string name, double? value)
        {
            if (value is { } v)
            {
                Scenario.Rate(errors, $"{prefix}.{name}", v);
            }
        }
        R("pullReset", PullReset);
        R("extractReset", ExtractReset);
        R("pushReset", PushReset);
        R("pullTimeout", PullTimeout);
        R("pushTimeout", PushTimeout);
        R("unauthorized", Unauthorized);
        R("baseImageNotFound", BaseImageNotFound);
        R("runFailure", RunFailure);
        R("oomKilled", OomKilled);
        R("evicted", Evicted);
        R("executorImagePullBackOff", ExecutorImagePullBackOff);
        R("nodeLost", NodeLost);
        if (RunExitCode is { } code && (code < 1 || code > 255))
        {
            errors.Add($"{prefix}.runExitCode must be between 1 and 255 (got {code})");
        }
    }

    public FaultSettings Over(FaultSettings fallback) => new()
    {
        PullReset = PullReset ?? fallback.PullReset,
        ExtractReset = ExtractReset ?? fallback.ExtractReset,
        PushReset = PushReset ?? fallback.PushReset,
        PullTimeout = PullTimeout ?? fallback.PullTimeout,
        PushTimeout = PushTimeout ?? fallback.PushTimeout,
        Unauthorized = Unauthorized ?? fallback.Unauthorized,
        BaseImageNotFound = BaseImageNotFound ?? fallback.BaseImageNotFound,
        RunFailure = RunFailure ?? fallback.RunFailure,
        RunExitCode = RunExitCode ?? fallback.RunExitCode,
        OomKilled = OomKilled ?? fallback.OomKilled,
        Evicted = Evicted ?? fallback.Evicted,
        ExecutorImagePullBackOff = ExecutorImagePullBackOff ?? fallback.ExecutorImagePullBackOff,
        NodeLost = NodeLost ?? fallback.NodeLost,
    };
}

public sealed class RegistrySettings
{
    /// <summary>
    /// A real registry this host stands for, e.g. <c>http://127.0.0.1:5000</c>: a pod that pushes to the host pushes a
    /// small genuine image (config + layer, its platform in the config) there, anonymously, and reports that digest.
    /// </summary>
    public string? Endpoint { get; set; }

    /// <summary>
    /// Concurrent pushes this registry takes before it starts resetting connections (null: unlimited). Above it, each
    /// push try of a pod resets with probability <see cref="Scenario.CongestionResetRate"/> — 1.5 × the excess over the
    /// capacity as a fraction of it, at most 0.9 — or the registry's <c>pushReset</c> if higher.
    /// </summary>
    public int? Capacity { get; set; }

    /// <summary>
    /// The share of the capacity model's refusals answered "429 Too Many Requests" (the registry's
    /// <c>TOOMANYREQUESTS</c> error) instead of a connection reset: a registry that still answers when overloaded,
    /// as rate-limiting registries and proxies do. Configured <c>pushReset</c> faults stay resets.
    /// </summary>
    public double TooManyRequests { get; set; } = 0.25;

    public TimingSettings? Timings { get; set; }
    public FaultSettings? Faults { get; set; }
}

public sealed class CacheSettings
{
    /// <summary>Probability that a RUN layer is found in the cache (with <c>--cache</c>).</summary>
    public double HitRate { get; set; } = 0.5;
}

/// <summary>A Dockerfile as the simulated Kaniko sees it: a base image and the instructions after FROM.</summary>
public sealed class DockerfileSettings
{
    /// <summary>Substring of <c>--context</c>, <c>--dockerfile</c> or a destination that selects this entry.</summary>
    public string? Match { get; set; }

    public string Base { get; set; } = "alpine:3.20";
    public List<string> Steps { get; set; } = [];

    /// <summary>Lines a RUN prints on stdout.</summary>
    public List<string> RunOutput { get; set; } = [];

    /// <summary>
    /// The memory a build of this Dockerfile needs (a Kubernetes quantity such as <c>1536Mi</c>): a pod whose Kaniko
    /// container has a memory limit below it is OOM-killed in its last RUN (exit 137, reason OOMKilled), every time.
    /// Empty: no such need (only <c>faults.oomKilled</c> kills).
    /// </summary>
    public string? Memory { get; set; }

    /// <summary><see cref="Memory"/> in bytes, or null when unset or not a positive quantity.</summary>
    public decimal? MemoryBytes()
    {
        if (string.IsNullOrWhiteSpace(Memory))
        {
            return null;
        }
        try
        {
            var bytes = new k8s.Models.ResourceQuantity(Memory.Trim()).ToDecimal();
            return bytes > 0 ? bytes : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    public static DockerfileSettings Default() => new()
    {
        Base = "alpine:3.20",
        Steps =
        [
            "WORKDIR /app",
            "COPY . /app",
            "RUN apk add --no-cache ca-certificates && ./build.sh",
            "ENV APP_ENV=production",
            "CMD [\"/app/server\"]",
        ],
        RunOutput = ["fetch https://dl-cdn.alpinelinux.org/alpine/v3.20/main/x86_64/APKINDEX.tar.gz", "OK: 8 MiB in 16 packages"],
    };

    internal void Validate(string prefix, List<string> errors)
    {
        if (string.IsNullOrWhiteSpace(Base))
        {
            errors.Add($"{prefix}.base is required");
        }
        if (!string.IsNullOrWhiteSpace(Memory) && MemoryBytes() is null)
        {
            errors.Add($"{prefix}.memory must be a positive Kubernetes quantity such as 2Gi (got '{Memory}')");
        }
        foreach (var step in Steps)
        {
            if (string.IsNullOrWhiteSpace(step) || step.TrimStart().StartsWith("FROM ", StringComparison.OrdinalIgnoreCase))
            {
                errors.Add($"{prefix}.steps: \"{step}\" is not an instruction after FROM (FROM goes in base)");
            }
        }
    }
}

/// <summary>Faults of the API server itself.</summary>
public sealed class ApiSettings
{
    /// <summary>Probability a resource request is answered 429 with Retry-After.</summary>
    public double ThrottleRate { get; set; }

    public int RetryAfterSeconds { get; set; } = 1;

    /// <summary>Probability a resource request is answered 500.</summary>
    public double ErrorRate { get; set; }

    /// <summary>Probability a resource request is delayed by <see cref="SlowMilliseconds"/>.</summary>
    public double SlowRate { get; set; }

    public int SlowMilliseconds { get; set; } = 500;

    /// <summary>Probability a watch connection is dropped (aborted) after <see cref="DropAfterMilliseconds"/>.</summary>
    public double DropWatchRate { get; set; }

    /// <summary>Probability a followed log stream is dropped (aborted) after <see cref="DropAfterMilliseconds"/>.</summary>
    public double DropLogRate { get; set; }

    public int DropAfterMilliseconds { get; set; } = 1000;

    /// <summary>Wall seconds between watch bookmarks (when the client allows them).</summary>
    public double BookmarkIntervalSeconds { get; set; } = 30;

    internal void Validate(List<string> errors)
    {
        Scenario.Rate(errors, "api.throttleRate", ThrottleRate);
        Scenario.Rate(errors, "api.errorRate", ErrorRate);
        Scenario.Rate(errors, "api.slowRate", SlowRate);
        Scenario.Rate(errors, "api.dropWatchRate", DropWatchRate);
        Scenario.Rate(errors, "api.dropLogRate", DropLogRate);
        if (RetryAfterSeconds < 0 || SlowMilliseconds < 0 || DropAfterMilliseconds < 0)
        {
            errors.Add("api.retryAfterSeconds, api.slowMilliseconds and api.dropAfterMilliseconds must be 0 or more");
        }
        if (!(BookmarkIntervalSeconds > 0))
        {
            errors.Add($"api.bookmarkIntervalSeconds must be positive (got {BookmarkIntervalSeconds})");
        }
    }
}
