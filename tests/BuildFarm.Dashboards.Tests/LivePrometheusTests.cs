using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace BuildFarm.Dashboards.Tests;

/// <summary>
/// Every panel query, variable query and rule of dashboards/ evaluated by a real Prometheus that scraped a real worker and
/// a real API while builds ran (<see cref="LiveFarm"/>).
/// </summary>
[Collection(nameof(MetricsRunsAlone))]
[NeedsServer(Server.Prometheus)]
public sealed partial class LivePrometheusTests(LiveFarm farm) : IClassFixture<LiveFarm>
{
    /// <summary>
    /// Panel queries that may return nothing in this run, and why. Everything else must return data.
    /// </summary>
    private static readonly Dictionary<(string Panel, string RefId), string> s_mayBeEmpty = new()
    {
        [("Publish failures/s by reason", "A")] = "the in-memory bus confirms every publish: buildfarm_api_publish_failures_total is only exported after a failure",
        [("Scrape targets down", "B")] = "absent(up{…}) has a value only when no target of the selected jobs exists: both are scraped here",
    };

    private static readonly DashboardModel s_dashboard = DashboardModel.Load(Repo.Dashboard);

    /// <summary>$__rate_interval for the test: longer than the whole run, so rates see every build.</summary>
    private string Window => $"{Math.Max(60, (int)farm.RunTime.TotalSeconds + 30)}s";

    [Fact]
    public async Task Panels_EveryQuery_SucceedsWithData()
    {
        var failures = new List<string>();
        var checkedCount = 0;
        foreach (var target in s_dashboard.Targets)
        {
            var expr = DashboardModel.Substitute(target.Expr, Window);
            var result = await farm.Prometheus.QueryAsync(expr);
            checkedCount++;
            if (s_mayBeEmpty.ContainsKey((target.PanelTitle, target.RefId)))
            {
                continue;
            }
            if (result.GetArrayLength() == 0)
            {
                failures.Add($"{target}: no data for {expr}");
            }
            else if (!result.EnumerateArray().Any(s => double.IsFinite(Value(s))))
            {
                failures.Add($"{target}: only NaN/Inf for {expr}: {result}");
            }
        }
        Assert.True(failures.Count == 0, string.Join('\n', failures));
        Assert.Equal(s_dashboard.Targets.Count(), checkedCount);
        // The allow-list names panels that exist.
        Assert.All(s_mayBeEmpty.Keys, k => Assert.Contains(s_dashboard.Targets, t => t.PanelTitle == k.Panel && t.RefId == k.RefId));
    }

    [Fact]
    public async Task Panels_KeyValues_ReflectTheRun()
    {
        // Resets happened, some builds failed and some succeeded, both kinds of failed attempts, some API requests throttled.
        Assert.InRange(await SingleAsync("Connection-reset rate (all registries)", "A"), 0.01, 10);
        Assert.InRange(await SingleAsync("Build success ratio", "A"), 0.01, 0.99);
        var kinds = await ValuesByAsync("Failed attempts: transient vs permanent", "A", "kind");
        Assert.True(kinds.GetValueOrDefault("transient") > 0, "no transient failed attempts");
        Assert.True(kinds.GetValueOrDefault("permanent") > 0, "no permanent failed attempts");
        Assert.True(await SingleAsync("Attempts per build", "A") > 1, "retries should make more attempts than builds");
        Assert.InRange(await SingleAsync("Kubernetes API error ratio (429, 5xx, no answer)", "A"), 0.001, 0.5);
        var registries = await LabelsAsync("Connection-reset rate by registry", "A", "registry");
        Assert.Contains("registry.example.com", registries);
        Assert.Contains("mirror.example.org", registries);
        Assert.Superset(new HashSet<string> { "pull", "push" }, (await LabelsAsync("Connection-reset rate by phase", "A", "phase")).ToHashSet());
        Assert.Contains("completed", await LabelsAsync("Dedupe hits/s by kind", "A", "kind"));
        Assert.Contains("no_key", await LabelsAsync("Rejections/s by reason", "A", "reason"));
        // Both targets up: none down, and the "no target at all" query empty.
        var down = await ValuesByAsync("Scrape targets down", "A", "job");
        Assert.Equal(["buildfarm-api", "buildfarm-worker"], down.Keys.Order(StringComparer.Ordinal));
        Assert.All(down.Values, v => Assert.Equal(0, v));
        Assert.Equal(0, (await QueryPanelAsync("Scrape targets down", "B")).GetArrayLength());
        // The layer cache and the quota: hits and misses by registry, a ratio strictly between 0 and 1 somewhere, and
        // pod creates refused by the quota counted as such.
        var hitRatios = await ValuesByAsync("Cache hit ratio by registry", "A", "registry");
        Assert.NotEmpty(hitRatios);
        Assert.All(hitRatios.Values, v => Assert.InRange(v, 0, 1));
        Assert.Contains("quota", (await ValuesByAsync("Pod creates refused by kind", "A", "kind")).Keys);
        Assert.Contains("registry.example.com", (await ValuesByAsync("Registry slots in use and limit", "A", "registry")).Keys);
        // The adaptive limit of each registry built for, within the worker's floor and maximum (defaults 2 and 20).
        var limits = await ValuesByAsync("Registry slots in use and limit", "B", "registry");
        Assert.Contains("registry.example.com", limits.Keys);
        Assert.All(limits.Values, v => Assert.InRange(v, 2, 20));
        Assert.Contains("flaky.example.net", (await ValuesByAsync("Attempts/s by registry", "A", "registry")).Keys);
    }

