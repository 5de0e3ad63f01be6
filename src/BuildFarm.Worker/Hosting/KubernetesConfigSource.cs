using BuildFarm.Worker.Options;
using k8s;
using k8s.Exceptions;
using Microsoft.Extensions.Options;

namespace BuildFarm.Worker.Hosting;

/// <summary>
/// Where the worker's Kubernetes client configuration comes from, decided at start: the pod's service account
/// (<c>Kubernetes:InCluster</c>), the kubeconfig <c>Kubernetes:KubeconfigPath</c>, else the first file of
/// <c>$KUBECONFIG</c>, else <c>~/.kube/config</c>, else — when the worker runs in a pod — the service account. When none
/// is usable the host stops with one line naming the setting (an <see cref="OptionsValidationException"/>), never with
/// the client library's stack trace.
/// </summary>
public static class KubernetesConfigSource
{
    /// <summary>The decision (pure): the kubeconfig file to read, or in-cluster, or the problem naming the setting.</summary>
    /// <param name="options">The <c>Kubernetes</c> section.</param>
    /// <param name="kubeconfigVariable">The value of <c>$KUBECONFIG</c> (a ':'-separated list), or null.</param>
    /// <param name="home">The home directory (<c>$HOME</c>).</param>
    /// <param name="fileExists">Whether a file exists (<see cref="File.Exists"/>).</param>
    /// <param name="runningInCluster">Whether this process runs in a pod (<see cref="KubernetesClientConfiguration.IsInCluster"/>).</param>
    public static (string? Path, bool InCluster, string? Error) Resolve(KubernetesOptions options, string? kubeconfigVariable, string? home,
        Func<string, bool> fileExists, bool runningInCluster)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(fileExists);
        if (options.InCluster)
        {
            return runningInCluster
                ? (null, true, null)
                : (null, false, "Kubernetes:InCluster: true, but this process does not run in a Kubernetes pod (KUBERNETES_SERVICE_HOST or the "
                    + "service account token is missing): set Kubernetes:InCluster=false and Kubernetes:KubeconfigPath to a kubeconfig");
        }
        if (!string.IsNullOrEmpty(options.KubeconfigPath))
        {
            return fileExists(options.KubeconfigPath)
                ? (options.KubeconfigPath, false, null)
                : (null, false, $"Kubernetes:KubeconfigPath: '{options.KubeconfigPath}' does not exist");
        }
        var fromVariable = (kubeconfigVariable ?? "").Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var candidates = fromVariable.Length > 0 ? fromVariable : [System.IO.Path.Combine(home ?? "/", ".kube", "config")];
        if (candidates.FirstOrDefault(fileExists) is { } found)
        {
            return (found, false, null);
        }
        if (runningInCluster)
        {
            return (null, true, null);
        }
        var looked = fromVariable.Length > 0 ? $"$KUBECONFIG ({string.Join(", ", candidates)})" : $"~/.kube/config ({candidates[0]})";
        return (null, false, $"Kubernetes:KubeconfigPath: not set, and no kubeconfig at {looked}: set Kubernetes:KubeconfigPath to a kubeconfig "
            + "(environment Kubernetes__KubeconfigPath; `buildfarm sim --kubeconfig-out sim.kubeconfig` writes one for the cluster simulator), "
            + "or run the worker in a pod with Kubernetes:InCluster=true");
    }

    /// <summary>The client configuration from the process's environment; throws <see cref="OptionsValidationException"/>
    /// naming the setting when there is none or the kubeconfig cannot be read.</summary>
    public static KubernetesClientConfiguration Load(KubernetesOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var (path, inCluster, error) = Resolve(options, Environment.GetEnvironmentVariable("KUBECONFIG"), Environment.GetEnvironmentVariable("HOME"),
            File.Exists, KubernetesClientConfiguration.IsInCluster());
        if (error is not null)
        {
            throw Invalid(error);
        }
        try
        {
            return inCluster
                ? KubernetesClientConfiguration.InClusterConfig()
                : KubernetesClientConfiguration.BuildConfigFromConfigFile(path, currentContext: string.IsNullOrEmpty(options.Context) ? null : options.Context);
        }
        catch (Exception e) when (e is KubeConfigException or IOException or YamlDotNet.Core.YamlException or UnauthorizedAccessException)
        {
            var setting = inCluster ? "Kubernetes:InCluster" : string.IsNullOrEmpty(options.Context) ? "Kubernetes:KubeconfigPath" : "Kubernetes:KubeconfigPath/Context";
            throw Invalid($"{setting}: {(inCluster ? "in-cluster configuration" : path)}: {e.Message.ReplaceLineEndings(" ")}");
        }
    }

    private static OptionsValidationException Invalid(string error) =>
        new(KubernetesOptions.SectionName, typeof(KubernetesOptions), [error]);
}
