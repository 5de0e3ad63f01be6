using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BuildFarm.ClusterSim.Scenarios;
using Microsoft.AspNetCore.Http;

namespace BuildFarm.ClusterSim.Api;

// The simulator's own endpoints under /_sim (no token; see docs/cluster-simulator.md).
public sealed partial class SimApiServer
{
    private async Task SimStatsAsync(HttpContext context)
    {
        var (pods, _) = _store.ListPods(null);
        var byPhase = pods.GroupBy(p => p.Status?.Phase ?? "Pending").ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        var snapshot = _stats.Snapshot(byPhase, _store.WatchCount, _store.ResourceVersion.ToString(CultureInfo.InvariantCulture));
        await WriteJsonAsync(context, 200, JsonSerializer.Serialize(snapshot, s_statsJson));
    }

    private async Task SimScenarioAsync(HttpContext context)
    {
        context.Response.ContentType = "application/yaml";
        await context.Response.WriteAsync(CurrentScenarioYaml ?? ScenarioLoader.DefaultYaml(), context.RequestAborted);
    }

    private async Task SimReloadAsync(HttpContext context)
    {
        using (var reader = new StreamReader(context.Request.Body, Encoding.UTF8))
        {
            var yaml = await reader.ReadToEndAsync(context.RequestAborted);
            Scenario scenario;
            try
            {
                scenario = ScenarioLoader.Parse(yaml, "posted scenario");
            }
            catch (ScenarioException e)
            {
                throw SimApiException.BadRequest(e.Message);
            }
            _reload(scenario, yaml);
            CurrentScenarioYaml = yaml;
        }
        await WriteJsonAsync(context, 200, new JsonObject { ["reloaded"] = true, ["timeScale"] = _scenario().TimeScale }.ToJsonString());
    }

    private async Task SimCompactAsync(HttpContext context)
    {
        var rv = _store.Compact();
        await WriteJsonAsync(context, 200, new JsonObject { ["compactedTo"] = rv.ToString(CultureInfo.InvariantCulture) }.ToJsonString());
    }
}
