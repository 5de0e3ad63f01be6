using System.Diagnostics;
using System.Text.RegularExpressions;
using BuildFarm.ClusterSim.Hosting;

namespace BuildFarm.ClusterSim.Tests;

/// <summary>The real kubectl against the simulator, driven with the kubeconfig <c>--kubeconfig-out</c> writes.</summary>
[NeedsServer(Server.Kubectl)]
public sealed class KubectlTests : IAsyncLifetime
{
    private const string PodYaml = """
        apiVersion: v1
        kind: Pod
        metadata:
          name: NAME
          labels:
            app: buildfarm
        spec:
          restartPolicy: Never
          containers:
          - name: kaniko
            image: gcr.io/kaniko-project/executor:v1.24.0
            args:
            - --context=dir:///workspace
            - --dockerfile=Dockerfile
            - --destination=registry.example.com/team/app:1
            - --log-timestamp
            - --push-retry=2
            - --digest-file=/dev/termination-log
        """;

    private ClusterSimulator _sim = null!;
    private string _kubeconfig = null!;
    private Kubectl _kubectl = null!;

    public async Task InitializeAsync()
    {
        // kubectl sends a bearer token only over TLS, so the kubectl tests use both.
        _sim = await Sim.StartAsync(Sim.Fast("timeScale: 40"), token: "kubectl-token", tls: true);
        _kubeconfig = Path.Combine(Path.GetTempPath(), $"sim-kubectl-{Guid.NewGuid():N}.kubeconfig");
        _sim.WriteKubeconfig(_kubeconfig);
        _kubectl = new Kubectl(_kubeconfig);
    }

    public async Task DisposeAsync()
    {
        await _sim.DisposeAsync();
        File.Delete(_kubeconfig);
    }

    private async Task CreateAsync(string name)
    {
        var result = await _kubectl.RunAsync(TimeSpan.FromSeconds(30), PodYaml.Replace("NAME", name, StringComparison.Ordinal), "create", "-f", "-");
        Assert.True(result.ExitCode == 0, $"kubectl create failed: {result.Error}");
        Assert.Equal($"pod/{name} created", result.Out.Trim());
    }

    private Task<string> WaitForStatusAsync(string name, string status) =>
        Eventually.ValueAsync(async () => (await _kubectl.RunAsync("get", "pod", name, "-o", "jsonpath={.status.phase}")).Out,
            s => s == status, $"kubectl to report {name} {status}");

    [Fact]
    public async Task CreateGetDescribeDelete_WorkAgainstTheSimulator()
    {
        await CreateAsync("kubectl-pod");

        var table = await _kubectl.RunAsync("get", "pods");
        Assert.Equal(0, table.ExitCode);
        var header = table.Out.Split('\n')[0];
        Assert.Matches(@"^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s*$", header);
        Assert.Matches(@"\nkubectl-pod\s+[01]/1\s+\w+\s+0\s+\d+s", table.Out);

        await WaitForStatusAsync("kubectl-pod", "Succeeded");
        var done = await _kubectl.RunAsync("get", "pods", "kubectl-pod");
        Assert.Matches(@"kubectl-pod\s+0/1\s+Completed\s+0\s+", done.Out);

        var yaml = await _kubectl.RunAsync("get", "pod", "kubectl-pod", "-o", "yaml");
        Assert.Equal(0, yaml.ExitCode);
        Assert.Contains("phase: Succeeded", yaml.Out, StringComparison.Ordinal);
        Assert.Matches(@"message: sha256:[0-9a-f]{64}", yaml.Out);
        Assert.Contains("reason: Completed", yaml.Out, StringComparison.Ordinal);

        var describe = await _kubectl.RunAsync("describe", "pod", "kubectl-pod");
        Assert.Equal(0, describe.ExitCode);
        Assert.Contains("Events:", describe.Out, StringComparison.Ordinal);
        Assert.Matches(@"Normal\s+Scheduled\s+.*default-scheduler\s+Successfully assigned default/kubectl-pod to sim-node-\d", describe.Out);
        Assert.Matches(@"Normal\s+Started\s+.*kubelet\s+Started container kaniko", describe.Out);
        Assert.DoesNotContain("<invalid>", describe.Out, StringComparison.Ordinal);

        var events = await _kubectl.RunAsync("get", "events");
        Assert.Equal(0, events.ExitCode);
        Assert.Matches(@"^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE", events.Out);
        Assert.Matches(@"\n\d+s\s+Normal\s+Pulled\s+pod/kubectl-pod\s+Successfully pulled image", events.Out);

        var delete = await _kubectl.RunAsync("delete", "pod", "kubectl-pod");
        Assert.True(delete.ExitCode == 0, delete.Error);
        Assert.Equal("pod \"kubectl-pod\" deleted", delete.Out.Trim());
        var gone = await _kubectl.RunAsync("get", "pod", "kubectl-pod");
        Assert.NotEqual(0, gone.ExitCode);
        Assert.Contains("pods \"kubectl-pod\" not found", gone.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_InvalidPod_ShowsServerValidationError()
    {
        var result = await _kubectl.RunAsync(TimeSpan.FromSeconds(30), PodYaml.Replace("NAME", "Bad_Name", StringComparison.Ordinal), "create", "-f", "-");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("Pod \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\"", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetWatch_ShowsStatusChanges()
    {
        using var process = _kubectl.Start("get", "pods", "-w");
        var lines = new List<string>();
        var readAll = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
            {
                lock (lines)
                {
                    lines.Add(line);
                }
            }
        });
        try
        {
            await CreateAsync("watched-pod");
            await Eventually.ValueAsync(() =>
            {
                lock (lines)
                {
                    return Task.FromResult<bool?>(lines.Any(l => Regex.IsMatch(l, @"^watched-pod\s+0/1\s+Completed\s")));
                }
            }, seen => seen == true, "kubectl get -w to print the pod Completed");
            lock (lines)
            {
                Assert.Matches(@"^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE", lines[0]);
                var statuses = lines.Skip(1).Select(l => Regex.Split(l.Trim(), @"\s+")[2]).ToList();
                Assert.True(statuses.Count >= 2, string.Join(" | ", lines));
                Assert.Contains("Completed", statuses);
                Assert.Contains(statuses, s => s is "Pending" or "ContainerCreating" or "Running");
            }
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            await readAll;
        }
    }

    [Fact]
    public async Task LogsFollowAndTimestamps_StreamTheKanikoLog()
    {
        await CreateAsync("log-pod");
        await Eventually.ValueAsync(async () => (await _kubectl.RunAsync("get", "pod", "log-pod", "-o", "jsonpath={.status.phase}")).Out,
            s => s is "Running" or "Succeeded", "log-pod to start");
        var stopwatch = Stopwatch.StartNew();
        var follow = await _kubectl.RunAsync(TimeSpan.FromSeconds(30), null, "logs", "-f", "log-pod");
        Assert.True(follow.ExitCode == 0, follow.Error);
        Assert.Contains("Retrieving image manifest alpine:3.20", follow.Out, StringComparison.Ordinal);
        Assert.Matches(@"Pushed registry\.example\.com/team/app@sha256:[0-9a-f]{64} \n$", follow.Out);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(25));

        var stamped = await _kubectl.RunAsync("logs", "--timestamps", "log-pod");
        Assert.Equal(0, stamped.ExitCode);
        var lines = stamped.Out.TrimEnd('\n').Split('\n');
        Assert.Equal(follow.Out.TrimEnd('\n').Split('\n').Length, lines.Length);
        Assert.All(lines, l => Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ", l));
    }
}