    [Fact]
    public async Task Variables_LabelValues_ListTheScrapedValues()
    {
        foreach (var variable in s_dashboard.Variables.Where(v => v.GetProperty("type").GetString() == "query"))
        {
            // Other variables at their All value (.*), as Grafana resolves them.
            var definition = DashboardModel.Substitute(variable.GetProperty("definition").GetString()!, "1m");
            var match = LabelValues().Match(definition);
            Assert.True(match.Success, $"variable {variable.GetProperty("name")}: '{definition}' is not label_values(selector, label)");
            var json = await farm.Prometheus.GetAsync($"/api/v1/label/{match.Groups[2].Value}/values?match[]={Uri.EscapeDataString(match.Groups[1].Value)}");
            var values = json.GetProperty("data").EnumerateArray().Select(v => v.GetString()!).ToList();
            Assert.True(values.Count > 0, $"variable {variable.GetProperty("name")} lists nothing for {definition}");
        }
    }

    [Fact]
    public async Task Rules_EveryRuleEvaluatedHealthy_AndEveryRecordedSeriesPresent()
    {
        var rules = RulesFile.Load(Repo.Rules);
        List<JsonElement> loaded = [];
        await farm.Prometheus.WaitUntilAsync(async () =>
        {
            var json = await farm.Prometheus.GetAsync("/api/v1/rules");
            loaded = [.. json.GetProperty("data").GetProperty("groups").EnumerateArray().SelectMany(g => g.GetProperty("rules").EnumerateArray())];
            return loaded.Count == rules.Count && loaded.All(r => r.GetProperty("lastEvaluation").GetDateTimeOffset().Year > 2000);
        }, "every rule evaluated once", TimeSpan.FromSeconds(30));
        foreach (var rule in loaded)
        {
            Assert.True(rule.GetProperty("health").GetString() == "ok",
                $"rule {rule.GetProperty("name")} health {rule.GetProperty("health")}: {(rule.TryGetProperty("lastError", out var e) ? e : default)}");
        }
        // Each recorded series exists once the rules ran on the scraped data (the run's rates are not zero).
        var records = rules.Select(r => r.Record).OfType<string>().Distinct().ToList();
        var missing = records;
        try
        {
            await farm.Prometheus.WaitUntilAsync(async () =>
            {
                var stillMissing = new List<string>();
                foreach (var record in records)
                {
                    if ((await farm.Prometheus.QueryAsync(record)).GetArrayLength() == 0)
                    {
                        stillMissing.Add(record);
                    }
                }
                missing = stillMissing;
                return missing.Count == 0;
            }, "every recorded series", TimeSpan.FromSeconds(15));
        }
        catch (TimeoutException)
        {
            Assert.Fail("recorded series missing: " + string.Join(", ", missing));
        }
    }

