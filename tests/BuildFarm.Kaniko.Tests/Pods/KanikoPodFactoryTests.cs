using System.Text.Json;
using BuildFarm.Contracts;
using BuildFarm.Kaniko.Pods;
using BuildFarm.Kaniko.Specs;
using BuildFarm.Kaniko.Tests.Specs;
using k8s;
using k8s.Models;

namespace BuildFarm.Kaniko.Tests.Pods;

public sealed class KanikoPodFactoryTests
{
    private static readonly BuildSpec Spec = SampleSpecs.Full();

    private static V1Pod Pod(BuildSpec? spec = null, KanikoPodOptions? options = null, string buildId = "build-42", int attempt = 2) =>
        KanikoPodFactory.Create(spec ?? Spec, buildId, attempt, options ?? new KanikoPodOptions());

    private static V1Container Kaniko(V1Pod pod) => Assert.Single(pod.Spec.Containers);

    [Fact]
    public void Create_FullSpec_ArgsAreExactlyTheFlagsInOrder()
    {
        var expected = new[]
        {
            "--context=https://artifacts.example.com/ctx/app-1234.tar.gz",
            "--context-sub-path=services/api",
            "--dockerfile=docker/Dockerfile",
            "--destination=registry.example.com/team/api:1.2.3",
            "--destination=registry.example.com/team/api:latest",
            "--build-arg=BASE=alpine:3.19",
            "--build-arg=VERSION=1.2.3",
            "--target=runtime",
            "--skip-unused-stages",
            "--label=org.opencontainers.image.revision=abc123",
            "--cache=true",
            "--cache-repo=registry.example.com/team/cache",
            "--custom-platform=linux/arm64",
            "--log-timestamp",
            "--log-format=text",
            "--verbosity=info",
            "--push-retry=3",
            "--image-fs-extract-retry=3",
            "--image-download-retry=3",
            "--digest-file=/dev/termination-log",
        };

        Assert.Equal(expected, Kaniko(Pod()).Args);
    }

    [Fact]
    public void Create_MinimalSpec_OnlyRequiredAndAlwaysFlags()
    {
        var args = Kaniko(Pod(SampleSpecs.Minimal())).Args;

        Assert.Equal(
            [
                "--context=s3://ctx-bucket/builds/app.tar.gz", "--dockerfile=Dockerfile", "--destination=registry.example.com/team/app:1",
                "--log-timestamp", "--log-format=text", "--verbosity=info", "--push-retry=3", "--image-fs-extract-retry=3",
                "--image-download-retry=3", "--digest-file=/dev/termination-log",
            ],
            args);
    }

    [Fact]
    public void Create_OptionsRetriesAndLogFormat_Used()
    {
        var options = new KanikoPodOptions { PushRetry = 5, ImageFsExtractRetry = 0, ImageDownloadRetry = 7, LogFormat = "json" };

        var args = Kaniko(Pod(options: options)).Args;

        Assert.Contains("--push-retry=5", args);
        Assert.Contains("--image-fs-extract-retry=0", args);
        Assert.Contains("--image-download-retry=7", args);
        Assert.Contains("--log-format=json", args);
    }

    [Fact]
    public void Create_PathsNormalised_AndDuplicateDestinationsPushedOnce()
    {
        var spec = Spec with
        {
            Dockerfile = "./docker/./Dockerfile",
            ContextSubPath = "services/api/",
            Destinations = ["registry.example.com/team/api:1", "registry.example.com/team/api:1"],
        };

        var args = Kaniko(Pod(spec)).Args;

        Assert.Contains("--dockerfile=docker/Dockerfile", args);
        Assert.Contains("--context-sub-path=services/api", args);
        Assert.Single(args, a => a.StartsWith("--destination=", StringComparison.Ordinal));
    }

    [Fact]
    public void Create_NoCache_NoCacheFlags()
    {
        var args = Kaniko(Pod(Spec with { Cache = false })).Args;

        Assert.DoesNotContain(args, a => a.StartsWith("--cache", StringComparison.Ordinal));
    }

    [Fact]
    public void Create_NoTarget_NoSkipUnusedStages()
    {
        var args = Kaniko(Pod(Spec with { Target = null })).Args;

        Assert.DoesNotContain(args, a => a.StartsWith("--target", StringComparison.Ordinal) || a == "--skip-unused-stages");
    }

    [Fact]
    public void Create_ExtraArgs_AppendedAfterOwnFlags()
    {
        var options = new KanikoPodOptions { ExtraArgs = ["--snapshot-mode=redo", "--use-new-run"] };

        var args = Kaniko(Pod(options: options)).Args;

        Assert.Equal(["--snapshot-mode=redo", "--use-new-run"], args.TakeLast(2));
    }

