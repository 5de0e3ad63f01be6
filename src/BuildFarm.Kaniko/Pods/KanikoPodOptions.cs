using System.Text.RegularExpressions;
using BuildFarm.Contracts;
using BuildFarm.Kaniko.Specs;

namespace BuildFarm.Kaniko.Pods;

/// <summary>A toleration for the Kaniko pods (bindable from configuration).</summary>
public sealed class KanikoToleration
{
    public string? Key { get; set; }

    /// <summary><c>Equal</c> (default) or <c>Exists</c>.</summary>
    public string? Operator { get; set; }

    public string? Value { get; set; }

    /// <summary><c>NoSchedule</c>, <c>PreferNoSchedule</c>, <c>NoExecute</c>, or empty for all.</summary>
    public string? Effect { get; set; }

    public long? TolerationSeconds { get; set; }
}

/// <summary>
/// The <c>Kaniko</c> configuration section: how the farm's Kaniko pods are made. Hosts bind it and call
/// <see cref="Validate"/> at start-up; <see cref="KanikoPodFactory"/> refuses options that do not validate.
/// </summary>
public sealed partial class KanikoPodOptions
{
    public const string SectionName = "Kaniko";

    /// <summary>
    /// <c>gcr.io/kaniko-project/executor:v1.24.0</c>, the last upstream release, pinned by the digest of its
    /// multi-arch image index. Provenance: the same digest is pinned in several unrelated public repositories,
    /// one of which records resolving it from gcr.io (HEAD on the manifest) on 2026-09-04; re-verify with
    /// <c>crane digest gcr.io/kaniko-project/executor:v1.24.0</c>.
    /// </summary>
    public const string DefaultExecutorImage =
        "gcr.io/kaniko-project/executor:v1.24.0@sha256:4e7a52dd1f14872430652bb3b027405b8dfd17c4538751c620ac005741ef9698";

    /// <summary>
    /// <c>gcr.io/kaniko-project/executor:v1.24.0-debug</c> (adds <c>/busybox/sh</c>) pinned by its index digest,
    /// as pinned in several public repositories (also seen as the digest of <c>:debug</c>). Re-verify with
    /// <c>crane digest gcr.io/kaniko-project/executor:v1.24.0-debug</c>.
    /// </summary>
    public const string DefaultDebugImage =
        "gcr.io/kaniko-project/executor:v1.24.0-debug@sha256:2562c4fe551399514277ffff7dcca9a3b1628c4ea38cb017d7286dc6ea52f4cd";

    /// <summary>The log formats Kaniko knows.</summary>
    public static IReadOnlyList<string> LogFormats { get; } = ["text", "color", "json"];

    /// <summary>Executor flags the factory sets itself (or forbids, like <c>--cleanup</c>): never accepted in <see cref="ExtraArgs"/>.</summary>
    public static IReadOnlyList<string> OwnedFlags { get; } =
    [
        "context", "context-sub-path", "dockerfile", "destination", "build-arg", "target", "skip-unused-stages",
        "label", "cache", "cache-repo", "custom-platform", "log-timestamp", "log-format", "verbosity",
        "push-retry", "image-fs-extract-retry", "image-download-retry", "digest-file",
        "cleanup", "no-push", "kaniko-dir",
    ];

    /// <summary>Namespace the pods are created in.</summary>
    public string Namespace { get; set; } = "buildfarm";

    /// <summary>The executor image, pinned by digest (<c>image[:tag]@sha256:&lt;64 hex&gt;</c>).</summary>
    public string ExecutorImage { get; set; } = DefaultExecutorImage;

    /// <summary>The <c>:debug</c> executor image for debug pods, pinned by digest.</summary>
    public string DebugImage { get; set; } = DefaultDebugImage;

    /// <summary>Allow images without a digest. Off: a floating tag has broken Kaniko users before (kaniko#2881).</summary>
    public bool AllowUnpinnedImages { get; set; }

