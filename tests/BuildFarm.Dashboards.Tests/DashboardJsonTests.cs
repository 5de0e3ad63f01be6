using System.Text.Json;
using System.Text.RegularExpressions;

namespace BuildFarm.Dashboards.Tests;

/// <summary>dashboards/grafana/buildfarm-overview.json as a Grafana dashboard JSON model (no Grafana needed).</summary>
public sealed class DashboardJsonTests
{
    private static readonly DashboardModel s_dashboard = DashboardModel.Load(Repo.Dashboard);

    [Fact]
    public void Dashboard_Header_FixedUidSchemaVersionAndTitle()
    {
        Assert.Equal("buildfarm-overview", s_dashboard.Root.GetProperty("uid").GetString());
        Assert.Equal(39, s_dashboard.Root.GetProperty("schemaVersion").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(s_dashboard.Root.GetProperty("title").GetString()));
    }

    [Fact]
    public void Dashboard_Variables_DatasourceOfTypePrometheusAndMultiAllLabelValues()
    {
        var byName = s_dashboard.Variables.ToDictionary(v => v.GetProperty("name").GetString()!, StringComparer.Ordinal);
        Assert.Equal(["datasource", "job", "namespace", "registry", "phase"], byName.Keys);
        Assert.Equal("datasource", byName["datasource"].GetProperty("type").GetString());
        Assert.Equal("prometheus", byName["datasource"].GetProperty("query").GetString());
        foreach (var name in new[] { "job", "namespace", "registry", "phase" })
        {
            var variable = byName[name];
            Assert.Equal("query", variable.GetProperty("type").GetString());
            Assert.True(variable.GetProperty("multi").GetBoolean(), $"{name} must allow several values");
            Assert.True(variable.GetProperty("includeAll").GetBoolean(), $"{name} must offer All");
            Assert.Equal(".*", variable.GetProperty("allValue").GetString());
            AssertDatasourceIsVariable(variable.GetProperty("datasource"), $"variable {name}");
            var definition = variable.GetProperty("definition").GetString()!;
            Assert.Matches($@"^label_values\(.+, {name}\)$", definition);
            Assert.Equal(definition, variable.GetProperty("query").GetProperty("query").GetString());
        }
    }

    [Fact]
    public void Dashboard_PanelIds_Unique()
    {
        var ids = s_dashboard.Panels.Select(p => p.GetProperty("id").GetInt32()).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
    }

    [Fact]
    public void Dashboard_GridPos_PresentInsideTheGridAndNotOverlapping()
    {
        var boxes = new List<(string Title, int X, int Y, int W, int H)>();
        foreach (var panel in s_dashboard.Panels)
        {
            var title = panel.GetProperty("title").GetString()!;
            Assert.True(panel.TryGetProperty("gridPos", out var grid), $"panel '{title}' has no gridPos");
            var box = (title, grid.GetProperty("x").GetInt32(), grid.GetProperty("y").GetInt32(), grid.GetProperty("w").GetInt32(), grid.GetProperty("h").GetInt32());
            Assert.True(box.Item2 >= 0 && box.Item4 > 0 && box.Item2 + box.Item4 <= 24 && box.Item5 > 0, $"panel '{title}' gridPos {grid} is outside the 24-column grid");
            boxes.Add(box);
        }
        foreach (var a in boxes)
        {
            foreach (var b in boxes.Where(b => !ReferenceEquals(a.Title, b.Title)))
            {
                var overlap = a.X < b.X + b.W && b.X < a.X + a.W && a.Y < b.Y + b.H && b.Y < a.Y + a.H;
                Assert.False(overlap, $"panels '{a.Title}' and '{b.Title}' overlap");
            }
        }
    }

    [Fact]
    public void Dashboard_EveryDataPanel_DescribedAndQueriedThroughTheDatasourceVariable()
    {
        Assert.NotEmpty(s_dashboard.DataPanels);
        foreach (var panel in s_dashboard.DataPanels)
        {
            var title = panel.GetProperty("title").GetString()!;
            Assert.True(panel.TryGetProperty("description", out var description) && description.GetString()!.Length >= 80,
                $"panel '{title}' needs a description saying what it shows and what to do when it looks bad");
            AssertDatasourceIsVariable(panel.GetProperty("datasource"), $"panel '{title}'");
            var targets = panel.GetProperty("targets").EnumerateArray().ToList();
            Assert.True(targets.Count > 0, $"panel '{title}' has no query");
            Assert.Equal(targets.Count, targets.Select(t => t.GetProperty("refId").GetString()).Distinct().Count());
            foreach (var target in targets)
            {
                AssertDatasourceIsVariable(target.GetProperty("datasource"), $"panel '{title}' target {target.GetProperty("refId")}");
                Assert.False(string.IsNullOrWhiteSpace(target.GetProperty("expr").GetString()), $"panel '{title}' has an empty query");
            }
        }
    }

