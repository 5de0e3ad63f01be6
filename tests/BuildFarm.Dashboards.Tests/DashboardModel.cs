using System.Text.Json;
using System.Text.RegularExpressions;

namespace BuildFarm.Dashboards.Tests;

/// <summary>One query of a panel.</summary>
internal sealed record PanelTarget(int PanelId, string PanelTitle, string RefId, string Expr, JsonElement Json)
{
    public override string ToString() => $"panel {PanelId} \"{PanelTitle}\" {RefId}";
}

/// <summary>A Grafana dashboard JSON model, read for the tests: panels (rows flattened), targets and template variables.</summary>
internal sealed partial class DashboardModel
{
    private DashboardModel(JsonDocument document)
    {
        Root = document.RootElement;
        var panels = new List<JsonElement>();
        foreach (var panel in Root.GetProperty("panels").EnumerateArray())
        {
            panels.Add(panel);
            // A collapsed row holds its panels inside.
            if (panel.TryGetProperty("panels", out var inner))
            {
                panels.AddRange(inner.EnumerateArray());
            }
        }
        Panels = panels;
        Variables = [.. Root.GetProperty("templating").GetProperty("list").EnumerateArray()];
    }

    public JsonElement Root { get; }

    public IReadOnlyList<JsonElement> Panels { get; }

    public IReadOnlyList<JsonElement> Variables { get; }

    /// <summary>Panels that show data (every panel but rows).</summary>
    public IEnumerable<JsonElement> DataPanels => Panels.Where(p => p.GetProperty("type").GetString() != "row");

    public IEnumerable<PanelTarget> Targets => DataPanels.SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t =>
        new PanelTarget(p.GetProperty("id").GetInt32(), p.GetProperty("title").GetString()!, t.GetProperty("refId").GetString()!,
            t.GetProperty("expr").GetString()!, t)));

    public static DashboardModel Load(string path) => new(JsonDocument.Parse(Repo.ReadText(path)));

    /// <summary>
    /// The query as Prometheus would get it from Grafana: <c>$__rate_interval</c> (and the other interval macros) become
    /// <paramref name="window"/>; every template variable becomes <c>.*</c> (its "All" value).
    /// </summary>
    public static string Substitute(string expr, string window)
    {
        var withWindow = IntervalMacro().Replace(expr, window);
        return Variable().Replace(withWindow, ".*");
    }

    [GeneratedRegex(@"\$\{?__(rate_interval|interval|range)\}?")]
    private static partial Regex IntervalMacro();

    [GeneratedRegex(@"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")]
    private static partial Regex Variable();
}
