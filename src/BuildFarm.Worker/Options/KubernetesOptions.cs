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
        return errors;
    }
}
