using System.CommandLine;
using System.Reflection;
using BuildFarm.Cli.Commands;
using BuildFarm.Contracts;
using k8s;
using k8s.Models;

namespace BuildFarm.Cli.Tests;

/// <summary>One build's options are one set: every <see cref="BuildSpec"/> field has an option, in submit and kaniko pod alike.</summary>
public sealed class BuildSpecOptionsTests
{
    private static readonly CliIO s_io = new(TextReader.Null, TextWriter.Null, TextWriter.Null);

    /// <summary>The fields of <see cref="BuildSpec"/> the API accepts, nested records' fields as <c>Resources.CpuRequest</c>.</summary>
    private static IEnumerable<string> Fields(Type type, string prefix = "") =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance).SelectMany(p =>
            p.PropertyType == typeof(BuildResources) ? Fields(p.PropertyType, p.Name + ".") : [prefix + p.Name]);

    private static Command Find(Command root, params string[] path) =>
        path.Aggregate(root, (c, name) => c.Subcommands.Single(s => s.Name == name));

    private static HashSet<string> OptionNames(Command command) =>
        [.. command.Options.SelectMany(o => o.Aliases.Append(o.Name))];

    [Fact]
    public void EveryBuildSpecField_HasAnOption()
    {
        Assert.Equal(Fields(typeof(BuildSpec)).Order(StringComparer.Ordinal), new BuildSpecOptions().ByField.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void SubmitAndKanikoPod_AcceptTheSameBuildOptions()
    {
        var root = BuildFarmCli.Create(s_io);
        var submit = OptionNames(Find(root, "submit"));
        var pod = OptionNames(Find(root, "kaniko", "pod"));
        var build = new BuildSpecOptions().All.SelectMany(o => o.Aliases.Append(o.Name)).ToList();

        Assert.Equal(17, new BuildSpecOptions().All.Count());
        Assert.All(build, name => Assert.Contains(name, submit));
        Assert.All(build, name => Assert.Contains(name, pod));
        foreach (var name in new[] { "--context-sub-path", "--label", "--platform", "--platforms", "--cache-repo", "--cache", "--deadline-seconds", "--memory-limit" })
        {
            Assert.Contains(name, build);
        }
    }

    [Fact]
    public async Task Pod_ResourcesDeadlineAndCache_ReachThePod()
    {
        var result = await CliRunner.RunAsync("kaniko", "pod", "--context", "s3://ctx/app.tar.gz", "-d", "registry.example.com/team/app:1",
            "--cache", "--deadline-seconds", "900", "--cpu-request", "250m", "--memory-limit", "3Gi", "--ephemeral-storage-limit", "20Gi");

        Assert.True(result.ExitCode == 0, result.Error);
        var pod = KubernetesYaml.Deserialize<V1Pod>(result.Out);
        Assert.Equal(900, pod.Spec.ActiveDeadlineSeconds);
        var container = Assert.Single(pod.Spec.Containers);
        Assert.Contains("--cache=true", container.Args);
        Assert.Equal("250m", container.Resources.Requests["cpu"].ToString());
        Assert.Equal("3Gi", container.Resources.Limits["memory"].ToString());
        Assert.Equal("20Gi", container.Resources.Limits["ephemeral-storage"].ToString());
    }

    [Theory]
    [InlineData("--deadline-seconds: 'soon' must be a whole number", "--deadline-seconds", "soon")]
    [InlineData("--deadline-seconds: '0' must be a whole number", "--deadline-seconds", "0")]
    [InlineData("--memory-limit: needs a value", "--memory-limit")]
    [InlineData("--label: 'x' must be KEY=VALUE", "--label", "x")]
    public async Task SubmitAndPod_SameBadBuildOption_SameMessage(string message, params string[] option)
    {
        string[] build = ["--context", "s3://ctx/app.tar.gz", "--destination", "registry.example.com/team/app:1", .. option];

        var pod = await CliRunner.RunAsync(["kaniko", "pod", .. build]);
        var submit = await CliRunner.RunAsync(["submit", .. build, "--api", "http://127.0.0.1:1/"]);

        Assert.Equal((2, 2), (pod.ExitCode, submit.ExitCode));
        Assert.Contains("buildfarm kaniko pod: " + message, pod.Error, StringComparison.Ordinal);
        Assert.Contains("buildfarm submit: " + message, submit.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_Manifest_RejectsEveryBuildOption()
    {
        var result = await CliRunner.RunAsync("submit", "--manifest", "m.yaml", "--platform", "linux/arm64", "--label", "a=b", "--cache",
            "--api", "http://127.0.0.1:1/");

        Assert.Equal(2, result.ExitCode);
        foreach (var name in new[] { "--platform", "--label", "--cache" })
        {
            Assert.Contains($"{name} is for one build (--context)", result.Error, StringComparison.Ordinal);
        }
    }
}
