using System.Text.RegularExpressions;
using BuildFarm.Contracts;

namespace BuildFarm.Dashboards.Tests;

/// <summary>
/// The metric names a query may use and the labels each one has: from scraped Prometheus text, from the documented
/// metric table of docs/api.md, from the recording rules and Prometheus' own <c>up</c>. <see cref="Problems"/> lists
/// what an expression names that does not exist.
/// </summary>
internal sealed partial class MetricCatalog
{
    /// <summary>Labels Prometheus adds to every scraped series.</summary>
    private static readonly string[] s_targetLabels = ["job", "instance", "namespace"];

    private static readonly HashSet<string> s_outcomes = new(StringComparer.Ordinal) { "succeeded", "failed", "cancelled", "deduplicated" };

    private readonly Dictionary<string, HashSet<string>> _labels = new(StringComparer.Ordinal);

    public MetricCatalog()
    {
        Add("up", s_targetLabels);
    }

    public IReadOnlyCollection<string> Names => _labels.Keys;

    public void Add(string metric, IEnumerable<string> labels)
    {
        if (!_labels.TryGetValue(metric, out var set))
        {
            _labels[metric] = set = new HashSet<string>(StringComparer.Ordinal);
        }
        set.UnionWith(labels);
    }

    /// <summary>Every series of Prometheus exposition text (names with _bucket/_sum/_count as exposed).</summary>
    public void AddExposition(string text)
    {
        foreach (var line in text.Split('\n'))
        {
            var match = SeriesLine().Match(line);
            if (match.Success)
            {
                Add(match.Groups[1].Value, LabelName().Matches(match.Groups[2].Value).Select(m => m.Groups[1].Value));
            }
        }
    }

    /// <summary>The rows <c>| `name` | type | `label` (values) … |</c> of a documented metric table.</summary>
    public void AddDocumentedTable(string markdown, string prefix)
    {
        foreach (var line in markdown.Split('\n'))
        {
            var cells = line.Split('|', StringSplitOptions.TrimEntries);
            if (cells.Length < 4 || !cells[1].StartsWith($"`{prefix}", StringComparison.Ordinal))
            {
                continue;
            }
            var name = cells[1].Trim('`');
            var labels = Regex.Matches(cells[3], "`([a-z_]+)`").Select(m => m.Groups[1].Value).ToList();
            if (cells[2] == "histogram")
            {
                Add(name + "_bucket", [.. labels, "le"]);
                Add(name + "_sum", labels);
                Add(name + "_count", labels);
            }
            else
            {
                Add(name, labels);
            }
        }
    }

    /// <summary>A recorded series: the labels its expression keeps (<c>by (…)</c>) and those the rule sets.</summary>
    public void AddRecordingRule(PromRule rule)
    {
        var kept = ByClause().Matches(rule.Expr).SelectMany(m => m.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            .Where(l => l != "le");
        // A rule over other recorded series (level:metric:ops) keeps their labels.
        var recorded = PromQl.Selectors(rule.Expr).Select(s => s.Metric).OfType<string>().Where(m => m.Contains(':', StringComparison.Ordinal))
            .SelectMany(m => _labels.TryGetValue(m, out var labels) ? labels : []);
        Add(rule.Record!, kept.Concat(recorded).Concat(rule.Labels.Keys).ToList());
    }

    /// <summary>What <paramref name="expr"/> names that the catalog does not know; empty when all is well.</summary>
    public IReadOnlyList<string> Problems(string expr)
    {
        var problems = new List<string>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var selector in PromQl.Selectors(expr))
        {
            var names = selector.Metric is { } metric
                ? [metric]
                : selector.Matchers.Where(m => m.Label == "__name__").SelectMany(m => m.Value.Split('|')).ToList();
            if (names.Count == 0)
            {
                problems.Add($"a selector without a metric name: {expr}");
            }
            foreach (var name in names)
            {
                if (!_labels.TryGetValue(name, out var labels))
                {
                    problems.Add($"metric {name} is neither exported nor documented");
                    continue;
                }
                used.Add(name);
                foreach (var matcher in selector.Matchers.Where(m => m.Label != "__name__"))
                {
                    if (!labels.Contains(matcher.Label) && !s_targetLabels.Contains(matcher.Label))
                    {
                        problems.Add($"{name} has no label {matcher.Label} (it has: {string.Join(", ", labels.Order(StringComparer.Ordinal))})");
                    }
                    problems.AddRange(ValueProblems(name, matcher));
                }
            }
        }
        var available = used.SelectMany(n => _labels[n]).Concat(s_targetLabels).ToHashSet(StringComparer.Ordinal);
        foreach (var label in PromQl.GroupingLabels(expr).Where(l => !available.Contains(l)))
        {
            problems.Add($"grouping label {label} is on none of {string.Join(", ", used)}");
        }
        return problems;
    }

    /// <summary>Reason and outcome values must be the vocabulary's (a typo in a regex would match nothing, silently).</summary>
    private static IEnumerable<string> ValueProblems(string metric, Matcher matcher)
    {
        if (!metric.Contains("build_attempts", StringComparison.Ordinal) && !metric.Contains("builds", StringComparison.Ordinal))
        {
            yield break;
        }
        var known = matcher.Label switch
        {
            "reason" => FailureReasons.All.Append("none").ToHashSet(StringComparer.Ordinal),
            "outcome" => s_outcomes,
            _ => null,
        };
        if (known is null || matcher.Value == ".*")
        {
            yield break;
        }
        foreach (var value in matcher.Value.Split('|').Where(v => !known.Contains(v)))
        {
            yield return $"{metric}{{{matcher.Label}{matcher.Op}\"{matcher.Value}\"}}: '{value}' is not a known {matcher.Label}";
        }
    }

    [GeneratedRegex(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+\S+")]
    private static partial Regex SeriesLine();

    [GeneratedRegex(@"\bby \(([^)]*)\)")]
    private static partial Regex ByClause();

    [GeneratedRegex(@"([a-zA-Z_][a-zA-Z0-9_]*)=""")]
    private static partial Regex LabelName();
}
