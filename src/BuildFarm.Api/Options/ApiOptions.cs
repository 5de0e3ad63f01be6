using BuildFarm.Kaniko.Specs;

namespace BuildFarm.Api.Options;

/// <summary>The <c>Api</c> configuration section. Keys are read separately (<see cref="Auth.ApiKeyRing"/>).</summary>
public sealed class ApiOptions
{
    public const string SectionName = "Api";

    /// <summary>Dev mode: no authentication at all, every request acts as <c>anonymous</c> with every scope. Logged loudly.</summary>
    public bool DisableAuth { get; set; }

    /// <summary>A mounted secret directory: each file is one key, the file name its name (Kubernetes Secret volume).</summary>
    public string? KeysDirectory { get; set; }

    /// <summary>Scopes of a key from <see cref="KeysDirectory"/> that has no <c>Api:Keys:&lt;name&gt;:Scopes</c> entry.</summary>
    public string DefaultScopes { get; set; } = "read";

    /// <summary>Run the status projector and the batch orchestrator consumers in this host (read at registration).</summary>
    public bool HostStatusConsumers { get; set; } = true;

    /// <summary>Largest request body, in bytes (a JSON batch or a manifest).</summary>
    public long MaxBodyBytes { get; set; } = 1024 * 1024;

    public int MaxImagesPerBatch { get; set; } = 1000;
    public int MaxDestinations { get; set; } = 16;
    public int MaxBuildArgs { get; set; } = 64;
    public int MaxBuildArgValueBytes { get; set; } = 4096;

    /// <summary>Destination patterns (<c>registry.example.com/team/*</c>, <c>**</c> across components); empty allows all.</summary>
    public IList<string> AllowedDestinations { get; set; } = [];

    /// <summary>
    /// Directories a <c>dir://</c> build context may name (docs/security.md "dir:// contexts"). Empty (the default): a
    /// <c>dir://</c> context is refused (400 naming <c>context</c>). A context is allowed when its directory and its
    /// Dockerfile lie under one of these once <c>..</c> and symbolic links (those that exist on this machine) are resolved.
    /// The workers check again with <c>Worker:AllowedContextRoots</c>.
    /// </summary>
    public IList<string> AllowedContextRoots { get; set; } = [];

    /// <summary>Furthest a request's <c>deadline</c> may lie in the future (default 7 days); 400 beyond it.</summary>
    public TimeSpan MaxDeadline { get; set; } = TimeSpan.FromDays(7);

    /// <summary>The largest resource quantities a spec may ask for (<c>Api:MaxResources:Cpu</c>, <c>:Memory</c>,
    /// <c>:EphemeralStorage</c>; defaults 64, 256Gi, 1Ti).</summary>
    public BuildResourceLimits MaxResources { get; set; } = new();

    /// <summary>How long a publish may wait for the broker's confirm before the submit is rolled back (503).</summary>
    public TimeSpan PublishTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The <c>Retry-After</c> sent with a 503.</summary>
    public TimeSpan RetryAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long an <c>Idempotency-Key</c> is remembered.</summary>
    public TimeSpan IdempotencyTtl { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Interval of the SSE heartbeat comment (which also re-reads the records, so no change is missed).</summary>
    public TimeSpan SseHeartbeat { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Largest page of <c>GET /v1/builds</c>.</summary>
    public int MaxPageSize { get; set; } = 500;

    /// <summary>The executor image hashed into each build's key (<c>BuildQueued.BuildKey</c>); the worker's
    /// <c>Kaniko:ExecutorImage</c> when set there.</summary>
    public string? ExecutorImage { get; set; }

    /// <summary>Opt-in metric labels (<c>Api:Metrics</c>).</summary>
    public ApiMetricsOptions Metrics { get; set; } = new();

    /// <summary>The largest <see cref="MaxDeadline"/>: below .NET's longest timer (about 49.7 days).</summary>
    public static readonly TimeSpan MaxDeadlineLimit = TimeSpan.FromDays(49);

    /// <summary>The largest page the status stores serve.</summary>
    public const int MaxStorePage = 1000;

    public BuildSpecValidationOptions SpecValidation() => new()
    {
        AllowedDestinations = AllowedDestinations,
        MaxDestinations = MaxDestinations,
        MaxBuildArgs = MaxBuildArgs,
        MaxBuildArgValueBytes = MaxBuildArgValueBytes,
        MaxResources = MaxResources,
    };

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        void Positive(string name, double value)
        {
            if (value <= 0)
            {
                errors.Add($"Api:{name}: must be positive");
            }
        }
        Positive(nameof(MaxBodyBytes), MaxBodyBytes);
        Positive(nameof(MaxImagesPerBatch), MaxImagesPerBatch);
        Positive(nameof(MaxDestinations), MaxDestinations);
        Positive(nameof(MaxBuildArgs), MaxBuildArgs);
        Positive(nameof(MaxBuildArgValueBytes), MaxBuildArgValueBytes);
        Positive(nameof(MaxPageSize), MaxPageSize);
        if (MaxPageSize > MaxStorePage)
        {
            errors.Add($"Api:MaxPageSize: {MaxPageSize} exceeds the status store's largest page ({MaxStorePage})");
        }
        Positive(nameof(PublishTimeout), PublishTimeout.TotalSeconds);
        Positive(nameof(RetryAfter), RetryAfter.TotalSeconds);
        Positive(nameof(IdempotencyTtl), IdempotencyTtl.TotalSeconds);
        Positive(nameof(SseHeartbeat), SseHeartbeat.TotalSeconds);
        Positive(nameof(MaxDeadline), MaxDeadline.TotalSeconds);
        if (MaxDeadline > MaxDeadlineLimit)
        {
            errors.Add($"Api:MaxDeadline: {MaxDeadline} exceeds {MaxDeadlineLimit.TotalDays:0} days (the longest timer a worker can set)");
        }
        errors.AddRange((MaxResources ?? new()).Validate("Api:MaxResources"));
        for (var i = 0; i < AllowedContextRoots.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(AllowedContextRoots[i]) || !AllowedContextRoots[i].StartsWith('/'))
            {
                errors.Add($"Api:AllowedContextRoots:{i}: '{AllowedContextRoots[i]}' must be an absolute path");
            }
        }
        foreach (var problem in BuildSpecValidator.Validate(Probe, SpecValidation()).Errors.Where(e => e.Field.StartsWith("allowedDestinations", StringComparison.Ordinal)))
        {
            errors.Add($"Api:{problem}");
        }
        if (!string.IsNullOrEmpty(KeysDirectory) && !Directory.Exists(KeysDirectory))
        {
            errors.Add($"Api:KeysDirectory: '{KeysDirectory}' does not exist");
        }
        return errors;
    }

    private static readonly Contracts.BuildSpec Probe = new() { Context = "dir:///workspace", Destinations = ["registry.invalid/probe:1"] };
}

/// <summary>The <c>Api:Metrics</c> section.</summary>
public sealed class ApiMetricsOptions
{
    /// <summary>
    /// Add a <c>tenant</c> label to the submit and cancel counters. Off by default: a label per tenant multiplies the
    /// series (one per tenant and kind), so turn it on only with a bounded number of tenants.
    /// </summary>
    public bool TenantLabel { get; set; }
}
