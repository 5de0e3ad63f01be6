using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using BuildFarm.ClusterSim.Hosting;
using BuildFarm.ClusterSim.Planning;
using BuildFarm.ClusterSim.Scenarios;

namespace BuildFarm.Cli.Commands;

/// <summary><c>buildfarm sim</c>: runs the cluster simulator until Ctrl+C.</summary>
public static class SimCommand
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web);

    public static Command Create(CliIO io)
    {
        ArgumentNullException.ThrowIfNull(io);
        var port = new Option<int>("--port") { Description = "Port to listen on (0 = any free port).", DefaultValueFactory = _ => 6443 };
        var host = new Option<string>("--host") { Description = "Address to bind.", DefaultValueFactory = _ => "127.0.0.1" };
        var scenario = new Option<FileInfo?>("--scenario") { Description = "Scenario YAML (default: the shipped scenarios/default.yaml)." };
        var seed = new Option<long>("--seed") { Description = "Seed for every simulated duration, fault and digest.", DefaultValueFactory = _ => 1 };
        var kubeconfig = new Option<FileInfo?>("--kubeconfig-out") { Description = "Write a kubeconfig for kubectl and KubernetesClient to this file." };
        var token = new Option<string?>("--token") { Description = "Require this bearer token on API requests." };
        var tls = new Option<bool>("--tls") { Description = "Serve HTTPS with a generated self-signed certificate (in the kubeconfig)." };
        var printScenario = new Option<bool>("--print-default-scenario") { Description = "Print the default scenario YAML and exit." };
        var command = new Command("sim", "Run the cluster simulator: a Kubernetes API for pods with a simulated kubelet that runs Kaniko.")
        {
            port, host, scenario, seed, kubeconfig, token, tls, printScenario,
        };
        command.Subcommands.Add(CreatePlan(io));
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (parse.GetValue(printScenario))
            {
                await io.Out.WriteAsync(ScenarioLoader.DefaultYaml());
                return 0;
            }
            if (await ScenarioFile.ReadAsync(io, "sim", parse.GetValue(scenario), ScenarioLoader.Default, cancellationToken) is not (var loaded, var yaml))
            {
                return 2;
            }
            if (parse.GetValue(token) is not null && !parse.GetValue(tls))
            {
                await io.Error.WriteLineAsync("buildfarm sim: warning: kubectl sends a bearer token only over TLS; add --tls for kubectl to authenticate");
            }
            ClusterSimulator sim;
            try
            {
                sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions
                {
                    Host = parse.GetValue(host)!,
                    Port = parse.GetValue(port),
                    Seed = parse.GetValue(seed),
                    Scenario = loaded,
                    ScenarioYaml = yaml,
                    Token = parse.GetValue(token),
                    Tls = parse.GetValue(tls),
                }, cancellationToken);
            }
            catch (Exception e) when (e is ArgumentException or IOException)
            {
                await io.Error.WriteLineAsync($"buildfarm sim: cannot start: {e.Message}");
                return 2;
            }
            await using (sim)
            {
                var path = parse.GetValue(kubeconfig);
                if (path is not null)
                {
                    sim.WriteKubeconfig(path.FullName);
                }
                await io.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"cluster simulator listening on {sim.Address} (seed {parse.GetValue(seed)}, time scale {loaded.TimeScale}x, {loaded.Capacity.Nodes}x{loaded.Capacity.PodsPerNode} pod slots)"));
                if (path is not null)
                {
                    await io.Out.WriteLineAsync($"kubeconfig written to {path.FullName}: kubectl --kubeconfig {path.FullName} get pods");
                }
                await io.Out.WriteLineAsync("press Ctrl+C to stop");
                await io.Out.FlushAsync(cancellationToken);
                try
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    await io.Out.WriteLineAsync("stopping");
                }
            }
            return 0;
        });
        return command;
    }

    /// <summary><c>buildfarm sim plan</c>: a fan-out in simulated time, no HTTP.</summary>
    private static Command CreatePlan(CliIO io)
    {
        var builds = new Option<int>("--builds") { Description = "Number of builds in the fan-out.", DefaultValueFactory = _ => 1000 };
        var slots = new Option<int>("--slots") { Description = "Concurrent build slots (worker slots or pod capacity).", DefaultValueFactory = _ => 40 };
        var resetRate = new Option<double?>("--reset-rate") { Description = "Connection-reset probability per pull/extract/push attempt (overrides the scenario)." };
        var maxAttempts = new Option<int>("--max-attempts") { Description = "Pods per build for transient failures.", DefaultValueFactory = _ => 3 };
        var kanikoRetries = new Option<int>("--kaniko-retries") { Description = "--push-retry, --image-fs-extract-retry and --image-download-retry of every pod.", DefaultValueFactory = _ => 2 };
        var scenario = new Option<FileInfo?>("--scenario") { Description = "Scenario YAML for timings and faults (default: the shipped one)." };
        var seed = new Option<long>("--seed") { Description = "Seed.", DefaultValueFactory = _ => 1 };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON." };
        var plan = new Command("plan", "Capacity planning: run a fan-out through the simulated Kaniko in simulated time (no server).")
        {
            builds, slots, resetRate, maxAttempts, kanikoRetries, scenario, seed, json,
        };
        plan.SetAction(async (parse, cancellationToken) =>
        {
            if (await ScenarioFile.ReadAsync(io, "sim plan", parse.GetValue(scenario), ScenarioLoader.Default, cancellationToken) is not (var loaded, _))
            {
                return 2;
            }
            var options = new PlanOptions
            {
                Builds = parse.GetValue(builds),
                Slots = parse.GetValue(slots),
                ResetRate = parse.GetValue(resetRate),
                MaxAttempts = parse.GetValue(maxAttempts),
                KanikoRetries = parse.GetValue(kanikoRetries),
                Seed = parse.GetValue(seed),
            };
            var errors = options.Validate();
            if (errors.Count > 0)
            {
                await io.Error.WriteLineAsync($"buildfarm sim plan: {string.Join("; ", errors)}");
                return 2;
            }
            var result = CapacityPlanner.Run(loaded, options);
            if (parse.GetValue(json))
            {
                await io.Out.WriteLineAsync(JsonSerializer.Serialize(result, s_json));
                return 0;
            }
            var inv = CultureInfo.InvariantCulture;
            await io.Out.WriteLineAsync(string.Create(inv, $"{Plural.Of(result.Builds, "build")} on {Plural.Of(options.Slots, "slot")}: {result.Succeeded} succeeded, {result.Failed} failed"));
            await io.Out.WriteLineAsync(string.Create(inv, $"makespan {TimeSpan.FromSeconds(result.MakespanSeconds):c} (simulated); completion p50 {result.CompletionP50Seconds}s, p95 {result.CompletionP95Seconds}s; slot utilisation {result.SlotUtilisation:P1}"));
            await io.Out.WriteLineAsync(string.Create(inv, $"{Plural.Of(result.Pods, "pod")} ({result.PodRetries} retried in a new pod), {Plural.Of(result.KanikoRetryLines, "Kaniko retry", "Kaniko retries")}, {Plural.Of(result.ConnectionResets, "connection reset")}"));
            foreach (var (reason, count) in result.FailuresByReason.OrderByDescending(kv => kv.Value))
            {
                await io.Out.WriteLineAsync(string.Create(inv, $"  failed {reason}: {count}"));
            }
            return 0;
        });
        return plan;
    }
}
