using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using BuildFarm.Cli.Demo;
using BuildFarm.Cli.Progress;
using BuildFarm.Client;
using BuildFarm.Manifests;
using BuildFarm.Status;
using Spectre.Console;

namespace BuildFarm.Cli.Commands;

/// <summary>
/// <c>buildfarm demo</c>: the whole farm in one process (cluster simulator, API, in-memory bus, status store, two workers),
/// the bundled sample monorepo submitted through the API, live progress, and a summary. See docs/demo.md.
/// </summary>
public static partial class DemoCommand
{
    /// <summary>Attempts per build in the demo's workers (see <see cref="DemoWorkerPool.WorkerSettings"/>).</summary>
    public const int MaxAttempts = 4;

    /// <summary>Lines of a failed build's log shown under the final table.</summary>
    public const int FailureLogLines = 8;

    public const int Workers = 2;
    public const int SlotsPerWorker = 4;

    private static readonly CultureInfo s_inv = CultureInfo.InvariantCulture;

    public static Command Create(CliIO io)
    {
        ArgumentNullException.ThrowIfNull(io);
        var images = new Option<int?>("--images") { Description = "Build this many images: the sample's first N in dependency order, or more as numbered copies (default: the sample's 20)." };
        var scenario = new Option<FileInfo?>("--scenario") { Description = "Cluster simulator scenario YAML (default: fast timings with resets Kaniko retries; see docs/demo.md)." };
        var seed = new Option<long>("--seed") { Description = "Seed of the simulator (durations, faults, digests) and of the demo's commit.", DefaultValueFactory = _ => 1 };
        var port = new Option<int>("--metrics-port", "--port") { Description = "Port of the demo's HTTP server: /metrics and the API (default: a free port).", DefaultValueFactory = _ => 0 };
        var serve = new Option<bool>("--serve")
        {
            Description = "Run the farm and keep it serving until Ctrl+C or SIGTERM, submitting nothing: prints the API URL and a key for submit, status, watch, cancel and curl.",
        };
        var command = new Command("demo", "Run the whole farm in this process on the cluster simulator and build the bundled sample monorepo, with live progress (or, with --serve, keep it serving).")
        {
            images, scenario, seed, port, serve,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var count = parse.GetValue(images);
            if (parse.GetValue(serve) && count is not null)
            {
                await io.Error.WriteLineAsync("buildfarm demo: --images is for the sample run; --serve submits nothing (submit the sample with 'buildfarm submit --manifest …')");
                return ExitCodes.Usage;
            }
            if (count is < 1 or > 500)
            {
                await io.Error.WriteLineAsync($"buildfarm demo: --images {count} must be between 1 and 500");
                return ExitCodes.Usage;
            }
            if (parse.GetValue(port) is < 0 or > 65535)
            {
                await io.Error.WriteLineAsync($"buildfarm demo: --metrics-port {parse.GetValue(port)} must be between 0 and 65535");
                return ExitCodes.Usage;
            }
            var file = parse.GetValue(scenario);
            if (await ScenarioFile.ReadAsync(io, "demo", file, DemoScenario.Default, cancellationToken) is not (var loaded, var yaml))
            {
                return ExitCodes.Usage;
            }
            var options = new DemoFarmOptions
            {
                Scenario = loaded,
                ScenarioYaml = yaml ?? DemoScenario.DefaultYaml(),
                Seed = parse.GetValue(seed),
                Port = parse.GetValue(port),
                Workers = Workers,
                SlotsPerWorker = SlotsPerWorker,
            };
            var scenarioName = file?.Name ?? "demo default";
            return parse.GetValue(serve)
                ? await ServeAsync(io, options, scenarioName, cancellationToken)
                : await RunAsync(io, options, count, scenarioName, cancellationToken);
        });
        return command;
    }

    /// <summary>Starts the farm, or says why it could not (the exit code: a port in use, the API not starting, Ctrl+C).</summary>
    private static async Task<(DemoFarm? Farm, int ExitCode)> StartFarmAsync(CliIO io, DemoFarmOptions options, CliConsole.Interrupt interrupt)
    {
        try
        {
            return (await DemoFarm.StartAsync(options, interrupt.Token), ExitCodes.Ok);
        }
        catch (IOException e)
        {
            await io.Error.WriteLineAsync($"buildfarm demo: cannot start: {e.Message}");
            return (null, options.Port != 0 ? ExitCodes.Usage : ExitCodes.ApiUnavailable);
        }
        catch (OperationCanceledException) when (interrupt.Requested)
        {
            return (null, ExitCodes.Interrupted);
        }
    }

    private static async Task<int> RunAsync(CliIO io, DemoFarmOptions options, int? images, string scenarioName, CancellationToken cancellationToken)
    {
        var console = CliConsole.Create(io);
        var terminal = CliConsole.IsTerminal(io);
        var clock = Stopwatch.StartNew();
        using var interrupt = CliConsole.CaptureInterrupt(io, cancellationToken);
        var (started, failed) = await StartFarmAsync(io, options, interrupt);
        if (started is not { } farm)
        {
            return failed;
        }
        await using (farm)
        {
            var scenario = options.Scenario;
            console.Write(Header(farm, options, scenarioName));
            using var http = new HttpClient { BaseAddress = farm.Address, Timeout = Timeout.InfiniteTimeSpan };
            var client = new BuildFarmClient(http, farm.ApiKey);
            var sha = DemoBatch.Sha(options.Seed);
            BatchStatus batch;
            string how;
            try
            {
                if (images is null)
                {
                    // The sample manifest itself: the API parses and plans it (the path of `buildfarm submit --manifest`).
                    batch = await client.SubmitManifestAsync(SampleManifests.MonorepoYaml(), new ManifestSubmitOptions { Sha = sha }, null, interrupt.Token);
                    how = "the sample manifest as YAML";
                }
                else
                {
                    // Trimmed or extended: expanded here and sent as a JSON batch.
                    batch = await client.SubmitBatchAsync(DemoBatch.Create(SampleManifests.Monorepo(), images, sha, DateTimeOffset.UtcNow), null, interrupt.Token);
                    how = "a JSON batch made from the sample manifest";
                }
            }
            catch (OperationCanceledException) when (interrupt.Requested)
            {
                await io.Out.WriteLineAsync("interrupted before the batch was submitted; stopping");
                return ExitCodes.Interrupted;
            }
            catch (Exception e) when (ApiConnection.ToExit(e, farm.Address) is { } failure)
            {
                await io.Error.WriteLineAsync($"buildfarm demo: the API refused the sample batch: {failure.Message}");
                return ExitCodes.BuildsFailed;
            }
            await io.Out.WriteLineAsync($"submitted batch {batch.BatchId}: {Plural.Of(batch.Total, "image")} at commit {sha[..12]} ({how}, POST /v1/batches over loopback HTTP)");
            var progress = new FollowedBuilds(batch.Images.Select(i => new BatchMember(i.Name, i.BuildId)));
            var mode = terminal ? ProgressMode.Live : ProgressMode.Plain;
            var interrupted = false;
            try
            {
                await ProgressFollower.FollowAsync(progress, client.StreamBatchEventsAsync(batch.BatchId, CancellationToken.None), mode, console, io.Out,
                    $"batch {batch.BatchId}", () => Load(farm), interrupt.Token);
            }
            catch (OperationCanceledException) when (interrupt.Requested)
            {
                interrupted = true;
            }
            if (interrupted)
            {
                await io.Out.WriteLineAsync("interrupted: cancelling the builds still going (DELETE /v1/builds/{id}) and waiting for them to end");
                await CancelRemainingAsync(client, progress, io, cancellationToken);
            }
            var pods = await farm.WaitForNoPodsAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
            var wall = clock.Elapsed;
            console.Write(ProgressView.Summary(progress, wall,
                $"pull/extract/push: cluster seconds (Kaniko's log timestamps x the time scale, {scenario.TimeScale.ToString(s_inv)})",
                scenario.TimeScale));
            await PrintFailureLogsAsync(client, progress, io);
            var unintended = DemoScenario.Unintended(scenario, progress.Builds, MaxAttempts);
            var missing = progress.BuildIds.Count - progress.Builds.Count;
            await io.Out.WriteLineAsync(Totals(progress, wall));
            if (interrupted)
            {
                await io.Out.WriteLineAsync($"interrupted; pods left in the cluster: {pods.Count}");
                return ExitCodes.Interrupted;
            }
            if (unintended.Count == 0 && missing == 0)
            {
                await io.Out.WriteLineAsync(progress.AllSucceeded
                    ? "every build succeeded"
                    : "every build ended as the scenario intends (its failures are faults the scenario injects; see docs/demo.md)");
            }
            else
            {
                await io.Out.WriteLineAsync("builds that did not end as the scenario intends:");
                foreach (var problem in unintended)
                {
                    await io.Out.WriteLineAsync("  " + problem);
                }
            }
            await io.Out.WriteLineAsync(pods.Count == 0
                ? "pods left in the cluster: 0"
                : $"pods left in the cluster: {pods.Count} ({string.Join(", ", pods.Take(5))}{(pods.Count > 5 ? ", …" : "")})");
            return unintended.Count == 0 && missing == 0 && pods.Count == 0 ? ExitCodes.Ok : ExitCodes.BuildsFailed;
        }
    }

    /// <summary>
    /// Under the final table, the last <see cref="FailureLogLines"/> lines of each failed build's failing attempt (at most
    /// <see cref="FailureLog.MaxBuilds"/> builds; a build failed for its dependency ran no attempt and has none), read from
    /// the log store through the API within 10 s.
    /// </summary>
    private static async Task PrintFailureLogsAsync(BuildFarmClient client, FollowedBuilds progress, CliIO io)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            foreach (var failed in progress.Builds.Where(b => b.State == BuildState.Failed && b.Attempts.Count > 0).Take(FailureLog.MaxBuilds))
            {
                await FailureLog.PrintAsync(client, failed, io, deadline.Token, FailureLogLines);
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            await io.Out.WriteLineAsync("(the failed builds' logs did not answer within 10 s)");
        }
    }

    /// <summary>What runs where, printed before the builds start.</summary>
    private static Grid Header(DemoFarm farm, DemoFarmOptions options, string scenarioName,
        string title = "the whole farm in this process; Ctrl+C cancels the builds and stops")
    {
        var s = options.Scenario;
        var grid = new Grid().AddColumn(new GridColumn().NoWrap().PadRight(2)).AddColumn();
        grid.AddRow(new Markup("[bold]BuildFarm demo[/]"), new Text(title));
        grid.AddRow(new Text("cluster simulator"), new Text(string.Create(s_inv,
            $"{farm.Sim.Address} (scenario {scenarioName}, seed {options.Seed}, {s.TimeScale}x time, {Plural.Of(s.Capacity.Nodes, "node")} x {Plural.Of(s.Capacity.PodsPerNode, "pod slot")})")));
        grid.AddRow(new Text("API"), new Text($"{farm.Address} (bearer key {farm.ApiKey})"));
        grid.AddRow(new Text("metrics"), new Text(farm.MetricsAddress.ToString()));
        grid.AddRow(new Text("workers"), new Text(string.Create(s_inv,
            $"{options.Workers} x {Plural.Of(options.SlotsPerWorker, "slot")} on queue {DemoWorkerBusRegistration.BuildQueue} (in-memory bus), in-process locks and dedupe")));
        return grid;
    }

    private static string Load(DemoFarm farm) =>
        string.Join("   ", farm.Workers.Load().Select(w => string.Create(s_inv, $"{w.Name}: {w.Busy}/{w.Slots} busy, {w.Taken} taken")))
        + "   metrics " + farm.MetricsAddress;

    private static string Totals(FollowedBuilds progress, TimeSpan wall)
    {
        var totals = ProgressView.Totals(ProgressView.SummaryRows(progress));
        return string.Create(s_inv,
            $"{Plural.Of(progress.Total, "build")} in {wall.TotalSeconds:0.0}s: {totals.Succeeded} succeeded, {totals.Failed} failed, {totals.Cancelled} cancelled; {Plural.Of(totals.Attempts, "attempt")} (pods), {Plural.Of(totals.Resets, "connection reset")}");
    }

    /// <summary>After Ctrl+C: asks the API to cancel every build not final, then follows them to their end (10 s at most).</summary>
    private static async Task CancelRemainingAsync(BuildFarmClient client, FollowedBuilds progress, CliIO io, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromSeconds(10));
        try
        {
            await Parallel.ForEachAsync(progress.BuildIds, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = deadline.Token }, async (id, ct) =>
            {
                if (progress.Builds.FirstOrDefault(b => b.BuildId == id) is { } current && current.State.IsFinal())
                {
                    return;
                }
                try
                {
                    progress.Apply(await client.CancelBuildAsync(id, ct));
                }
                catch (BuildFarmApiException e) when (e.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.NotFound)
                {
                    // Ended meanwhile.
                }
            });
            foreach (var id in progress.BuildIds)
            {
                while (progress.Builds.FirstOrDefault(b => b.BuildId == id) is not { } b || !b.State.IsFinal())
                {
                    progress.Apply(await client.GetBuildAsync(id, deadline.Token));
                    if (progress.Builds.FirstOrDefault(r => r.BuildId == id)?.State.IsFinal() == true)
                    {
                        break;
                    }
                    await Task.Delay(TimeSpan.FromMilliseconds(100), deadline.Token);
                }
            }
        }
        catch (OperationCanceledException)
        {
            await io.Error.WriteLineAsync("buildfarm demo: some builds did not end within 10 s of the cancel");
        }
    }
}
