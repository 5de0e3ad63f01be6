using System.Net;
using BuildFarm.Api.Web;
using BuildFarm.Cli.Demo;
using BuildFarm.Cli.Progress;
using BuildFarm.Client;

namespace BuildFarm.Cli.Commands;

// DemoCommand's serve mode (buildfarm demo --serve): the farm runs for any client until a signal, then cancels what is left.
public static partial class DemoCommand
{
    /// <summary>
    /// <c>buildfarm demo --serve</c>: the farm runs until Ctrl+C or SIGTERM, taking builds from any client. On the signal it
    /// cancels the builds still going, waits for them and for the cluster to hold no pod of the farm, and stops
    /// everything. Exit 0 when no pod is left, 1 otherwise.
    /// </summary>
    private static async Task<int> ServeAsync(CliIO io, DemoFarmOptions options, string scenarioName, CancellationToken cancellationToken)
    {
        var console = CliConsole.Create(io);
        using var interrupt = CliConsole.CaptureInterrupt(io, cancellationToken);
        var (started, failed) = await StartFarmAsync(io, options, interrupt);
        if (started is not { } farm)
        {
            return failed;
        }
        await using (farm)
        {
            console.Write(Header(farm, options, scenarioName, "the whole farm in this process, serving until Ctrl+C (or SIGTERM), which cancels the builds still going and stops"));
            foreach (var line in ServeInstructions(farm.Address, farm.ApiKey))
            {
                await io.Out.WriteLineAsync(line);
            }
            await io.Out.FlushAsync(CancellationToken.None);
            try
            {
                await Task.Delay(Timeout.Infinite, interrupt.Token);
            }
            catch (OperationCanceledException)
            {
                // Ctrl+C, SIGTERM or the caller's token: stop.
            }
            await io.Out.WriteLineAsync("stopping: cancelling the builds still going (DELETE /v1/builds/{id}) and waiting for them to end");
            using var http = new HttpClient { BaseAddress = farm.Address, Timeout = TimeSpan.FromSeconds(10) };
            var client = new BuildFarmClient(http, farm.ApiKey);
            var left = await CancelAllAsync(client, TimeSpan.FromSeconds(10));
            if (left > 0)
            {
                await io.Error.WriteLineAsync($"buildfarm demo: {Plural.Of(left, "build")} did not end within 10 s of the cancel");
            }
            var pods = await farm.WaitForNoPodsAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
            await io.Out.WriteLineAsync(pods.Count == 0
                ? "pods left in the cluster: 0"
                : $"pods left in the cluster: {pods.Count} ({string.Join(", ", pods.Take(5))}{(pods.Count > 5 ? ", …" : "")})");
            await io.Out.WriteLineAsync("stopped");
            return pods.Count == 0 ? ExitCodes.Ok : ExitCodes.BuildsFailed;
        }
    }

    /// <summary>What <c>--serve</c> prints once the farm is up: how to reach it from another terminal.</summary>
    public static IReadOnlyList<string> ServeInstructions(Uri api, string key)
    {
        ArgumentNullException.ThrowIfNull(api);
        ArgumentException.ThrowIfNullOrEmpty(key);
        return
        [
            "",
            $"The farm is ready: API {api} with the bearer key {key} (scopes submit, read, cancel).",
            $"Web page: {new Uri(api, WebUi.Prefix.TrimStart('/'))} (paste the key when it asks; it shows the batches, their graphs and builds).",
            "In another terminal:",
            "",
            $"  export {ApiConnection.ApiEnvironmentVariable}={api} {ApiConnection.ApiKeyEnvironmentVariable}={key}",
            "  buildfarm submit --context s3://ctx-bucket/app.tar.gz --destination registry.example.com/team/app:1 --wait",
            "  buildfarm submit --manifest src/BuildFarm.Manifests/samples/monorepo.yaml --sha $(git rev-parse HEAD)",
            "  buildfarm status ID      buildfarm watch ID      buildfarm cancel ID",
            $"  curl -H \"Authorization: Bearer ${ApiConnection.ApiKeyEnvironmentVariable}\" ${{{ApiConnection.ApiEnvironmentVariable}}}v1/builds",
            $"  curl ${{{ApiConnection.ApiEnvironmentVariable}}}metrics",
            "",
            "(buildfarm is 'dotnet run --project src/BuildFarm.Cli --' from a checkout; builds run on the cluster simulator, so any",
            "context and registry names work, and nothing is pulled or pushed.) Serving until Ctrl+C.",
        ];
    }

    /// <summary>Cancels every build not final and waits until none is left or <paramref name="timeout"/> passes; returns how many are left.</summary>
    private static async Task<int> CancelAllAsync(BuildFarmClient client, TimeSpan timeout)
    {
        var until = DateTimeOffset.UtcNow + timeout;
        var cancelled = new HashSet<string>(StringComparer.Ordinal);
        while (true)
        {
            IReadOnlyList<BuildRecord> going;
            try
            {
                going = await NotFinalAsync(client);
            }
            catch (Exception e) when (e is HttpRequestException or BuildFarmApiException or OperationCanceledException)
            {
                return -1;
            }
            if (going.Count == 0 || DateTimeOffset.UtcNow >= until)
            {
                return going.Count;
            }
            foreach (var build in going.Where(b => cancelled.Add(b.BuildId)))
            {
                try
                {
                    await client.CancelBuildAsync(build.BuildId);
                }
                catch (BuildFarmApiException e) when (e.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.NotFound)
                {
                    // Ended meanwhile.
                }
            }
            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }
    }

    /// <summary>The farm's builds not final (at most 100 pages of 100 per state: the demo's store is in memory and bounded).</summary>
    private static async Task<IReadOnlyList<BuildRecord>> NotFinalAsync(BuildFarmClient client)
    {
        var builds = new List<BuildRecord>();
        foreach (var state in new[] { BuildState.Waiting, BuildState.Queued, BuildState.Running, BuildState.Retrying })
        {
            string? next = null;
            for (var page = 0; page < 100; page++)
            {
                var result = await client.ListBuildsAsync(state, null, 100, next);
                builds.AddRange(result.Items);
                next = result.Continue;
                if (string.IsNullOrEmpty(next))
                {
                    break;
                }
            }
        }
        return builds;
    }
}