    [Fact]
    public void Queries_EveryMetricAndLabel_ExistsInTheScrapedOrDocumentedMetrics()
    {
        var catalog = new MetricCatalog();
        catalog.AddExposition(farm.WorkerMetrics);
        catalog.AddExposition(farm.ApiMetrics);
        catalog.AddDocumentedTable(Repo.ReadText(Repo.ApiDoc), "buildfarm_api_");
        var rules = RulesFile.Load(Repo.Rules);
        foreach (var rule in rules.Where(r => r.Record is not null))
        {
            catalog.AddRecordingRule(rule);
        }
        var expressions = s_dashboard.Targets.Select(t => (t.ToString(), DashboardModel.Substitute(t.Expr, "1m")))
            .Concat(s_dashboard.Variables.Where(v => v.GetProperty("type").GetString() == "query")
                .Select(v => ($"variable {v.GetProperty("name")}", LabelValuesAsQuery(v.GetProperty("definition").GetString()!))))
            .Concat(rules.Select(r => ($"rule {r.Name}", r.Expr)));
        var problems = expressions.SelectMany(e => catalog.Problems(e.Item2).Select(p => $"{e.Item1}: {p}")).ToList();
        Assert.True(problems.Count == 0, string.Join('\n', problems));
        // The worker's metrics are all scraped (not merely documented): every buildfarm_ name of docs/worker.md's table is in the text.
        foreach (var name in new[] { "buildfarm_connection_resets_total", "buildfarm_build_attempts_total", "buildfarm_builds_total",
            "buildfarm_dedupe_hits_total", "buildfarm_builds_in_flight", "buildfarm_kube_api_requests_total", "buildfarm_queue_wait_seconds_bucket",
            "buildfarm_kaniko_pull_duration_seconds_bucket", "buildfarm_kaniko_push_duration_seconds_bucket", "buildfarm_kaniko_extract_duration_seconds_bucket",
            "buildfarm_build_duration_seconds_bucket", "buildfarm_pod_startup_seconds_bucket", "buildfarm_kaniko_build_duration_seconds_bucket",
            "buildfarm_kaniko_cache_hits_total", "buildfarm_kaniko_cache_misses_total", "buildfarm_pod_create_refusals_total", "buildfarm_registry_slots_in_use",
            "buildfarm_log_stored_bytes_total", "buildfarm_log_truncated_bytes_total" })
        {
            Assert.Contains(name, farm.WorkerMetrics, StringComparison.Ordinal);
        }
    }

    /// <summary>label_values(selector, label) as a query the catalog can check: the selector grouped by the label.</summary>
    private static string LabelValuesAsQuery(string definition)
    {
        var match = LabelValues().Match(definition);
        Assert.True(match.Success, $"'{definition}' is not label_values(selector, label)");
        return $"count by ({match.Groups[2].Value}) ({match.Groups[1].Value})";
    }

    private async Task<double> SingleAsync(string panel, string refId)
    {
        var result = await QueryPanelAsync(panel, refId);
        Assert.True(result.GetArrayLength() == 1, $"{panel} {refId}: expected one series, got {result}");
        return Value(result[0]);
    }

    private async Task<List<string>> LabelsAsync(string panel, string refId, string label)
    {
        var result = await QueryPanelAsync(panel, refId);
        return [.. result.EnumerateArray().Select(s => s.GetProperty("metric").TryGetProperty(label, out var v) ? v.GetString()! : "")];
    }

    private async Task<Dictionary<string, double>> ValuesByAsync(string panel, string refId, string label)
    {
        var result = await QueryPanelAsync(panel, refId);
        return result.EnumerateArray().ToDictionary(
            s => s.GetProperty("metric").TryGetProperty(label, out var v) ? v.GetString()! : "", Value, StringComparer.Ordinal);
    }

    private Task<JsonElement> QueryPanelAsync(string panel, string refId)
    {
        var target = s_dashboard.Targets.SingleOrDefault(t => t.PanelTitle == panel && t.RefId == refId)
            ?? throw new InvalidOperationException($"the dashboard has no panel '{panel}' with target {refId}");
        return farm.Prometheus.QueryAsync(DashboardModel.Substitute(target.Expr, Window));
    }

    private static double Value(JsonElement sample) =>
        double.Parse(sample.GetProperty("value")[1].GetString()!, NumberStyles.Float, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^label_values\((.+), ([a-z_]+)\)$")]
    private static partial Regex LabelValues();
}
