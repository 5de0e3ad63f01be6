namespace BuildFarm.Registry;

/// <summary>Settings of a <see cref="RegistryClient"/> (configuration section <c>Registry</c> where a host binds it).</summary>
public sealed class RegistryClientOptions
{
    /// <summary>
    /// Where a registry host is reached when not at <c>https://host</c>: host → base URL, e.g.
    /// <c>registry.example.com</c> → <c>http://127.0.0.1:5000</c> (a mirror, a port-forward, a test registry).
    /// Credentials are still looked up by the host the image names.
    /// </summary>
    public IDictionary<string, Uri> Endpoints { get; } = new Dictionary<string, Uri>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Hosts reached over plain HTTP (<c>http://host</c>) instead of HTTPS: Kaniko's <c>--insecure-registry</c>.</summary>
    public ISet<string> PlainHttpRegistries { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>The Docker config.json with registry credentials (the file mounted for Kaniko); null or missing: anonymous.</summary>
    public string? DockerConfigPath { get; set; }

    /// <summary>Largest manifest or index read (the distribution spec asks registries to accept at least 4 MiB).</summary>
    public int MaxManifestBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Largest token-endpoint response read.</summary>
    public int MaxTokenResponseBytes { get; set; } = 64 * 1024;

    /// <summary>Largest error body read (for its <c>errors[].code</c>).</summary>
    public int MaxErrorBodyBytes { get; set; } = 16 * 1024;

    /// <summary>Largest blob <see cref="RegistryClient.GetBlobAsync"/> reads.</summary>
    public int MaxBlobBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Retries after a connection error or a 408/429/5xx answer (exponential backoff with jitter, Retry-After honoured).</summary>
    public int MaxRetries { get; set; } = 4;

    /// <summary>First retry delay; doubles each time, capped at 10 s.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>One HTTP request's timeout (headers and bounded body).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The <c>phase</c> label connection resets are reported under (<see cref="IRegistryResetObserver"/>).</summary>
    public string ResetPhase { get; set; } = "index";

    /// <summary>Problems with these settings, each naming its key.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        foreach (var (host, uri) in Endpoints)
        {
            if (uri is null || !uri.IsAbsoluteUri || uri.Scheme is not ("http" or "https"))
            {
                errors.Add($"Registry:Endpoints:{host}: '{uri}' must be an absolute http or https URL");
            }
        }
        Positive(nameof(MaxManifestBytes), MaxManifestBytes, 64 * 1024 * 1024);
        Positive(nameof(MaxTokenResponseBytes), MaxTokenResponseBytes, 1024 * 1024);
        Positive(nameof(MaxErrorBodyBytes), MaxErrorBodyBytes, 1024 * 1024);
        Positive(nameof(MaxBlobBytes), MaxBlobBytes, 1024 * 1024 * 1024);
        if (MaxRetries is < 0 or > 10)
        {
            errors.Add($"Registry:{nameof(MaxRetries)}: {MaxRetries} must be 0-10");
        }
        if (RetryBaseDelay <= TimeSpan.Zero || RetryBaseDelay > TimeSpan.FromSeconds(30))
        {
            errors.Add($"Registry:{nameof(RetryBaseDelay)}: {RetryBaseDelay} must be positive and at most 30 s");
        }
        if (RequestTimeout <= TimeSpan.Zero || RequestTimeout > TimeSpan.FromMinutes(10))
        {
            errors.Add($"Registry:{nameof(RequestTimeout)}: {RequestTimeout} must be positive and at most 10 min");
        }
        if (string.IsNullOrWhiteSpace(ResetPhase))
        {
            errors.Add($"Registry:{nameof(ResetPhase)}: must not be empty");
        }
        return errors;

        void Positive(string name, int value, int max)
        {
            if (value <= 0 || value > max)
            {
                errors.Add($"Registry:{name}: {value} must be 1-{max}");
            }
        }
    }
}

/// <summary>Told of every connection reset between the client and a registry (retried or not): the worker counts them
/// in <c>buildfarm_connection_resets_total{phase, registry}</c>.</summary>
public interface IRegistryResetObserver
{
    void ConnectionReset(string registry, string phase);
}

/// <summary>A registry answered with an error, or with something the client refuses (too large, wrong digest).</summary>
public sealed class RegistryException : Exception
{
    public RegistryException(string message, int? statusCode = null, string? errorCode = null, Exception? inner = null)
        : base(message, inner)
    {
        StatusCode = statusCode;
        ErrorCode = errorCode;
    }

    public RegistryException()
    {
    }

    public RegistryException(string message) : base(message)
    {
    }

    public RegistryException(string message, Exception innerException) : base(message, innerException)
    {
    }

    /// <summary>The HTTP status, when the registry answered.</summary>
    public int? StatusCode { get; }

    /// <summary>The first <c>errors[].code</c> of the body (<c>MANIFEST_UNKNOWN</c>, <c>UNAUTHORIZED</c>, …).</summary>
    public string? ErrorCode { get; }
}
