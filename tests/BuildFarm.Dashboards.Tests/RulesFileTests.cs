using System.Text.RegularExpressions;
using BuildFarm.Contracts;
using YamlDotNet.RepresentationModel;

namespace BuildFarm.Dashboards.Tests;

/// <summary>dashboards/prometheus/buildfarm-rules.yml and its promtool tests, read as YAML.</summary>
public sealed class RulesFileTests
{
    private static readonly IReadOnlyList<PromRule> s_rules = RulesFile.Load(Repo.Rules);

    /// <summary>The runbook base the shipped rules carry, replaced at deploy time (docs/dashboards.md "Runbook links").</summary>
    public const string RunbookPlaceholder = "https://buildfarm.invalid/docs/dashboards.md";

    private static IEnumerable<PromRule> Alerts => s_rules.Where(r => r.Alert is not null);

    [Fact]
    public void Rules_EveryAlert_HasSeveritySummaryDescriptionAndARunbookSectionThatExists()
    {
        var doc = Repo.ReadText(Repo.DashboardsDoc);
        var anchors = Regex.Matches(doc, @"^#+ (.+)$", RegexOptions.Multiline).Select(m => GitHubAnchor(m.Groups[1].Value)).ToHashSet(StringComparer.Ordinal);
        Assert.NotEmpty(Alerts);
        foreach (var alert in Alerts)
        {
            Assert.True(alert.Labels.TryGetValue("severity", out var severity) && severity is "warning" or "critical",
                $"{alert.Alert}: severity must be warning or critical");
            Assert.False(string.IsNullOrWhiteSpace(alert.Annotations.GetValueOrDefault("summary")), $"{alert.Alert}: no summary");
            Assert.False(string.IsNullOrWhiteSpace(alert.Annotations.GetValueOrDefault("description")), $"{alert.Alert}: no description");
            var anchor = alert.Alert!.ToLowerInvariant();
            // Absolute (clickable in Alertmanager and Grafana); deploy/components/monitoring and docker-compose.yml replace the part before '#'.
            Assert.Equal($"{RunbookPlaceholder}#{anchor}", alert.Annotations.GetValueOrDefault("runbook_url"));
            Assert.True(anchors.Contains(anchor), $"{alert.Alert}: docs/dashboards.md has no section '{alert.Alert}' for its runbook_url");
        }
    }

    [Fact]
    public void Rules_RatioAlerts_GuardedByAMinimumRateAndAFor()
    {
        var ratios = Alerts.Where(a => a.Expr.Contains("ratio", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(ratios);
        foreach (var alert in ratios)
        {
            Assert.True(alert.Expr.Contains("and on(namespace)", StringComparison.Ordinal), $"{alert.Alert}: a ratio alert needs a minimum-traffic guard (and on(namespace) …)");
            Assert.False(string.IsNullOrEmpty(alert.For), $"{alert.Alert}: a ratio alert needs a for:");
        }
    }

    [Fact]
    public void Rules_TransientReasonRegex_IsExactlyTheContractsTransientReasons()
    {
        var expected = string.Join('|', FailureReasons.Transient);
        var matchers = s_rules.SelectMany(r => PromQl.Selectors(r.Expr)).SelectMany(s => s.Matchers)
            .Where(m => m.Label == "reason" && m.Op is "=~" or "!~" && m.Value.Contains("connection_reset", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, matchers.Count);
        Assert.All(matchers, m => Assert.Equal(expected, m.Value));
    }

    [Fact]
    public void Rules_RecordedNames_FollowLevelMetricOperations()
    {
        foreach (var rule in s_rules.Where(r => r.Record is not null))
        {
            Assert.Matches("^[a-z_]+:[a-z_]+:[a-z0-9_]+$", rule.Record!);
        }
    }

    [Fact]
    public void RuleTests_EveryAlert_HasAFiringCaseAndASilentCase()
    {
        var cases = RuleTestCases().ToList();
        foreach (var alert in Alerts)
        {
            var mine = cases.Where(c => c.Alert == alert.Alert).ToList();
            Assert.True(mine.Any(c => c.ExpectsAlerts), $"{alert.Alert}: no promtool test where it fires");
            Assert.True(mine.Any(c => !c.ExpectsAlerts), $"{alert.Alert}: no promtool test where it stays silent");
        }
    }

    [Fact]
    public void RuleTests_EveryRecordingRule_HasAnExpressionTest()
    {
        var exprs = RuleTestDocuments().SelectMany(d => Items(d, "tests")).SelectMany(t => Items(t, "promql_expr_test"))
            .Select(t => RulesFile.Scalar(t, "expr")!).ToList();
        foreach (var record in s_rules.Select(r => r.Record).OfType<string>().Distinct())
        {
            Assert.True(exprs.Any(e => PromQl.Selectors(e).Any(s => s.Metric == record)), $"recording rule {record} has no promql_expr_test");
        }
    }

    /// <summary>The anchor GitHub gives a heading: lower case, spaces to '-', punctuation but '-' and '_' dropped.</summary>
    internal static string GitHubAnchor(string heading) =>
        Regex.Replace(heading.Trim().ToLowerInvariant().Replace(' ', '-'), @"[^a-z0-9_\-]", "");

    private static IEnumerable<(string Alert, bool ExpectsAlerts)> RuleTestCases() =>
        RuleTestDocuments().SelectMany(d => Items(d, "tests")).SelectMany(t => Items(t, "alert_rule_test"))
            .Select(c => (RulesFile.Scalar(c, "alertname")!, Items(c, "exp_alerts").Any()));

    private static IEnumerable<YamlMappingNode> RuleTestDocuments()
    {
        var files = Directory.GetFiles(Repo.RuleTestsDir, "*.test.yml");
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            var yaml = new YamlStream();
            using var reader = new StringReader(File.ReadAllText(file));
            yaml.Load(reader);
            yield return (YamlMappingNode)yaml.Documents[0].RootNode;
        }
    }

    private static IEnumerable<YamlMappingNode> Items(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlSequenceNode sequence
            ? sequence.Children.OfType<YamlMappingNode>()
            : [];
}
