namespace BuildFarm.ClusterSim.Scenarios;

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