    /// <summary>
    /// A <c>kubernetes.io/dockerconfigjson</c> Secret mounted so the file is <c>/kaniko/.docker/config.json</c>.
    /// Empty: no credentials are mounted (anonymous registries only).
    /// </summary>
    public string? RegistrySecretName { get; set; } = "buildfarm-registry";

    /// <summary><c>--push-retry</c>: retries of a failed push (1 s, 2 s, 4 s … apart).</summary>
    public int PushRetry { get; set; } = 3;

    /// <summary><c>--image-fs-extract-retry</c>: retries of a failed layer download and extraction.</summary>
    public int ImageFsExtractRetry { get; set; } = 3;

    /// <summary><c>--image-download-retry</c>: retries of a failed base-image manifest/config download.</summary>
    public int ImageDownloadRetry { get; set; } = 3;

    /// <summary><c>--log-format</c>: text (default), color or json.</summary>
    public string LogFormat { get; set; } = "text";

    /// <summary><c>activeDeadlineSeconds</c> when the spec gives none.</summary>
    public int DefaultDeadlineSeconds { get; set; } = 3600;

    /// <summary>Container resources when the spec gives none (per field).</summary>
    public BuildResources DefaultResources { get; set; } = new()
    {
        CpuRequest = "500m",
        MemoryRequest = "1Gi",
        CpuLimit = "2",
        MemoryLimit = "4Gi",
        EphemeralStorageLimit = "20Gi",
    };

    /// <summary>More executor flags, each <c>--name</c> or <c>--name=value</c> (e.g. <c>--snapshot-mode=redo</c>).</summary>
    public IList<string> ExtraArgs { get; set; } = [];

    public string? ServiceAccountName { get; set; }
    public string? PriorityClassName { get; set; }
    public IDictionary<string, string> NodeSelector { get; set; } = new Dictionary<string, string>();
    public IList<KanikoToleration> Tolerations { get; set; } = [];

