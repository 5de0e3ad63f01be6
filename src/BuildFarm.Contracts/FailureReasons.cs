namespace BuildFarm.Contracts;

/// <summary>
/// The one vocabulary of failure reasons, shared by log analysis, events, the API, metrics and
/// dashboards. Values are the wire strings.
/// </summary>
public static class FailureReasons
{
    // Transient: retried in a new pod.
    public const string ConnectionReset = "connection_reset";
    public const string NetworkError = "network_error";
    public const string RegistryUnavailable = "registry_unavailable";
    public const string PodEvicted = "pod_evicted";
    public const string NodeLost = "node_lost";
    public const string KubeApiUnavailable = "kube_api_unavailable";

    // Permanent: the build ends.
    public const string Unauthorized = "unauthorized";
    public const string BaseImageNotFound = "base_image_not_found";
    public const string DockerfileInvalid = "dockerfile_invalid";
    public const string FilesystemConflict = "filesystem_conflict";
    public const string StepFailed = "step_failed";
    public const string ContextNotFound = "context_not_found";
    public const string OomKilled = "oom_killed";
    public const string DeadlineExceeded = "deadline_exceeded";
    public const string DependencyFailed = "dependency_failed";
    public const string Cancelled = "cancelled";
    public const string Unknown = "unknown";

    public static IReadOnlyList<string> Transient { get; } =
        [ConnectionReset, NetworkError, RegistryUnavailable, PodEvicted, NodeLost, KubeApiUnavailable];

    public static IReadOnlyList<string> Permanent { get; } =
        [Unauthorized, BaseImageNotFound, DockerfileInvalid, FilesystemConflict, StepFailed, ContextNotFound,
         OomKilled, DeadlineExceeded, DependencyFailed, Cancelled, Unknown];

    public static IReadOnlyList<string> All { get; } = [.. Transient, .. Permanent];

    /// <summary>True for reasons that are retried in a new pod.</summary>
    public static bool IsTransient(string reason) => Transient.Contains(reason, StringComparer.Ordinal);

    public static bool IsKnown(string reason) => All.Contains(reason, StringComparer.Ordinal);
}
