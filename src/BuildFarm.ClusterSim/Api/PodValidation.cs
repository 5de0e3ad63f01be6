using System.Text.RegularExpressions;
using k8s.Models;

namespace BuildFarm.ClusterSim.Api;

/// <summary>Validation and defaulting of a pod on create, as the API server does for the fields the simulator uses.</summary>
public static partial class PodValidation
{
    private const string SubdomainMessage =
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

    private const string LabelMessage =
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex Subdomain();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Label();

    public static bool IsSubdomain(string name) => name.Length <= 253 && Subdomain().IsMatch(name);

    /// <summary>Checks the pod and fills defaults; throws 422 Invalid listing every problem.</summary>
    public static void ValidateAndDefault(V1Pod pod, Random nameRandom)
    {
        ArgumentNullException.ThrowIfNull(pod);
        ArgumentNullException.ThrowIfNull(nameRandom);
        var causes = new List<(string, string, string)>();
        pod.Metadata ??= new V1ObjectMeta();
        if (string.IsNullOrEmpty(pod.Metadata.Name) && !string.IsNullOrEmpty(pod.Metadata.GenerateName))
        {
            const string chars = "bcdfghjklmnpqrstvwxz2456789";
            pod.Metadata.Name = pod.Metadata.GenerateName + new string(Enumerable.Range(0, 5).Select(_ => chars[nameRandom.Next(chars.Length)]).ToArray());
        }
        var name = pod.Metadata.Name ?? string.Empty;
        if (name.Length == 0)
        {
            causes.Add(("metadata.name", "FieldValueRequired", "Required value: name or generateName is required"));
        }
        else if (!IsSubdomain(name))
        {
            causes.Add(("metadata.name", "FieldValueInvalid", $"Invalid value: \"{name}\": {SubdomainMessage}"));
        }
        var containers = pod.Spec?.Containers;
        if (pod.Spec is null || containers is null || containers.Count == 0)
        {
            causes.Add(("spec.containers", "FieldValueRequired", "Required value"));
        }
        else
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < containers.Count; i++)
            {
                var c = containers[i];
                if (string.IsNullOrEmpty(c.Name))
                {
                    causes.Add(($"spec.containers[{i}].name", "FieldValueRequired", "Required value"));
                }
                else if (!Label().IsMatch(c.Name) || c.Name.Length > 63)
                {
                    causes.Add(($"spec.containers[{i}].name", "FieldValueInvalid", $"Invalid value: \"{c.Name}\": {LabelMessage}"));
                }
                else if (!seen.Add(c.Name))
                {
                    causes.Add(($"spec.containers[{i}].name", "FieldValueDuplicate", $"Duplicate value: \"{c.Name}\""));
                }
                if (string.IsNullOrWhiteSpace(c.Image))
                {
                    causes.Add(($"spec.containers[{i}].image", "FieldValueRequired", "Required value"));
                }
            }
            if (pod.Spec.RestartPolicy is not (null or "Always" or "OnFailure" or "Never"))
            {
                causes.Add(("spec.restartPolicy", "FieldValueNotSupported",
                    $"Unsupported value: \"{pod.Spec.RestartPolicy}\": supported values: \"Always\", \"OnFailure\", \"Never\""));
            }
            if (pod.Spec.ActiveDeadlineSeconds is <= 0)
            {
                causes.Add(("spec.activeDeadlineSeconds", "FieldValueInvalid",
                    $"Invalid value: {pod.Spec.ActiveDeadlineSeconds}: must be between 1 and 2147483647, inclusive"));
            }
        }
        if (causes.Count > 0)
        {
            throw SimApiException.Invalid(name, causes);
        }

        var spec = pod.Spec!;
        spec.RestartPolicy ??= "Always";
        spec.DnsPolicy ??= "ClusterFirst";
        spec.SchedulerName ??= "default-scheduler";
        spec.ServiceAccountName ??= "default";
        spec.TerminationGracePeriodSeconds ??= 30;
        spec.EnableServiceLinks ??= true;
        spec.Priority ??= 0;
        spec.SecurityContext ??= new V1PodSecurityContext();
        foreach (var c in spec.Containers)
        {
            c.TerminationMessagePath ??= "/dev/termination-log";
            c.TerminationMessagePolicy ??= "File";
            c.ImagePullPolicy ??= c.Image.EndsWith(":latest", StringComparison.Ordinal) || !c.Image.Contains(':', StringComparison.Ordinal) ? "Always" : "IfNotPresent";
            c.Resources ??= new V1ResourceRequirements();
        }
        pod.ApiVersion = "v1";
        pod.Kind = "Pod";
        var hasRequests = spec.Containers.Any(c => c.Resources?.Requests is { Count: > 0 } || c.Resources?.Limits is { Count: > 0 });
        pod.Status = new V1PodStatus
        {
            Phase = "Pending",
            QosClass = hasRequests ? "Burstable" : "BestEffort",
        };
    }
}