    /// <summary>Every problem with these options, each naming its setting; empty when they are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!IsDnsLabel(Namespace))
        {
            errors.Add($"Namespace: '{Namespace}' is not a valid namespace (DNS-1123 label: lower-case letters, digits, '-', at most 63)");
        }
        ValidateImage(nameof(ExecutorImage), ExecutorImage, errors);
        ValidateImage(nameof(DebugImage), DebugImage, errors);
        if (!string.IsNullOrEmpty(RegistrySecretName) && !IsDnsSubdomain(RegistrySecretName))
        {
            errors.Add($"RegistrySecretName: '{RegistrySecretName}' is not a valid Secret name (DNS-1123 subdomain)");
        }
        ValidateRetry(nameof(PushRetry), PushRetry, errors);
        ValidateRetry(nameof(ImageFsExtractRetry), ImageFsExtractRetry, errors);
        ValidateRetry(nameof(ImageDownloadRetry), ImageDownloadRetry, errors);
        if (!LogFormats.Contains(LogFormat, StringComparer.Ordinal))
        {
            errors.Add($"LogFormat: '{LogFormat}' is not one of {string.Join(", ", LogFormats)}");
        }
        if (DefaultDeadlineSeconds <= 0)
        {
            errors.Add($"DefaultDeadlineSeconds: {DefaultDeadlineSeconds} must be positive");
        }
        var resourceErrors = new List<SpecProblem>();
        BuildSpecValidator.ValidateResources(nameof(DefaultResources), DefaultResources, resourceErrors);
        errors.AddRange(resourceErrors.Select(e => e.ToString()));
        for (var i = 0; i < ExtraArgs.Count; i++)
        {
            if (ValidateExtraArg(ExtraArgs[i]) is { } error)
            {
                errors.Add($"ExtraArgs[{i}]: {error}");
            }
        }
        if (!string.IsNullOrEmpty(ServiceAccountName) && !IsDnsSubdomain(ServiceAccountName))
        {
            errors.Add($"ServiceAccountName: '{ServiceAccountName}' is not a valid name (DNS-1123 subdomain)");
        }
        if (!string.IsNullOrEmpty(PriorityClassName) && !IsDnsSubdomain(PriorityClassName))
        {
            errors.Add($"PriorityClassName: '{PriorityClassName}' is not a valid name (DNS-1123 subdomain)");
        }
        foreach (var (key, value) in NodeSelector)
        {
            if (!KanikoPodNames.IsValidLabelKey(key) || !KanikoPodNames.IsValidLabelValue(value))
            {
                errors.Add($"NodeSelector[{key}]: '{key}={value}' is not a valid label selector term");
            }
        }
        for (var i = 0; i < Tolerations.Count; i++)
        {
            var t = Tolerations[i];
            if (t.Operator is not (null or "" or "Equal" or "Exists"))
            {
                errors.Add($"Tolerations[{i}].Operator: '{t.Operator}' must be Equal or Exists");
            }
            if (t.Effect is not (null or "" or "NoSchedule" or "PreferNoSchedule" or "NoExecute"))
            {
                errors.Add($"Tolerations[{i}].Effect: '{t.Effect}' must be NoSchedule, PreferNoSchedule or NoExecute");
            }
            if (t.Operator == "Exists" && !string.IsNullOrEmpty(t.Value))
            {
                errors.Add($"Tolerations[{i}].Value: must be empty with operator Exists");
            }
            if (string.IsNullOrEmpty(t.Key) && t.Operator != "Exists")
            {
                errors.Add($"Tolerations[{i}].Key: an empty key needs operator Exists");
            }
        }
        return errors;
    }

    /// <summary>Why <paramref name="arg"/> cannot be an extra executor argument, or null when it can.</summary>
    public static string? ValidateExtraArg(string? arg)
    {
        if (string.IsNullOrEmpty(arg))
        {
            return "is empty";
        }
        var match = ExtraArgRegex().Match(arg);
        if (!match.Success)
        {
            return $"'{arg}' must be a long flag, --name or --name=value (short flags and separate values are not accepted)";
        }
        var name = match.Groups["name"].Value;
        if (name == "cleanup")
        {
            return "--cleanup is never used: every build gets a fresh pod (Kaniko rule 2 in docs/architecture.md)";
        }
        if (OwnedFlags.Contains(name, StringComparer.Ordinal))
        {
            return $"--{name} is set by the pod factory from the build spec or these options";
        }
        return null;
    }

    internal static bool IsDnsLabel(string? value) => value is not null && DnsLabelRegex().IsMatch(value);

    internal static bool IsDnsSubdomain(string? value) =>
        value is { Length: > 0 and <= 253 } && value.Split('.').All(IsDnsLabel);

    private void ValidateImage(string setting, string? image, List<string> errors)
    {
        if (string.IsNullOrWhiteSpace(image))
        {
            errors.Add($"{setting}: is required (e.g. {DefaultExecutorImage})");
            return;
        }
        if (!ImageReference.TryParse(image, out var reference, out var error))
        {
            errors.Add($"{setting}: '{image}' is not a valid image reference: {error}");
            return;
        }
        if (!reference.IsPinnedBySha256 && !AllowUnpinnedImages)
        {
            errors.Add($"{setting}: '{image}' is not pinned by digest; use image:tag@sha256:<64 hex digits> "
                + "(find it with `crane digest IMAGE`), or set AllowUnpinnedImages (--allow-unpinned) to accept a floating tag");
        }
    }

    private static void ValidateRetry(string setting, int value, List<string> errors)
    {
        if (value is < 0 or > 10)
        {
            errors.Add($"{setting}: {value} must be between 0 and 10 (Kaniko waits 2^n seconds between tries)");
        }
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex DnsLabelRegex();

    [GeneratedRegex("^--(?<name>[a-z0-9][a-z0-9-]*)(?:=.*)?$", RegexOptions.CultureInvariant | RegexOptions.Singleline)]
    private static partial Regex ExtraArgRegex();
}
