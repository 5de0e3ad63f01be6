namespace BuildFarm.Dashboards.Tests;

/// <summary>The name and label check itself, on a small hand-made catalog: it must catch the typos it is there for.</summary>
public sealed class MetricCatalogTests
{
    private static MetricCatalog Catalog()
    {
        var catalog = new MetricCatalog();
        catalog.AddExposition("""
            # TYPE buildfarm_connection_resets_total counter
            buildfarm_connection_resets_total{otel_scope_name="BuildFarm.Worker",phase="push",registry="r.example"} 3 1700000000000
            buildfarm_build_attempts_total{outcome="failed",reason="connection_reset"} 3
            buildfarm_builds_in_flight 0
            buildfarm_queue_wait_seconds_bucket{le="5"} 1
            """);
        catalog.AddDocumentedTable("""
            | name | type | labels | meaning |
            |---|---|---|---|
            | `buildfarm_api_publish_failures_total` | counter | `reason` (timeout, error) | publishes not confirmed |
            | `buildfarm_api_publish_duration_seconds` | histogram | | time to the broker's confirm |
            """, "buildfarm_api_");
        return catalog;
    }

    [Theory]
    [InlineData("sum by (phase, registry) (rate(buildfarm_connection_resets_total{registry=~\".*\"}[1m])) / on() group_left() sum(rate(buildfarm_build_attempts_total[1m]))")]
    [InlineData("histogram_quantile(0.95, sum by (le) (rate(buildfarm_queue_wait_seconds_bucket[1m])))")]
    [InlineData("histogram_quantile(0.5, sum by (le) (rate(buildfarm_api_publish_duration_seconds_bucket[1m])))")]
    [InlineData("sum by (reason) (rate(buildfarm_api_publish_failures_total{job=\"buildfarm-api\"}[1m]))")]
    [InlineData("sum(rate(buildfarm_build_attempts_total{outcome=\"failed\",reason=~\"connection_reset|oom_killed\"}[5m]))")]
    [InlineData("up{job=~\"buildfarm-worker|buildfarm-api\"} == 0")]
    [InlineData("sum(buildfarm_builds_in_flight) > 0 and on() (sum(increase(buildfarm_build_attempts_total[30m])) or on() vector(0)) == 0")]
    public void Problems_KnownNamesAndLabels_None(string expr) => Assert.Empty(Catalog().Problems(expr));

    [Theory]
    [InlineData("rate(buildfarm_connection_reset_total[1m])", "buildfarm_connection_reset_total is neither exported nor documented")]
    [InlineData("sum by (registy) (rate(buildfarm_connection_resets_total[1m]))", "grouping label registy")]
    [InlineData("rate(buildfarm_build_attempts_total{registry=\"x\"}[1m])", "buildfarm_build_attempts_total has no label registry")]
    [InlineData("rate(buildfarm_build_attempts_total{reason=~\"conection_reset|oom_killed\"}[1m])", "'conection_reset' is not a known reason")]
    [InlineData("rate(buildfarm_build_attempts_total{outcome=\"success\"}[1m])", "'success' is not a known outcome")]
    [InlineData("histogram_quantile(0.5, sum by (le) (rate(buildfarm_api_publish_duration_seconds[1m])))", "buildfarm_api_publish_duration_seconds is neither")]
    [InlineData("label_values({__name__=~\"buildfarm_connection_resets_total|buildfarm_pull_seconds_count\"}, registry)", "buildfarm_pull_seconds_count is neither")]
    public void Problems_Typo_Named(string expr, string expected)
    {
        var problems = Catalog().Problems(expr);
        Assert.Contains(problems, p => p.Contains(expected, StringComparison.Ordinal));
    }
}
