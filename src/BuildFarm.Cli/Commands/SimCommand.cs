using System.CommandLine;
using System.Globalization;
using BuildFarm.ClusterSim.Hosting;
using BuildFarm.ClusterSim.Scenarios;

namespace BuildFarm.Cli.Commands;

/// <summary><c>buildfarm sim</c>: runs the cluster simulator until Ctrl+C.</summary>
public static class SimCommand
{
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
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (parse.GetValue(printScenario))
            {
                await io.Out.WriteAsync(ScenarioLoader.DefaultYaml());
                return 0;
            }
            Scenario loaded;
            string? yaml = null;
            try
            {
                var file = parse.GetValue(scenario);
                if (file is null)
                {
                    loaded = ScenarioLoader.Default();
                }
                else
                {
                    loaded = ScenarioLoader.Load(file.FullName);
                    yaml = await File.ReadAllTextAsync(file.FullName, cancellationToken);
                }
            }
            catch (ScenarioException e)
            {
                await io.Error.WriteLineAsync($"buildfarm sim: {e.Message}");
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
}
