namespace BuildFarm.Dashboards.Tests;

/// <summary>The real promtool on the shipped rules and their unit tests.</summary>
public sealed class PromtoolTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromMinutes(2);

    [NeedsServer(Server.Prometheus)]
    [Fact]
    public async Task Promtool_CheckRules_AcceptsEveryRule()
    {
        var rules = RulesFile.Load(Repo.Rules);
        var (code, output) = await PrometheusTools.RunAsync(PrometheusTools.Promtool, ["check", "rules", Repo.Rules], Repo.Root, s_timeout);
        Assert.True(code == 0, $"promtool check rules exited {code}:\n{output}");
        Assert.Contains($"SUCCESS: {rules.Count} rules found", output, StringComparison.Ordinal);
    }

    [NeedsServer(Server.Prometheus)]
    [Fact]
    public async Task Promtool_TestRules_EveryTestFilePasses()
    {
        var files = Directory.GetFiles(Repo.RuleTestsDir, "*.test.yml").Order(StringComparer.Ordinal).ToList();
        Assert.True(files.Count >= 2, "expected the recording and alert rule tests in dashboards/prometheus/tests");
        var (code, output) = await PrometheusTools.RunAsync(PrometheusTools.Promtool, ["test", "rules", .. files], Repo.RuleTestsDir, s_timeout);
        Assert.True(code == 0, $"promtool test rules exited {code}:\n{output}");
        Assert.DoesNotContain("FAILED", output, StringComparison.Ordinal);
        Assert.Equal(files.Count, output.Split("SUCCESS").Length - 1);
    }

    /// <summary>The unit tests catch a broken rule: each mutation of the rules makes promtool fail on the named alert.</summary>
    [NeedsServer(Server.Prometheus)]
    [Theory]
    [InlineData("            and on(namespace) buildfarm:build_attempts:rate5m > 0.05\n", "", "BuildFarmConnectionResetRatioHigh")]
    // Resets divided by all attempts again instead of the registry's own: the small registry's 20% reads as 2%.
    [InlineData("            / sum by (namespace, registry) (rate(buildfarm_build_attempts_total[5m]))\n",
        "            / on(namespace) group_left() sum by (namespace) (rate(buildfarm_build_attempts_total[5m]))\n", "BuildFarmConnectionResetRatioHigh")]
    // Every refused pod create counted again, RBAC denials included.
    [InlineData("buildfarm_pod_create_refusals_total{kind=\"quota\"}", "buildfarm_pod_create_refusals_total", "BuildFarmPodQuotaFull")]
    [InlineData("up{job=~\"buildfarm-worker|buildfarm-api\"} == 0", "up == 0", "BuildFarmTargetDown")]
    [InlineData("or on() vector(0)) == 0\n            and on() (sum(increase(buildfarm_builds_total", ") == 0\n            and on() (sum(increase(buildfarm_builds_total", "BuildFarmBuildsStuck")]
    [InlineData("  kind: transient", "  kind: permanent", "kind:buildfarm_failed_attempts:rate5m")]
    public async Task Promtool_TestRules_MutatedRules_Fail(string from, string to, string named)
    {
        var original = Repo.ReadText(Repo.Rules);
        Assert.Contains(from, original, StringComparison.Ordinal);
        var dir = Directory.CreateTempSubdirectory("buildfarm-rules-mutant-");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, "buildfarm-rules.yml"), original.Replace(from, to, StringComparison.Ordinal));
            var tests = Directory.CreateDirectory(Path.Combine(dir.FullName, "tests"));
            var files = new List<string>();
            foreach (var file in Directory.GetFiles(Repo.RuleTestsDir, "*.test.yml"))
            {
                var copy = Path.Combine(tests.FullName, Path.GetFileName(file));
                File.Copy(file, copy);
                files.Add(copy);
            }
            var (code, output) = await PrometheusTools.RunAsync(PrometheusTools.Promtool, ["test", "rules", .. files], tests.FullName, s_timeout);
            Assert.True(code != 0, $"promtool test rules passed on rules mutated ({from.Trim()} -> {to.Trim()}):\n{output}");
            Assert.Contains(named, output, StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
