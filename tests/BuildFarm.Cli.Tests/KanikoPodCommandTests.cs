using k8s;
using k8s.Models;

namespace BuildFarm.Cli.Tests;

public sealed class KanikoPodCommandTests
{
    private const string Context = "https://artifacts.example.com/ctx/app.tar.gz";
    private const string Destination = "registry.example.com/team/app:1";

    private static Task<CliRunner.Result> Pod(params string[] args) =>
        CliRunner.RunAsync(["kaniko", "pod", .. args]);

    [Fact]
    public async Task Pod_Yaml_ParsesBackToThePod()
    {
        var result = await Pod("--context", Context, "--destination", Destination, "--destination", "registry.example.com/team/app:latest",
            "--build-arg", "B=2", "--build-arg", "A=x=y", "--target", "runtime", "--label", "team=core",
            "--dockerfile", "./docker/Dockerfile", "--context-sub-path", "services/app", "--platform", "linux/arm64",
            "--cache-repo", "registry.example.com/team/cache", "--build-id", "Build-7", "--attempt", "2");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("", result.Error);
        var pod = KubernetesYaml.Deserialize<V1Pod>(result.Out);
        Assert.Equal("Pod", pod.Kind);
        Assert.Equal("Never", pod.Spec.RestartPolicy);
        Assert.StartsWith("bf-build-7-", pod.Metadata.Name, StringComparison.Ordinal);
        Assert.EndsWith("-2", pod.Metadata.Name, StringComparison.Ordinal);
        Assert.Equal("Build-7", pod.Metadata.Annotations["buildfarm.io/build-id"]);
        var args = Assert.Single(pod.Spec.Containers).Args;
        Assert.Contains($"--destination={Destination}", args);
        Assert.Contains("--destination=registry.example.com/team/app:latest", args);
        Assert.Contains("--build-arg=A=x=y", args);
        Assert.True(args.IndexOf("--build-arg=A=x=y") < args.IndexOf("--build-arg=B=2"));
        Assert.Contains("--target=runtime", args);
        Assert.Contains("--label=team=core", args);
        Assert.Contains("--dockerfile=docker/Dockerfile", args);
        Assert.Contains("--context-sub-path=services/app", args);
        Assert.Contains("--custom-platform=linux/arm64", args);
        Assert.Contains("--cache=true", args);
        Assert.Contains("--cache-repo=registry.example.com/team/cache", args);
        Assert.Contains("--log-timestamp", args);
        Assert.Contains("--digest-file=/dev/termination-log", args);
    }

