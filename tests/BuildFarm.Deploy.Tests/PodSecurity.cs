using YamlDotNet.RepresentationModel;

namespace BuildFarm.Deploy.Tests;

/// <summary>
/// The Pod Security Standards' checks (kubernetes.io/docs/concepts/security/pod-security-standards) that a farm pod
/// could plausibly trip, for the <c>baseline</c> and <c>restricted</c> levels: host namespaces and ports, privileged
/// containers, added capabilities, hostPath and other volume types, seccomp, privilege escalation, running as root.
/// Not the admission controller itself (no AppArmor, SELinux, sysctl or procMount checks: no farm pod sets them).
/// </summary>
public static class PodSecurity
{
    private static readonly HashSet<string> s_baselineCapabilities =
        ["AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"];

    private static readonly HashSet<string> s_restrictedVolumes =
        ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"];

    /// <summary>What keeps <paramref name="pod"/> out of a namespace enforcing <paramref name="level"/>; empty when admitted.</summary>
    public static IReadOnlyList<string> Violations(PodTemplate pod, string level)
    {
        if (level is not ("privileged" or "baseline" or "restricted"))
        {
            throw new ArgumentException($"unknown Pod Security level '{level}'", nameof(level));
        }
        var errors = new List<string>();
        if (level == "privileged")
        {
            return errors;
        }
        var spec = pod.PodSpec;
        foreach (var host in new[] { "hostNetwork", "hostPID", "hostIPC" })
        {
            if (spec.Scalar(host) == "true")
            {
                errors.Add($"{host}: true");
            }
        }
        var volumes = spec.At("volumes") is YamlSequenceNode v ? v.Children.OfType<YamlMappingNode>().ToList() : [];
        foreach (var volume in volumes)
        {
            var types = volume.Children.Keys.Select(k => ((YamlScalarNode)k).Value!).Where(k => k != "name").ToList();
            if (types.Contains("hostPath"))
            {
                errors.Add("a hostPath volume");
            }
            if (level == "restricted" && types.FirstOrDefault(t => !s_restrictedVolumes.Contains(t)) is { } other)
            {
                errors.Add($"volume type {other}");
            }
        }
        var podSeccomp = spec.Scalar("securityContext", "seccompProfile", "type");
        var podRunAsNonRoot = spec.Scalar("securityContext", "runAsNonRoot");
        var podRunAsUser = spec.Scalar("securityContext", "runAsUser");
        if (podSeccomp == "Unconfined")
        {
            errors.Add("pod seccompProfile Unconfined");
        }
        if (podRunAsUser == "0" && level == "restricted")
        {
            errors.Add("pod runAsUser 0");
        }
        foreach (var c in pod.Containers())
        {
            var name = $"container {c.Name}";
            if (c.Scalar("securityContext", "privileged") == "true")
            {
                errors.Add($"{name}: privileged");
            }
            if (c.At("ports") is YamlSequenceNode ports && ports.Children.OfType<YamlMappingNode>()
                    .Any(p => new K8sObject("Port", string.Empty, null, p).Scalar("hostPort") is { } hp && hp != "0"))
            {
                errors.Add($"{name}: hostPort");
            }
            var added = c.At("securityContext", "capabilities", "add") is YamlSequenceNode a
                ? a.Children.Select(x => ((YamlScalarNode)x).Value!).ToList()
                : [];
            var allowed = level == "restricted" ? ["NET_BIND_SERVICE"] : s_baselineCapabilities;
            errors.AddRange(added.Where(cap => !allowed.Contains(cap)).Select(cap => $"{name}: adds capability {cap}"));
            var seccomp = c.Scalar("securityContext", "seccompProfile", "type") ?? podSeccomp;
            if (seccomp == "Unconfined")
            {
                errors.Add($"{name}: seccompProfile Unconfined");
            }
            if (level != "restricted")
            {
                continue;
            }
            if (seccomp is not ("RuntimeDefault" or "Localhost"))
            {
                errors.Add($"{name}: no RuntimeDefault or Localhost seccompProfile");
            }
            if (c.Scalar("securityContext", "allowPrivilegeEscalation") != "false")
            {
                errors.Add($"{name}: allowPrivilegeEscalation is not false");
            }
            if ((c.Scalar("securityContext", "runAsNonRoot") ?? podRunAsNonRoot) != "true")
            {
                errors.Add($"{name}: runAsNonRoot is not true");
            }
            if (c.Scalar("securityContext", "runAsUser") == "0")
            {
                errors.Add($"{name}: runAsUser 0");
            }
            var dropped = c.At("securityContext", "capabilities", "drop") is YamlSequenceNode d
                ? d.Children.Select(x => ((YamlScalarNode)x).Value!).ToList()
                : [];
            if (!dropped.Contains("ALL"))
            {
                errors.Add($"{name}: capabilities do not drop ALL");
            }
        }
        return errors;
    }
}
