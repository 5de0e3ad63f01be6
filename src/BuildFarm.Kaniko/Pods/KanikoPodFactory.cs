using System.Globalization;
using System.Text.Json;
using BuildFarm.Contracts;
using BuildFarm.Kaniko.Specs;
using k8s.Models;

namespace BuildFarm.Kaniko.Pods;

/// <summary>
/// Builds the one Kaniko pod of one build attempt from a <see cref="BuildSpec"/> (docs/architecture.md "The Kaniko rules the farm enforces").
/// Pure: the caller creates the pod. The spec should have passed <see cref="BuildSpecValidator"/>; the
/// factory re-checks only what it needs and throws <see cref="ArgumentException"/> with a clear message.
/// </summary>
public static class KanikoPodFactory
{
    /// <summary>Name of the Kaniko container in every pod.</summary>
    public const string ContainerName = "kaniko";

    /// <summary>Where the registry credentials Secret is mounted; Kaniko's <c>DOCKER_CONFIG</c>.</summary>
    public const string DockerConfigDirectory = "/kaniko/.docker";

    public const string DockerConfigVolumeName = "docker-config";

    /// <summary>The debug pod's command: a shell that waits forever, as ONE string after <c>-c</c> (seed: the
    /// split form <c>["/busybox/sh","-c","tail","-f","/dev/null"]</c> runs only <c>tail</c>).</summary>
    public static IReadOnlyList<string> DebugCommand { get; } = ["/busybox/sh", "-c", "tail -f /dev/null"];

    /// <summary>Capabilities the executor needs as root without privilege (Shipwright's Kaniko strategy).</summary>
    public static IReadOnlyList<string> Capabilities { get; } = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID", "SETFCAP", "KILL"];

    /// <summary>
    /// The pod for attempt <paramref name="attempt"/> (1-based) of build <paramref name="buildId"/>.
    /// <paramref name="buildKey"/> is the build's <see cref="BuildKey"/>; computed from the spec and executor image when null.
    /// <paramref name="memory"/>, when given, replaces the container's memory limit (and request, when it has one): the
    /// figure raised after an OOM kill or learned from the image's history (docs/scheduling.md "Memory learned from history").
    /// </summary>
    public static V1Pod Create(BuildSpec spec, string buildId, int attempt, KanikoPodOptions options, string? buildKey = null, PodMemory? memory = null) =>
        Build(spec, buildId, attempt, options, buildKey, debug: false, platform: null, memory);

    /// <summary>
    /// The pod for attempt <paramref name="attempt"/> (1-based, counted per platform) of <paramref name="platform"/> of a
    /// multi-platform build (docs/multi-platform.md): the spec's build for that one platform
    /// (<see cref="BuildPlatforms.ForPlatform"/>: <c>--custom-platform</c>, pushing to the
    /// <see cref="BuildPlatforms.StagingTag"/> of each destination repository, never to a destination tag), with a node
    /// selector <c>kubernetes.io/os</c> and <c>kubernetes.io/arch</c> of the platform (taking precedence over the same keys
    /// of the farm's node selector), the <c>buildfarm.io/platform</c> label and annotation, and the name
    /// <see cref="KanikoPodNames.PlatformPodName"/>. <paramref name="buildKey"/> is the whole build's key; computed when null.
    /// <paramref name="memory"/>: as for <see cref="Create"/>.
    /// </summary>
    public static V1Pod CreateForPlatform(BuildSpec spec, string buildId, string platform, int attempt, KanikoPodOptions options, string? buildKey = null,
        PodMemory? memory = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(options);
        if (!BuildPlatforms.IsWellFormed(platform))
        {
            throw new ArgumentException($"platform: '{platform}' must be os/arch[/variant] in lower case", nameof(platform));
        }
        buildKey ??= BuildKey.Compute(spec, options.ExecutorImage);
        var platformSpec = BuildPlatforms.ForPlatform(spec, buildKey, platform);
        return Build(platformSpec, buildId, attempt, options, buildKey, debug: false, platform, memory);
    }

    /// <summary>
    /// A debug pod for the same build: the <c>:debug</c> image idling in <c>/busybox/sh</c>, with the same mounts,
    /// resources and deadline. The executor arguments are in the <c>buildfarm.io/executor-args</c> annotation, to
    /// run <c>/kaniko/executor</c> by hand with <c>kubectl exec</c>.
    /// </summary>
    public static V1Pod CreateDebug(BuildSpec spec, string buildId, int attempt, KanikoPodOptions options, string? buildKey = null) =>
        Build(spec, buildId, attempt, options, buildKey, debug: true, platform: null);