    [Fact]
    public void Dashboard_RangeVectors_UseRateInterval()
    {
        foreach (var target in s_dashboard.Targets)
        {
            // Rates over $__rate_interval; a stat's instant query may cover the whole picked range ($__range).
            var allowed = IsInstantStat(target) ? new[] { "$__rate_interval", "$__range" } : ["$__rate_interval"];
            foreach (Match range in Regex.Matches(target.Expr, @"\[([^\]]*)\]"))
            {
                Assert.True(allowed.Contains(range.Groups[1].Value), $"{target} uses [{range.Groups[1].Value}], not [$__rate_interval]: {target.Expr}");
            }
        }
    }

    [Fact]
    public void Dashboard_Quantiles_SumBucketsByLe()
    {
        var quantiles = s_dashboard.Targets.Where(t => t.Expr.Contains("histogram_quantile", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(quantiles);
        foreach (var target in quantiles)
        {
            Assert.Matches(@"^histogram_quantile\(0\.\d+, sum by \(le(, [a-z_]+)*\) \(rate\(buildfarm_[a-z_]+_seconds_bucket(\{[^}]*\})?\[\$__rate_interval\]\)\)\)$", target.Expr);
        }
    }

    [Fact]
    public void Dashboard_SuccessRatio_CoversThePickedRangeAsOneInstantValue()
    {
        var target = Assert.Single(s_dashboard.Targets, t => t.PanelTitle == "Build success ratio");
        Assert.True(IsInstantStat(target), "the success ratio is one value over the picked range: an instant query");
        Assert.Equal(2, Regex.Count(target.Expr, @"increase\(buildfarm_builds_total\{[^}]*\}\[\$__range\]\)"));
    }

    [Fact]
    public void Dashboard_PanelsWithARecordingRule_ReadTheRule()
    {
        // Every recorded series is read by some panel (but the queue-wait p95, which the alert reads: its panel computes
        // p50/p95/p99 from the buckets), and no panel recomputes the transient/permanent split itself.
        var rules = RulesFile.Load(Repo.Rules).Select(r => r.Record).OfType<string>().Distinct()
            .Where(r => r is not "buildfarm:queue_wait_seconds:p95_rate5m" and not "buildfarm:queue_wait:rate5m"
                and not "buildfarm:builds_decided:rate5m" and not "buildfarm:build_success_ratio:rate5m" and not "buildfarm:build_failure_ratio:rate5m"
                and not "buildfarm:kube_api_requests:rate5m");
        foreach (var rule in rules)
        {
            Assert.True(s_dashboard.Targets.Any(t => t.Expr.Contains(rule + "{", StringComparison.Ordinal)), $"no panel reads {rule}");
        }
        Assert.DoesNotContain(s_dashboard.Targets, t => t.Expr.Contains("reason=~", StringComparison.Ordinal) || t.Expr.Contains("reason!~", StringComparison.Ordinal));
        var split = Assert.Single(s_dashboard.Targets, t => t.PanelTitle == "Failed attempts: transient vs permanent");
        Assert.Contains("kind:buildfarm_failed_attempts:rate5m", split.Expr, StringComparison.Ordinal);
    }

    [Fact]
    public void Dashboard_JobAndNamespace_FilterEveryPanel()
    {
        foreach (var target in s_dashboard.Targets)
        {
            // Raw metrics by job and namespace; recorded series (level:metric:ops, aggregated over jobs) by namespace.
            foreach (var selector in PromQl.Selectors(target.Expr))
            {
                var labels = selector.Matchers.Select(m => m.Label).ToHashSet(StringComparer.Ordinal);
                Assert.True(labels.Contains("namespace"), $"{target}: {selector.Metric} is not filtered by $namespace");
                if (selector.Metric?.Contains(':', StringComparison.Ordinal) != true)
                {
                    Assert.True(labels.Contains("job"), $"{target}: {selector.Metric} is not filtered by $job");
                }
            }
        }
    }

    private static bool IsInstantStat(PanelTarget target) =>
        target.Json.TryGetProperty("instant", out var instant) && instant.GetBoolean()
        && s_dashboard.DataPanels.Single(p => p.GetProperty("id").GetInt32() == target.PanelId).GetProperty("type").GetString() == "stat";

    [Fact]
    public void Dashboard_RegistryAndPhaseVariables_AreUsedByPanels()
    {
        Assert.Contains(s_dashboard.Targets, t => t.Expr.Contains("registry=~\"$registry\"", StringComparison.Ordinal));
        Assert.Contains(s_dashboard.Targets, t => t.Expr.Contains("phase=~\"$phase\"", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("sum(rate(x_total{registry=~\"$registry\",phase=~\"${phase}\"}[$__rate_interval]))", "sum(rate(x_total{registry=~\".*\",phase=~\".*\"}[1m]))")]
    [InlineData("rate(y[${__rate_interval}])", "rate(y[1m])")]
    public void Substitute_GrafanaVariables_BecomeAllAndTheWindow(string expr, string expected) =>
        Assert.Equal(expected, DashboardModel.Substitute(expr, "1m"));

    private static void AssertDatasourceIsVariable(JsonElement datasource, string what)
    {
        Assert.True(datasource.ValueKind == JsonValueKind.Object, $"{what}: datasource must be an object");
        Assert.Equal("prometheus", datasource.GetProperty("type").GetString());
        Assert.Equal("${datasource}", datasource.GetProperty("uid").GetString());
    }
}