    [Fact]
    public void Create_Never_UsesCleanup()
    {
        var args = Kaniko(Pod()).Args;

        Assert.DoesNotContain(args, a => a.Contains("cleanup", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("--cleanup", "never used")]
    [InlineData("--cleanup=true", "never used")]
    [InlineData("--destination=evil.example.com/x:1", "set by the pod factory")]
    [InlineData("--digest-file=/tmp/d", "set by the pod factory")]
    [InlineData("--no-push", "set by the pod factory")]
    [InlineData("--kaniko-dir=/x", "set by the pod factory")]
    [InlineData("--push-retry=9", "set by the pod factory")]
    [InlineData("-v", "long flag")]
    [InlineData("debug", "long flag")]
    [InlineData("", "empty")]
    public void Validate_ForbiddenExtraArg_NamedError(string arg, string fragment)
    {
        var errors = new KanikoPodOptions { ExtraArgs = [arg] }.Validate();

        var error = Assert.Single(errors);
        Assert.StartsWith("ExtraArgs[0]: ", error, StringComparison.Ordinal);
        Assert.Contains(fragment, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_DefaultImage_IsPinnedExecutorV1240()
    {
        var image = Kaniko(Pod()).Image;
        var reference = ImageReference.Parse(image);

        Assert.Equal(KanikoPodOptions.DefaultExecutorImage, image);
        Assert.Equal("gcr.io/kaniko-project/executor", reference.Name);
        Assert.Equal("v1.24.0", reference.Tag);
        Assert.True(reference.IsPinnedBySha256);
    }

    [Fact]
    public void DefaultDebugImage_IsPinnedDebugTag()
    {
        var reference = ImageReference.Parse(KanikoPodOptions.DefaultDebugImage);

        Assert.Equal("gcr.io/kaniko-project/executor", reference.Name);
        Assert.Equal("v1.24.0-debug", reference.Tag);
        Assert.True(reference.IsPinnedBySha256);
        Assert.Empty(new KanikoPodOptions().Validate());
    }

    [Fact]
    public void Create_UnpinnedImage_RefusedWithClearMessage()
    {
        var options = new KanikoPodOptions { ExecutorImage = "gcr.io/kaniko-project/executor:v1.24.0" };

        var e = Assert.Throws<ArgumentException>(() => Pod(options: options));

        Assert.Contains("ExecutorImage", e.Message, StringComparison.Ordinal);
        Assert.Contains("not pinned by digest", e.Message, StringComparison.Ordinal);
        Assert.Contains("AllowUnpinnedImages", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_UnpinnedImageExplicitlyAllowed_Used()
    {
        var options = new KanikoPodOptions { ExecutorImage = "registry.example.com/forks/kaniko:v1.25.5", AllowUnpinnedImages = true };

        Assert.Equal("registry.example.com/forks/kaniko:v1.25.5", Kaniko(Pod(options: options)).Image);
    }

    [Fact]
    public void Create_UnpinnedDebugImage_AlsoRefused()
    {
        var errors = new KanikoPodOptions { DebugImage = "gcr.io/kaniko-project/executor:debug" }.Validate();

        Assert.StartsWith("DebugImage: ", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Fact]
    public void Create_Credentials_DockerConfigJsonSecretMountedAtKanikoDocker()
    {
        var pod = Pod(options: new KanikoPodOptions { RegistrySecretName = "team-push" });

        var volume = Assert.Single(pod.Spec.Volumes);
        Assert.Equal("team-push", volume.Secret.SecretName);
        var item = Assert.Single(volume.Secret.Items);
        Assert.Equal(".dockerconfigjson", item.Key);
        Assert.Equal("config.json", item.Path);
        var mount = Assert.Single(Kaniko(pod).VolumeMounts);
        Assert.Equal(volume.Name, mount.Name);
        Assert.Equal("/kaniko/.docker", mount.MountPath);
        Assert.True(mount.ReadOnlyProperty);
        Assert.Equal("/kaniko/.docker/config.json", $"{mount.MountPath}/{item.Path}");
        Assert.Contains(Kaniko(pod).Env, e => e.Name == "DOCKER_CONFIG" && e.Value == "/kaniko/.docker");
        Assert.DoesNotContain(Kaniko(pod).VolumeMounts, m => m.MountPath.StartsWith("/root", StringComparison.Ordinal));
    }

    [Fact]
    public void Create_NoSecretName_NoCredentialsMounted()
    {
        var pod = Pod(options: new KanikoPodOptions { RegistrySecretName = null });

        Assert.Null(pod.Spec.Volumes);
        Assert.Null(Kaniko(pod).VolumeMounts);
    }

    [Fact]
    public void Create_PodSpec_OneShotNoTokenNoServiceLinks()
    {
        var pod = Pod();

        Assert.Equal("Never", pod.Spec.RestartPolicy);
        Assert.False(pod.Spec.AutomountServiceAccountToken);
        Assert.False(pod.Spec.EnableServiceLinks);
        Assert.Equal("FallbackToLogsOnError", Kaniko(pod).TerminationMessagePolicy);
        Assert.Equal("/dev/termination-log", Kaniko(pod).TerminationMessagePath);
        Assert.Equal("kaniko", Kaniko(pod).Name);
        Assert.Equal("IfNotPresent", Kaniko(pod).ImagePullPolicy);
    }

    [Fact]
    public void Create_SecurityContext_RootNotPrivilegedMinimalCapabilities()
    {
        var pod = Pod();
        var security = Kaniko(pod).SecurityContext;

        Assert.Equal(0, security.RunAsUser);
        Assert.False(security.Privileged);
        Assert.False(security.AllowPrivilegeEscalation);
        Assert.Equal(["ALL"], security.Capabilities.Drop);
        Assert.Equal(["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID", "SETFCAP", "KILL"], security.Capabilities.Add);
        Assert.Equal("RuntimeDefault", pod.Spec.SecurityContext.SeccompProfile.Type);
    }

    [Fact]
    public void Create_Deadline_FromSpecElseOptions()
    {
        Assert.Equal(1800, Pod().Spec.ActiveDeadlineSeconds);
        Assert.Equal(900, Pod(Spec with { DeadlineSeconds = null }, new KanikoPodOptions { DefaultDeadlineSeconds = 900 }).Spec.ActiveDeadlineSeconds);
    }

    [Fact]
    public void Create_Resources_SpecOverridesDefaultsPerField()
    {
        var spec = Spec with { Resources = new BuildResources { MemoryLimit = "16Gi" } };

        var resources = Kaniko(Pod(spec)).Resources;

        Assert.Equal("16Gi", resources.Limits["memory"].ToString());
        Assert.Equal("2", resources.Limits["cpu"].ToString());
        Assert.Equal("20Gi", resources.Limits["ephemeral-storage"].ToString());
        Assert.Equal("500m", resources.Requests["cpu"].ToString());
        Assert.Equal("1Gi", resources.Requests["memory"].ToString());
    }

    [Fact]
    public void Create_MemoryOverride_ReplacesLimitAndRequest_KeepsTheRest()
    {
        var spec = Spec with { Resources = new BuildResources { MemoryLimit = "1Gi", MemoryRequest = "512Mi" } };
        var memory = new PodMemory(2L << 30, 1L << 30);

        var resources = Kaniko(KanikoPodFactory.Create(spec, "build-42", 2, new KanikoPodOptions(), memory: memory)).Resources;
        var platform = Kaniko(KanikoPodFactory.CreateForPlatform(spec with { Platform = null, Platforms = ["linux/amd64", "linux/arm64"] }, "build-42",
            "linux/arm64", 2, new KanikoPodOptions(), memory: memory)).Resources;

        Assert.Equal("2Gi", resources.Limits["memory"].ToString());
        Assert.Equal("1Gi", resources.Requests["memory"].ToString());
        Assert.Equal("2", resources.Limits["cpu"].ToString());
        Assert.Equal("2Gi", platform.Limits["memory"].ToString());
        Assert.Equal("1Gi", platform.Requests["memory"].ToString());
        // Without an override: the spec's own.
        Assert.Equal("1Gi", Kaniko(Pod(spec)).Resources.Limits["memory"].ToString());
    }

    [Fact]
    public void Create_MemoryOverrideWithoutRequest_KeepsTheSpecsRequest()
    {
        var spec = Spec with { Resources = new BuildResources { MemoryLimit = "1Gi", MemoryRequest = "512Mi" } };

        var resources = Kaniko(KanikoPodFactory.Create(spec, "build-42", 2, new KanikoPodOptions(), memory: new PodMemory(3L << 30, null))).Resources;

        Assert.Equal("3Gi", resources.Limits["memory"].ToString());
        Assert.Equal("512Mi", resources.Requests["memory"].ToString());
    }

    [Fact]
    public void Create_InvalidResource_ThrowsNamingField()
    {
        var spec = Spec with { Resources = new BuildResources { CpuLimit = "lots" } };

        var e = Assert.Throws<ArgumentException>(() => Pod(spec));

        Assert.StartsWith("resources.cpuLimit:", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_SchedulingOptions_Applied()
    {
        var options = new KanikoPodOptions
        {
            Namespace = "builds",
            ServiceAccountName = "kaniko",
            PriorityClassName = "batch-low",
            NodeSelector = new Dictionary<string, string> { ["pool"] = "builders" },
            Tolerations = [new KanikoToleration { Key = "dedicated", Operator = "Equal", Value = "builds", Effect = "NoSchedule" }],
        };

        var pod = Pod(options: options);

        Assert.Equal("builds", pod.Metadata.NamespaceProperty);
        Assert.Equal("kaniko", pod.Spec.ServiceAccountName);
        Assert.Equal("batch-low", pod.Spec.PriorityClassName);
        Assert.Equal("builders", pod.Spec.NodeSelector["pool"]);
        var toleration = Assert.Single(pod.Spec.Tolerations);
        Assert.Equal(("dedicated", "Equal", "builds", "NoSchedule"), (toleration.Key, toleration.OperatorProperty, toleration.Value, toleration.Effect));
    }

    [Fact]
    public void Create_NoSchedulingOptions_FieldsLeftUnset()
    {
        var pod = Pod();

        Assert.Null(pod.Spec.ServiceAccountName);
        Assert.Null(pod.Spec.PriorityClassName);
        Assert.Null(pod.Spec.NodeSelector);
        Assert.Null(pod.Spec.Tolerations);
        Assert.Equal("buildfarm", pod.Metadata.NamespaceProperty);
    }

    [Fact]
    public void Create_LabelsAndAnnotations_CarryBuildIdentity()
    {
        var key = BuildKey.Compute(Spec, KanikoPodOptions.DefaultExecutorImage);

        var pod = Pod(buildId: "Team/API build #7", attempt: 3);

        var labels = pod.Metadata.Labels;
        Assert.Equal("buildfarm", labels["app.kubernetes.io/managed-by"]);
        Assert.Equal("kaniko", labels["app.kubernetes.io/component"]);
        Assert.Equal("3", labels["buildfarm.io/attempt"]);
        Assert.True(KanikoPodNames.IsValidLabelValue(labels["buildfarm.io/build-id"]));
        Assert.Equal(key[..63], labels["buildfarm.io/build-key"]);
        Assert.All(labels.Values, v => Assert.True(KanikoPodNames.IsValidLabelValue(v), v));
        var annotations = pod.Metadata.Annotations;
        Assert.Equal("Team/API build #7", annotations["buildfarm.io/build-id"]);
        Assert.Equal(key, annotations["buildfarm.io/build-key"]);
        Assert.Equal("3", annotations["buildfarm.io/attempt"]);
        Assert.Equal(Spec.Destinations, JsonSerializer.Deserialize<string[]>(annotations["buildfarm.io/destinations"]));
        Assert.DoesNotContain("buildfarm.io/debug", labels.Keys);
    }

    [Fact]
    public void Create_BuildKeyGiven_UsedAsIs()
    {
        var key = new string('a', 64);

        var pod = KanikoPodFactory.Create(Spec, "b", 1, new KanikoPodOptions(), key);

        Assert.Equal(key, pod.Metadata.Annotations["buildfarm.io/build-key"]);
    }

    [Fact]
    public void Create_MalformedBuildKey_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => KanikoPodFactory.Create(Spec, "b", 1, new KanikoPodOptions(), "ABC"));

        Assert.StartsWith("buildKey:", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_Name_IsDeterministicPerBuildAndAttempt()
    {
        Assert.Equal("bf-build-42-2", Pod().Metadata.Name);
        Assert.Equal(KanikoPodFactory.Create(Spec, "x", 1, new KanikoPodOptions()).Metadata.Name, KanikoPodFactory.Create(Spec, "x", 1, new KanikoPodOptions()).Metadata.Name);
        Assert.NotEqual(KanikoPodFactory.Create(Spec, "x", 1, new KanikoPodOptions()).Metadata.Name, KanikoPodFactory.Create(Spec, "x", 2, new KanikoPodOptions()).Metadata.Name);
    }

    [Fact]
    public void Create_SameInputs_SameSerializedPod() =>
        Assert.Equal(KubernetesJson.Serialize(Pod()), KubernetesJson.Serialize(Pod()));

    [Fact]
    public void Create_AttemptBelowOne_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Pod(attempt: 0));

    [Fact]
    public void Create_NoDestinations_ThrowsNamingField()
    {
        var e = Assert.Throws<ArgumentException>(() => Pod(Spec with { Destinations = [] }));

        Assert.StartsWith("destinations:", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_InvalidContextWithGivenKey_ThrowsNamingField()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            KanikoPodFactory.Create(Spec with { Context = "ftp://x/y.tar.gz" }, "b", 1, new KanikoPodOptions(), new string('a', 64)));

        Assert.StartsWith("context:", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CreateDebug_UsesDebugImageAndIdleShell()
    {
        var pod = KanikoPodFactory.CreateDebug(Spec, "build-42", 2, new KanikoPodOptions());
        var container = Kaniko(pod);

        Assert.Equal(KanikoPodOptions.DefaultDebugImage, container.Image);
        Assert.Equal(3, container.Command.Count);
        Assert.Equal(["/busybox/sh", "-c", "tail -f /dev/null"], container.Command);
        Assert.Null(container.Args);
        Assert.Equal("bf-build-42-2-debug", pod.Metadata.Name);
        Assert.Equal("true", pod.Metadata.Labels["buildfarm.io/debug"]);
        Assert.Equal("Never", pod.Spec.RestartPolicy);
    }

    [Fact]
    public void CreateDebug_SameMountsAndSecurityAsBuildPod()
    {
        var build = Pod();
        var debug = KanikoPodFactory.CreateDebug(Spec, "build-42", 2, new KanikoPodOptions());

        Assert.Equal(KubernetesJson.Serialize(build.Spec.Volumes), KubernetesJson.Serialize(debug.Spec.Volumes));
        Assert.Equal(KubernetesJson.Serialize(Kaniko(build).VolumeMounts), KubernetesJson.Serialize(Kaniko(debug).VolumeMounts));
        Assert.Equal(KubernetesJson.Serialize(Kaniko(build).SecurityContext), KubernetesJson.Serialize(Kaniko(debug).SecurityContext));
        Assert.Equal(build.Spec.ActiveDeadlineSeconds, debug.Spec.ActiveDeadlineSeconds);
    }

    [Fact]
    public void CreateDebug_ExecutorArgsAnnotation_HoldsTheBuildArgs()
    {
        var debug = KanikoPodFactory.CreateDebug(Spec, "build-42", 2, new KanikoPodOptions());

        var args = JsonSerializer.Deserialize<string[]>(debug.Metadata.Annotations["buildfarm.io/executor-args"]);

        Assert.Equal(Kaniko(Pod()).Args, args);
    }

    public static TheoryData<Action<KanikoPodOptions>, string> BadOptions => new()
    {
        { o => o.Namespace = "Bad_NS", "Namespace:" },
        { o => o.ExecutorImage = "", "ExecutorImage: is required" },
        { o => o.ExecutorImage = "Not An Image", "ExecutorImage:" },
        { o => o.RegistrySecretName = "bad_secret", "RegistrySecretName:" },
        { o => o.PushRetry = -1, "PushRetry:" },
        { o => o.ImageFsExtractRetry = 11, "ImageFsExtractRetry:" },
        { o => o.ImageDownloadRetry = 99, "ImageDownloadRetry:" },
        { o => o.LogFormat = "xml", "LogFormat:" },
        { o => o.DefaultDeadlineSeconds = 0, "DefaultDeadlineSeconds:" },
        { o => o.DefaultResources = new BuildResources { MemoryLimit = "lots" }, "DefaultResources.memoryLimit:" },
        { o => o.ServiceAccountName = "Bad SA", "ServiceAccountName:" },
        { o => o.PriorityClassName = "Bad PC", "PriorityClassName:" },
        { o => o.NodeSelector = new Dictionary<string, string> { ["bad key"] = "x" }, "NodeSelector[bad key]:" },
        { o => o.Tolerations = [new KanikoToleration { Key = "k", Operator = "Maybe" }], "Tolerations[0].Operator:" },
        { o => o.Tolerations = [new KanikoToleration { Key = "k", Effect = "Sometimes" }], "Tolerations[0].Effect:" },
        { o => o.Tolerations = [new KanikoToleration { Key = "k", Operator = "Exists", Value = "v" }], "Tolerations[0].Value:" },
        { o => o.Tolerations = [new KanikoToleration { Operator = "Equal" }], "Tolerations[0].Key:" },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void Validate_BadSetting_ErrorNamesSetting(Action<KanikoPodOptions> change, string prefix)
    {
        var options = new KanikoPodOptions();
        change(options);

        var errors = options.Validate();

        Assert.StartsWith(prefix, Assert.Single(errors), StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => KanikoPodFactory.Create(Spec, "b", 1, options));
    }
}