    /// <summary>The executor arguments for <paramref name="spec"/>, in the order the pod gets them.</summary>
    public static IReadOnlyList<string> ExecutorArgs(BuildSpec spec, KanikoPodOptions options)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(options);
        if (spec.Destinations is not { Count: > 0 })
        {
            throw new ArgumentException("destinations: at least one destination is required", nameof(spec));
        }
        if (!BuildContext.TryParse(spec.Context, out _, out var contextError))
        {
            throw new ArgumentException($"context: {contextError}", nameof(spec));
        }
        if (!RelativePath.TryNormalize(spec.Dockerfile ?? "", out var dockerfile, out var dockerfileError) || dockerfile.Length == 0)
        {
            throw new ArgumentException($"dockerfile: {dockerfileError ?? "is required"}", nameof(spec));
        }
        string? subPath = null;
        if (!string.IsNullOrEmpty(spec.ContextSubPath))
        {
            if (!RelativePath.TryNormalize(spec.ContextSubPath, out subPath, out var subPathError))
            {
                throw new ArgumentException($"contextSubPath: {subPathError}", nameof(spec));
            }
        }

        var args = new List<string> { $"--context={spec.Context.Trim()}" };
        if (!string.IsNullOrEmpty(subPath))
        {
            args.Add($"--context-sub-path={subPath}");
        }
        args.Add($"--dockerfile={dockerfile}");
        foreach (var destination in spec.Destinations.Select(d => d.Trim()).Distinct(StringComparer.Ordinal))
        {
            args.Add($"--destination={destination}");
        }
        foreach (var (name, value) in (spec.BuildArgs ?? new Dictionary<string, string>()).OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            args.Add($"--build-arg={name}={value}");
        }
        if (!string.IsNullOrEmpty(spec.Target))
        {
            args.Add($"--target={spec.Target}");
            args.Add("--skip-unused-stages");
        }
        foreach (var (key, value) in (spec.Labels ?? new Dictionary<string, string>()).OrderBy(l => l.Key, StringComparer.Ordinal))
        {
            args.Add($"--label={key}={value}");
        }
        if (spec.Cache)
        {
            args.Add("--cache=true");
            if (!string.IsNullOrEmpty(spec.CacheRepo))
            {
                args.Add($"--cache-repo={spec.CacheRepo}");
            }
        }
        var platforms = BuildPlatforms.Of(spec);
        if (platforms.Count > 1)
        {
            throw new ArgumentException(
                $"platforms: a build of {platforms.Count} platforms runs one pod per platform (KanikoPodFactory.CreateForPlatform), not one pod", nameof(spec));
        }
        if (platforms.Count == 1)
        {
            args.Add($"--custom-platform={platforms[0]}");
        }
        args.Add("--log-timestamp");
        args.Add($"--log-format={options.LogFormat}");
        args.Add("--verbosity=info");
        args.Add($"--push-retry={Invariant(options.PushRetry)}");
        args.Add($"--image-fs-extract-retry={Invariant(options.ImageFsExtractRetry)}");
        args.Add($"--image-download-retry={Invariant(options.ImageDownloadRetry)}");
        args.Add("--digest-file=/dev/termination-log");
        args.AddRange(options.ExtraArgs);
        return args;
    }

    private static V1Pod Build(BuildSpec spec, string buildId, int attempt, KanikoPodOptions options, string? buildKey, bool debug, string? platform,
        PodMemory? memory = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(buildId);
        if (attempt < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(attempt), attempt, "attempt: must be 1 or more");
        }
        var optionErrors = options.Validate();
        if (optionErrors.Count > 0)
        {
            throw new ArgumentException("Kaniko options are invalid: " + string.Join("; ", optionErrors), nameof(options));
        }
        if (buildKey is not null && !BuildKey.IsWellFormed(buildKey))
        {
            throw new ArgumentException($"buildKey: '{buildKey}' must be 64 lower-case hex digits (BuildKey.Compute)", nameof(buildKey));
        }
        if (spec.DeadlineSeconds is <= 0)
        {
            throw new ArgumentException($"deadlineSeconds: {spec.DeadlineSeconds} must be positive", nameof(spec));
        }

        var args = ExecutorArgs(spec, options);
        buildKey ??= BuildKey.Compute(spec, options.ExecutorImage);
        var name = platform is not null ? KanikoPodNames.PlatformPodName(buildId, platform, attempt)
            : debug ? KanikoPodNames.DebugPodName(buildId, attempt) : KanikoPodNames.PodName(buildId, attempt);
        var attemptText = Invariant(attempt);

        var labels = new Dictionary<string, string>
        {
            ["app.kubernetes.io/managed-by"] = "buildfarm",
            ["app.kubernetes.io/component"] = "kaniko",
            [KanikoPodLabels.BuildId] = KanikoPodNames.LabelValue(buildId),
            [KanikoPodLabels.Attempt] = attemptText,
            [KanikoPodLabels.BuildKey] = KanikoPodLabels.BuildKeyLabelValue(buildKey),
        };
        if (debug)
        {
            labels[KanikoPodLabels.Debug] = "true";
        }
        var annotations = new Dictionary<string, string>
        {
            [KanikoPodLabels.BuildId] = buildId,
            [KanikoPodLabels.BuildKey] = buildKey,
            [KanikoPodLabels.Attempt] = attemptText,
            [KanikoPodLabels.Destinations] = JsonSerializer.Serialize(spec.Destinations.Select(d => d.Trim()).Distinct(StringComparer.Ordinal)),
        };
        if (debug)
        {
            annotations[KanikoPodLabels.ExecutorArgs] = JsonSerializer.Serialize(args);
        }
        var nodeSelector = new Dictionary<string, string>(options.NodeSelector);
        if (platform is not null)
        {
            labels[KanikoPodLabels.Platform] = BuildPlatforms.Slug(platform);
            annotations[KanikoPodLabels.Platform] = platform;
            foreach (var (key, value) in BuildPlatforms.NodeSelector(platform))
            {
                nodeSelector[key] = value;
            }
        }

        var container = new V1Container
        {
            Name = ContainerName,
            Image = debug ? options.DebugImage : options.ExecutorImage,
            ImagePullPolicy = "IfNotPresent",
            Command = debug ? [.. DebugCommand] : null,
            Args = debug ? null : [.. args],
            Env = [new V1EnvVar { Name = "DOCKER_CONFIG", Value = DockerConfigDirectory }],
            Resources = Resources(spec.Resources, options.DefaultResources, memory),
            TerminationMessagePath = "/dev/termination-log",
            TerminationMessagePolicy = "FallbackToLogsOnError",
            SecurityContext = new V1SecurityContext
            {
                RunAsUser = 0,
                RunAsNonRoot = false,
                Privileged = false,
                AllowPrivilegeEscalation = false,
                Capabilities = new V1Capabilities { Drop = ["ALL"], Add = [.. Capabilities] },
            },
        };
        var podSpec = new V1PodSpec
        {
            RestartPolicy = "Never",
            ActiveDeadlineSeconds = spec.DeadlineSeconds ?? options.DefaultDeadlineSeconds,
            AutomountServiceAccountToken = false,
            EnableServiceLinks = false,
            SecurityContext = new V1PodSecurityContext
            {
                SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
            },
            Containers = [container],
            ServiceAccountName = string.IsNullOrEmpty(options.ServiceAccountName) ? null : options.ServiceAccountName,
            PriorityClassName = string.IsNullOrEmpty(options.PriorityClassName) ? null : options.PriorityClassName,
            NodeSelector = nodeSelector.Count == 0 ? null : nodeSelector,
            Tolerations = options.Tolerations.Count == 0 ? null : [.. options.Tolerations.Select(t => new V1Toleration
            {
                Key = string.IsNullOrEmpty(t.Key) ? null : t.Key,
                OperatorProperty = string.IsNullOrEmpty(t.Operator) ? null : t.Operator,
                Value = string.IsNullOrEmpty(t.Value) ? null : t.Value,
                Effect = string.IsNullOrEmpty(t.Effect) ? null : t.Effect,
                TolerationSeconds = t.TolerationSeconds,
            })],
        };
        if (!string.IsNullOrEmpty(options.RegistrySecretName))
        {
            podSpec.Volumes =
            [
                new V1Volume
                {
                    Name = DockerConfigVolumeName,
                    Secret = new V1SecretVolumeSource
                    {
                        SecretName = options.RegistrySecretName,
                        Items = [new V1KeyToPath { Key = ".dockerconfigjson", Path = "config.json" }],
                        Optional = false,
                    },
                },
            ];
            container.VolumeMounts = [new V1VolumeMount { Name = DockerConfigVolumeName, MountPath = DockerConfigDirectory, ReadOnlyProperty = true }];
        }

        return new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta
            {
                Name = name,
                NamespaceProperty = options.Namespace,
                Labels = labels,
                Annotations = annotations,
            },
            Spec = podSpec,
        };
    }

    private static V1ResourceRequirements Resources(BuildResources? requested, BuildResources defaults, PodMemory? memory)
    {
        var requests = new Dictionary<string, ResourceQuantity>();
        var limits = new Dictionary<string, ResourceQuantity>();
        Add(requests, "cpu", requested?.CpuRequest ?? defaults.CpuRequest, "resources.cpuRequest");
        Add(requests, "memory", memory?.Request ?? requested?.MemoryRequest ?? defaults.MemoryRequest, "resources.memoryRequest");
        Add(limits, "cpu", requested?.CpuLimit ?? defaults.CpuLimit, "resources.cpuLimit");
        Add(limits, "memory", memory?.Limit ?? requested?.MemoryLimit ?? defaults.MemoryLimit, "resources.memoryLimit");
        Add(limits, "ephemeral-storage", requested?.EphemeralStorageLimit ?? defaults.EphemeralStorageLimit, "resources.ephemeralStorageLimit");
        return new V1ResourceRequirements
        {
            Requests = requests.Count == 0 ? null : requests,
            Limits = limits.Count == 0 ? null : limits,
        };
    }

    private static void Add(Dictionary<string, ResourceQuantity> target, string resource, string? quantity, string field)
    {
        if (string.IsNullOrEmpty(quantity))
        {
            return;
        }
        if (!BuildSpecValidator.TryParseQuantity(quantity, out _, out var error))
        {
            throw new ArgumentException($"{field}: {error}", nameof(quantity));
        }
        target[resource] = new ResourceQuantity(quantity);
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}
