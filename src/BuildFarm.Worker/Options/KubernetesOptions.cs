namespace BuildFarm.Worker.Options;

/// <summary>The <c>Kubernetes</c> configuration section: how the worker reaches the API server.</summary>
public sealed class KubernetesOptions
{
    public const string SectionName = "Kubernetes";

    /// <summary>Use the pod's service account (in-cluster config). Otherwise <see cref="KubeconfigPath"/> or the default kubeconfig.</summary>
    public bool InCluster { get; set; }

    /// <summary>A kubeconfig file; empty takes <c>$KUBECONFIG</c> or <c>~/.kube/config</c>.</summary>
    public string? KubeconfigPath { get; set; }

    /// <summary>The kubeconfig context; empty takes the current context.</summary>
    public string? Context { get; set; }

    /// <summary>Retries of one API request (429, 5xx, connection errors) before the error reaches the build; exponential with jitter.</summary>
    public int MaxRetries { get; set; } = 6;

    /// <summary>The first retry's delay; doubles per retry, at most 10 s (a 429's Retry-After wins, capped at 30 s).</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (InCluster && !string.IsNullOrEmpty(KubeconfigPath))
        {
            errors.Add("Kubernetes:KubeconfigPath: must be empty when Kubernetes:InCluster is true");
        }
        if (!InCluster && !string.IsNullOrEmpty(KubeconfigPath) && !File.Exists(KubeconfigPath))
        {
            errors.Add($"Kubernetes:KubeconfigPath: '{KubeconfigPath}' does not exist");
        }
        if (MaxRetries is < 0 or > 20)
        {
            errors.Add($"Kubernetes:MaxRetries: {MaxRetries} must be between 0 and 20");
        }
        if (RetryBaseDelay <= TimeSpan.Zero || RetryBaseDelay > TimeSpan.FromSeconds(10))
        {
            errors.Add($"Kubernetes:RetryBaseDelay: {RetryBaseDelay} must be positive and at most 10 s");
        }
        return errors;
    }
}
