namespace BuildFarm.Kaniko.Pods;

/// <summary>Label and annotation keys on Kaniko pods. Labels hold label-safe (possibly shortened) values;
/// annotations with the same key hold the full value.</summary>
public static class KanikoPodLabels
{
    public const string BuildId = "buildfarm.io/build-id";
    public const string Attempt = "buildfarm.io/attempt";
    public const string BuildKey = "buildfarm.io/build-key";
    public const string Debug = "buildfarm.io/debug";

    /// <summary>On a per-platform pod of a multi-platform build: the platform slug as label (<c>linux-arm64</c>), the
    /// platform as annotation (<c>linux/arm64</c>).</summary>
    public const string Platform = "buildfarm.io/platform";

    /// <summary>Annotation: the destinations as a JSON array.</summary>
    public const string Destinations = "buildfarm.io/destinations";

    /// <summary>Annotation on debug pods: the executor arguments as a JSON array.</summary>
    public const string ExecutorArgs = "buildfarm.io/executor-args";

    /// <summary>Selector for every pod the farm manages.</summary>
    public const string ManagedSelector = "app.kubernetes.io/managed-by=buildfarm,app.kubernetes.io/component=kaniko";

    /// <summary>The build-key label value: the first 63 of the key's 64 hex digits (label values are ≤ 63).</summary>
    public static string BuildKeyLabelValue(string buildKey)
    {
        ArgumentNullException.ThrowIfNull(buildKey);
        return buildKey.Length <= KanikoPodNames.MaxLabelValueLength ? buildKey : buildKey[..KanikoPodNames.MaxLabelValueLength];
    }
}
