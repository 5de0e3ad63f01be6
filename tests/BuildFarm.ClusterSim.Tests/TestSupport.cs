using BuildFarm.ClusterSim.Hosting;
using BuildFarm.ClusterSim.Scenarios;
using k8s;
using k8s.Models;

namespace BuildFarm.ClusterSim.Tests;

/// <summary>Starts simulators for tests and builds clients and Kaniko-like pods.</summary>
internal static class Sim
{
    /// <summary>A fast scenario: a typical build takes well under a second of wall time.</summary>
    public static readonly string FastYaml = ScenarioLoader.FastYaml() + "capacity: { nodes: 2, podsPerNode: 5 }\n";

    public static Scenario Fast(string extraYaml = "") => ScenarioLoader.Parse(FastYaml + "\n" + extraYaml, "test scenario");

    public static Task<ClusterSimulator> StartAsync(Scenario? scenario = null, string? token = null, bool tls = false, long seed = 7) =>
        ClusterSimulator.StartAsync(new ClusterSimulatorOptions { Scenario = scenario ?? Fast(), Token = token, Tls = tls, Seed = seed });

    /// <summary>A client built the way users build one: from the kubeconfig the simulator writes.</summary>
    public static Kubernetes Client(ClusterSimulator sim)
    {
        var path = Path.Combine(Path.GetTempPath(), $"sim-{Guid.NewGuid():N}.kubeconfig");
        sim.WriteKubeconfig(path);
        try
        {
            return new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>A Kaniko pod with the args the farm passes.</summary>
    public static V1Pod KanikoPod(string name, string[]? destinations = null, string? logFormat = null, IEnumerable<string>? extraArgs = null,
        IDictionary<string, string>? labels = null)
    {
        var args = new List<string>
        {
            "--context=dir:///workspace",
            "--dockerfile=Dockerfile",
            "--log-timestamp",
            "--push-retry=2",
            "--image-fs-extract-retry=2",
            "--image-download-retry=2",
            "--digest-file=/dev/termination-log",
        };
        args.AddRange((destinations ?? ["registry.example.com/team/app:1"]).Select(d => $"--destination={d}"));
        if (logFormat is not null)
        {
            args.Add($"--log-format={logFormat}");
        }
        args.AddRange(extraArgs ?? []);
        return new V1Pod
        {
            Metadata = new V1ObjectMeta { Name = name, Labels = labels ?? new Dictionary<string, string> { ["app"] = "buildfarm" } },
            Spec = new V1PodSpec
            {
                RestartPolicy = "Never",
                Containers =
                [
                    new V1Container { Name = "kaniko", Image = "gcr.io/kaniko-project/executor:v1.24.0", Args = args },
                ],
            },
        };
    }

    public static Task<V1Pod> WaitForPhaseAsync(Kubernetes client, string name, params string[] phases) =>
        Eventually.ValueAsync(() => client.CoreV1.ReadNamespacedPodAsync(name, "default")!, p => p is not null && phases.Contains(p.Status?.Phase),
            $"pod {name} to reach {string.Join("/", phases)}", TimeSpan.FromSeconds(20));

    /// <summary>A real Kaniko run from the repository's tests/fixtures/kaniko/runs, without its leading # source line.</summary>
    public static string[] RealRun(string file)
    {
        var path = Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "kaniko", "runs", file);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"real Kaniko run {path} is missing from the repository's test fixtures", path);
        }
        return File.ReadAllLines(path).Where(l => !l.StartsWith('#')).ToArray();
    }
}
