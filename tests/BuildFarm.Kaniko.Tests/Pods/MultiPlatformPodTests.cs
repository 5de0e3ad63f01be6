using BuildFarm.Contracts;
using BuildFarm.Kaniko.Pods;
using BuildFarm.Kaniko.Specs;
using BuildFarm.Kaniko.Tests.Specs;

namespace BuildFarm.Kaniko.Tests.Pods;

public sealed class MultiPlatformPodTests
{
    private static readonly BuildSpec TwoPlatforms = SampleSpecs.Full() with
    {
        Platform = null,
        Platforms = ["linux/amd64", "linux/arm64/v8"],
        Destinations = ["registry.example.com/team/api:1.2.3", "registry.example.com/team/api:latest", "mirror.example.com/api:1.2.3"],
    };

    private static readonly string Key = BuildKey.Compute(TwoPlatforms, new KanikoPodOptions().ExecutorImage);

    [Fact]
    public void A_platform_pod_runs_on_a_node_of_its_os_and_arch_and_pushes_only_to_staging_tags()
    {
        var options = new KanikoPodOptions { NodeSelector = new Dictionary<string, string> { ["pool"] = "builds", ["kubernetes.io/arch"] = "amd64" } };
        var pod = KanikoPodFactory.CreateForPlatform(TwoPlatforms, "build-42", "linux/arm64/v8", 3, options);
        var staging = $"buildfarm-{Key[..16]}-linux-arm64-v8";

        Assert.Equal("bf-build-42-3-linux-arm64-v8", pod.Metadata.Name);
        Assert.Equal(new Dictionary<string, string> { ["pool"] = "builds", ["kubernetes.io/os"] = "linux", ["kubernetes.io/arch"] = "arm64" }, pod.Spec.NodeSelector);
        Assert.Equal("linux-arm64-v8", pod.Metadata.Labels[KanikoPodLabels.Platform]);
        Assert.Equal("linux/arm64/v8", pod.Metadata.Annotations[KanikoPodLabels.Platform]);
        Assert.Equal(KanikoPodLabels.BuildKeyLabelValue(Key), pod.Metadata.Labels[KanikoPodLabels.BuildKey]);
        Assert.Equal("3", pod.Metadata.Labels[KanikoPodLabels.Attempt]);
        var args = pod.Spec.Containers[0].Args;
        Assert.Equal(
            [$"--destination=registry.example.com/team/api:{staging}", $"--destination=mirror.example.com/api:{staging}"],
            args.Where(a => a.StartsWith("--destination=", StringComparison.Ordinal)));
        Assert.Contains("--custom-platform=linux/arm64/v8", args);
        Assert.Contains("--digest-file=/dev/termination-log", args);
        Assert.DoesNotContain(args, a => a.Contains(":1.2.3", StringComparison.Ordinal) || a.EndsWith(":latest", StringComparison.Ordinal));
        Assert.Equal($"[\"registry.example.com/team/api:{staging}\",\"mirror.example.com/api:{staging}\"]", pod.Metadata.Annotations[KanikoPodLabels.Destinations]);
    }

    [Fact]
    public void Each_platform_has_its_own_pod_name_and_staging_tag_and_the_same_build_key()
    {
        var amd = KanikoPodFactory.CreateForPlatform(TwoPlatforms, "b", "linux/amd64", 1, new KanikoPodOptions(), Key);
        var arm = KanikoPodFactory.CreateForPlatform(TwoPlatforms, "b", "linux/arm64/v8", 1, new KanikoPodOptions(), Key);
        Assert.NotEqual(amd.Metadata.Name, arm.Metadata.Name);
        Assert.Equal(amd.Metadata.Annotations[KanikoPodLabels.BuildKey], arm.Metadata.Annotations[KanikoPodLabels.BuildKey]);
        Assert.NotEqual(BuildPlatforms.StagingTag(Key, "linux/amd64"), BuildPlatforms.StagingTag(Key, "linux/arm64/v8"));
        Assert.True(BuildPlatforms.StagingTag(Key, "linux/arm64/v8").Length <= 128);
    }

    [Fact]
    public void A_multi_platform_spec_has_no_single_pod_and_a_foreign_platform_is_refused()
    {
        var error = Assert.Throws<ArgumentException>(() => KanikoPodFactory.Create(TwoPlatforms, "b", 1, new KanikoPodOptions()));
        Assert.Contains("one pod per platform", error.Message, StringComparison.Ordinal);
        Assert.Contains("not one of the build's platforms", Assert.Throws<ArgumentException>(
            () => KanikoPodFactory.CreateForPlatform(TwoPlatforms, "b", "linux/s390x", 1, new KanikoPodOptions())).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => KanikoPodFactory.CreateForPlatform(TwoPlatforms, "b", "Linux/AMD64", 1, new KanikoPodOptions()));
    }

    [Fact]
    public void One_platform_in_either_field_is_the_single_platform_build_it_always_was()
    {
        var single = SampleSpecs.Full();
        var listed = single with { Platform = null, Platforms = ["linux/arm64"] };
        var options = new KanikoPodOptions();
        var pod = KanikoPodFactory.Create(listed, "b", 1, options);
        Assert.Equal(KanikoPodFactory.Create(single, "b", 1, options).Spec.Containers[0].Args, pod.Spec.Containers[0].Args);
        Assert.Null(pod.Spec.NodeSelector);
        Assert.Equal("bf-b-1", pod.Metadata.Name);
        Assert.Equal(BuildKey.Compute(single, options.ExecutorImage), BuildKey.Compute(listed, options.ExecutorImage));
        Assert.False(BuildPlatforms.IsMultiPlatform(listed));
        Assert.True(BuildPlatforms.IsMultiPlatform(TwoPlatforms));
    }

    [Fact]
    public void The_build_key_names_the_platforms_in_order()
    {
        var image = new KanikoPodOptions().ExecutorImage;
        var reversed = TwoPlatforms with { Platforms = ["linux/arm64/v8", "linux/amd64"] };
        Assert.NotEqual(BuildKey.Compute(TwoPlatforms, image), BuildKey.Compute(reversed, image));
        Assert.NotEqual(BuildKey.Compute(TwoPlatforms, image), BuildKey.Compute(TwoPlatforms with { Platforms = ["linux/amd64"] }, image));
        Assert.Contains("platforms#2\n11:linux/amd64\n14:linux/arm64/v8\n", BuildKey.CanonicalForm(TwoPlatforms, image), StringComparison.Ordinal);
        Assert.DoesNotContain("platforms#", BuildKey.CanonicalForm(SampleSpecs.Full(), image), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("linux/amd64", "linux", "amd64")]
    [InlineData("linux/arm/v7", "linux", "arm")]
    [InlineData("windows/amd64", "windows", "amd64")]
    public void Node_selectors_name_os_and_arch(string platform, string os, string arch) =>
        Assert.Equal(new Dictionary<string, string> { ["kubernetes.io/os"] = os, ["kubernetes.io/arch"] = arch }, BuildPlatforms.NodeSelector(platform));

    [Fact]
    public void Long_platforms_still_make_valid_pod_names()
    {
        var platform = "linux/" + new string('a', 20) + "/" + new string('b', 20);
        var name = KanikoPodNames.PlatformPodName(new string('x', 80), platform, 12);
        Assert.True(name.Length <= KanikoPodNames.MaxNameLength, name);
        Assert.Matches("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", name);
        Assert.NotEqual(name, KanikoPodNames.PlatformPodName(new string('x', 80), "linux/amd64", 12));
    }
}
