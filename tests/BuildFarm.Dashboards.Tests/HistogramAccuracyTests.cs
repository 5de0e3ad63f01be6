using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace BuildFarm.Dashboards.Tests;

/// <summary>
/// The dashboard's quantiles against the truth: every quantile target of the latency panels, evaluated by Prometheus
/// over the measured window of <see cref="AccuracyFarm"/>, lands within 15% of the same quantile of the true values.
/// With the exporter's default buckets (0, 5, 10, 25 … meant for milliseconds) every sub-5-second quantile is a linear
/// guess between 0 and 5 s and this test fails.
/// </summary>
[Collection(nameof(MetricsRunsAlone))]
[NeedsServer(Server.Prometheus)]
public sealed partial class HistogramAccuracyTests(AccuracyFarm farm, ITestOutputHelper output) : IClassFixture<AccuracyFarm>
{
    private const double Tolerance = 0.15;

    /// <summary>Each latency panel, the quantity its quantiles estimate and the job that exports it.</summary>
    public static readonly TheoryData<string, string, string> Panels = new()
    {
        { "Pull duration p50 / p95 by registry", "pull", AccuracyFarm.WorkerJob },
        { "Extract duration p50 / p95", "extract", AccuracyFarm.WorkerJob },
        { "Build steps duration p50 / p95", "build", AccuracyFarm.WorkerJob },
        { "Push duration p50 / p95 by registry", "push", AccuracyFarm.WorkerJob },
        { "Queue wait p50 / p95 / p99", "queue_wait", AccuracyFarm.WorkerJob },
        { "Pod start-up p50 / p95", "pod_startup", AccuracyFarm.WorkerJob },
        { "Publish confirm latency p50 / p95 / p99", "publish", AccuracyFarm.ApiJob },
    };

    private static readonly DashboardModel s_dashboard = DashboardModel.Load(Repo.Dashboard);

    [Theory]
    [MemberData(nameof(Panels))]
    public async Task PanelQuantiles_AreWithin15PercentOfTheTrueQuantiles(string panel, string quantity, string job)
    {
        var (from, to) = farm.Windows[job];
        // The panel's own query with $__rate_interval as the measured window: from just before the first scrape after
        // the warm-up to the last scrape, so every series has a sample at both ends and nothing is extrapolated.
        var window = $"{(long)(to - from).TotalMilliseconds + 1}ms";
        var targets = s_dashboard.Targets.Where(t => t.PanelTitle == panel).ToList();
        Assert.True(targets.Count > 0, $"the dashboard has no panel '{panel}'");
        var report = new StringBuilder();
        var failures = new List<string>();
        var compared = 0;
        foreach (var target in targets)
        {
            var match = Quantile().Match(target.Expr);
            Assert.True(match.Success, $"{panel} {target.RefId}: not a histogram_quantile: {target.Expr}");
            var q = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
            var expr = DashboardModel.Substitute(target.Expr, window);
            var time = (to.ToUnixTimeMilliseconds() / 1000.0).ToString("F3", CultureInfo.InvariantCulture);
            var json = await farm.Prometheus.GetAsync($"/api/v1/query?query={Uri.EscapeDataString(expr)}&time={time}");
            var series = json.GetProperty("data").GetProperty("result").EnumerateArray().ToList();
            Assert.True(series.Count > 0, $"{panel} {target.RefId} returned nothing: {expr}");
            foreach (var sample in series)
            {
                var registry = sample.GetProperty("metric").TryGetProperty("registry", out var r) ? r.GetString()! : "";
                if (!farm.Truth.TryGetValue((quantity, registry), out var truth))
                {
                    // Pull carries the base image's registry: every build here has the same base image.
                    Assert.True(series.Count == 1, $"{panel}: no true values for registry '{registry}' and more than one series");
                    truth = farm.Truth[(quantity, "")];
                }
                var dashboard = double.Parse(sample.GetProperty("value")[1].GetString()!, NumberStyles.Float, CultureInfo.InvariantCulture);
                var exact = TrueQuantile(truth, q);
                var error = Math.Abs(dashboard - exact) / exact;
                compared++;
                var line = $"{quantity,-12} {registry,-22} p{q * 100:0}: true {exact:0.####} s, dashboard {dashboard:0.####} s, error {error:P1} (n={truth.Count})";
                report.AppendLine(line);
                if (!(error <= Tolerance))
                {
                    failures.Add(line);
                }
            }
        }
        output.WriteLine(report.ToString());
        Assert.True(compared >= targets.Count, $"{panel}: compared {compared} series for {targets.Count} targets");
        Assert.True(failures.Count == 0, $"{panel}: quantiles more than {Tolerance:P0} off (measured window {window}):\n{string.Join('\n', failures)}\nall:\n{report}");
    }

    [Fact]
    public void TrueQuantile_InterpolatesBetweenOrderStatistics()
    {
        Assert.Equal(2.5, TrueQuantile([4, 1, 3, 2], 0.5), 9);
        Assert.Equal(4, TrueQuantile([4, 1, 3, 2], 1), 9);
        Assert.Equal(1.3, TrueQuantile([1, 2], 0.3), 9);
    }

    /// <summary>The q-quantile of the values, interpolating linearly between order statistics (rank q·(n−1)).</summary>
    public static double TrueQuantile(IReadOnlyCollection<double> values, double q)
    {
        var sorted = values.Order().ToArray();
        var rank = q * (sorted.Length - 1);
        var low = (int)Math.Floor(rank);
        var high = Math.Min(low + 1, sorted.Length - 1);
        return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
    }

    [GeneratedRegex(@"^histogram_quantile\(([0-9.]+),")]
    private static partial Regex Quantile();
}