    [Fact]
    public async Task Pod_Platforms_PrintsOnePodPerPlatformOnMatchingNodes()
    {
        var result = await Pod("--context", Context, "--destination", Destination, "--platforms", "linux/amd64,linux/arm64", "--build-id", "multi");

        Assert.Equal(0, result.ExitCode);
        var documents = result.Out.Split("---\n");
        Assert.Equal(2, documents.Length);
        var pods = documents.Select(d => KubernetesYaml.Deserialize<V1Pod>(d)).ToList();
        Assert.Equal(["bf-multi-1-linux-amd64", "bf-multi-1-linux-arm64"], pods.Select(p => p.Metadata.Name));
        Assert.Equal(["amd64", "arm64"], pods.Select(p => p.Spec.NodeSelector["kubernetes.io/arch"]));
        Assert.All(pods, p => Assert.Equal("linux", p.Spec.NodeSelector["kubernetes.io/os"]));
        Assert.All(pods, p => Assert.DoesNotContain($"--destination={Destination}", p.Spec.Containers[0].Args));
        Assert.Contains("--custom-platform=linux/arm64", pods[1].Spec.Containers[0].Args);

        var json = await Pod("--context", Context, "--destination", Destination, "--platforms", "linux/amd64", "--platforms", "linux/arm64", "-o", "json");
        Assert.Equal(0, json.ExitCode);
        Assert.Equal(2, KubernetesJson.Deserialize<V1PodList>(json.Out).Items.Count);

        var repeated = await Pod("--context", Context, "--destination", Destination, "--platforms", "linux/amd64,linux/amd64");
        Assert.Equal(2, repeated.ExitCode);
        Assert.Contains("platforms[1]", repeated.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pod_Json_ParsesBackToThePod()
    {
        var result = await Pod("--context", Context, "-d", Destination, "-o", "json");

        Assert.Equal(0, result.ExitCode);
        var pod = KubernetesJson.Deserialize<V1Pod>(result.Out);
        Assert.Equal("v1", pod.ApiVersion);
        Assert.Equal("/kaniko/.docker", Assert.Single(Assert.Single(pod.Spec.Containers).VolumeMounts).MountPath);
    }

    [Fact]
    public async Task Pod_NoBuildId_NameDerivedFromBuildKey()
    {
        var first = KubernetesYaml.Deserialize<V1Pod>((await Pod("--context", Context, "-d", Destination)).Out);
        var second = KubernetesYaml.Deserialize<V1Pod>((await Pod("--context", Context, "-d", Destination)).Out);

        var key = first.Metadata.Annotations["buildfarm.io/build-key"];
        Assert.Equal($"bf-{key[..12]}-1", first.Metadata.Name);
        Assert.Equal(first.Metadata.Name, second.Metadata.Name);
    }

    [Fact]
    public async Task Pod_Debug_PrintsDebugPod()
    {
        var result = await Pod("--context", Context, "-d", Destination, "--debug");

        Assert.Equal(0, result.ExitCode);
        var container = Assert.Single(KubernetesYaml.Deserialize<V1Pod>(result.Out).Spec.Containers);
        Assert.Equal(["/busybox/sh", "-c", "tail -f /dev/null"], container.Command);
        Assert.Contains("v1.24.0-debug@sha256:", container.Image, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pod_GitContext_WarnsOnStderrButSucceeds()
    {
        var result = await Pod("--context", "git://github.com/acme/app.git", "-d", Destination);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("warning: context: git:// context: private repositories may not work", result.Error, StringComparison.Ordinal);
        Assert.NotNull(KubernetesYaml.Deserialize<V1Pod>(result.Out));
    }

    [Theory]
    [InlineData("--context", new[] { "-d", Destination })]
    [InlineData("destinations", new[] { "--context", Context })]
    [InlineData("destinations[1]", new[] { "--context", Context, "-d", Destination, "-d", "Bad Ref" })]
    [InlineData("context", new[] { "--context", "ftp://x/ctx.tar.gz", "-d", Destination })]
    [InlineData("dockerfile", new[] { "--context", Context, "-d", Destination, "--dockerfile", "../Dockerfile" })]
    [InlineData("buildArgs[1X]", new[] { "--context", Context, "-d", Destination, "--build-arg", "1X=2" })]
    [InlineData("--build-arg", new[] { "--context", Context, "-d", Destination, "--build-arg", "NOVALUE" })]
    [InlineData("--build-arg", new[] { "--context", Context, "-d", Destination, "--build-arg", "A=1", "--build-arg", "A=2" })]
    [InlineData("--label", new[] { "--context", Context, "-d", Destination, "--label", "=x" })]
    [InlineData("platform", new[] { "--context", Context, "-d", Destination, "--platform", "linux" })]
    [InlineData("target", new[] { "--context", Context, "-d", Destination, "--target", "9lives" })]
    [InlineData("cacheRepo", new[] { "--context", Context, "-d", Destination, "--cache-repo", "reg.example.com/c:tag" })]
    [InlineData("--output", new[] { "--context", Context, "-d", Destination, "-o", "xml" })]
    [InlineData("--attempt", new[] { "--context", Context, "-d", Destination, "--attempt", "0" })]
    [InlineData("--attempt", new[] { "--context", Context, "-d", Destination, "--attempt", "two" })]
    [InlineData("--executor-image", new[] { "--context", Context, "-d", Destination, "--executor-image", "gcr.io/kaniko-project/executor:v1.24.0" })]
    [InlineData("--executor-image", new[] { "--context", Context, "-d", Destination, "--executor-image", "Not An Image" })]
    [InlineData("unexpected argument 'extra'", new[] { "--context", Context, "-d", Destination, "extra" })]
    [InlineData("unexpected argument '--contxt'", new[] { "--contxt", Context, "-d", Destination })]
    [InlineData("--context: is required", new[] { "-d", Destination, "--context" })]
    [InlineData("--target: needs a value", new[] { "--context", Context, "-d", Destination, "--target" })]
    [InlineData("destinations: at least one", new[] { "--context", Context, "-d" })]
    public async Task Pod_InvalidInput_Exit2NamingTheField(string field, string[] args)
    {
        var result = await Pod(args);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("", result.Out);
        Assert.Contains($"buildfarm kaniko pod: {field}", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pod_UnpinnedImage_MessageSaysHowToFix()
    {
        var result = await Pod("--context", Context, "-d", Destination, "--executor-image", "gcr.io/kaniko-project/executor:v1.24.0");

        Assert.Contains("not pinned by digest", result.Error, StringComparison.Ordinal);
        Assert.Contains("--allow-unpinned", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pod_UnpinnedImageAllowed_Used()
    {
        var result = await Pod("--context", Context, "-d", Destination, "--executor-image", "registry.example.com/forks/kaniko:v1.25.5", "--allow-unpinned");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("registry.example.com/forks/kaniko:v1.25.5", Assert.Single(KubernetesYaml.Deserialize<V1Pod>(result.Out).Spec.Containers).Image);
    }
}
