using System.Net.Http.Json;
using System.Text.Json;
using BuildFarm.ClusterSim.Hosting;
using k8s;
using k8s.Models;

namespace BuildFarm.ClusterSim.Tests;

/// <summary>The simulated kubelet: pod lifecycle, Kaniko logs per format, faults, determinism and capacity.</summary>
public sealed class KubeletTests
{
    private static async Task<string> LogAsync(Kubernetes client, string name)
    {
        await using var stream = await client.CoreV1.ReadNamespacedPodLogAsync(name, "default");
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }

    [Fact]
    public async Task KanikoPod_JsonFormat_SucceedsWithDigestAsTerminationMessage()
    {
        await using var sim = await Sim.StartAsync();
        using var client = Sim.Client(sim);
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("json-build", ["registry.example.com/team/app:1", "mirror.example.com/app:1"], "json"), "default");
        var pod = await Sim.WaitForPhaseAsync(client, "json-build", "Succeeded", "Failed");

        Assert.Equal("Succeeded", pod.Status.Phase);
        var terminated = pod.Status.ContainerStatuses[0].State.Terminated;
        Assert.Equal((0, "Completed"), (terminated.ExitCode, terminated.Reason));
        Assert.Matches("^sha256:[0-9a-f]{64}$", terminated.Message);
        Assert.NotNull(terminated.StartedAt);
        Assert.True(terminated.FinishedAt >= terminated.StartedAt);
        Assert.Contains(pod.Spec.NodeName, new[] { "sim-node-1", "sim-node-2" });
        Assert.False(string.IsNullOrEmpty(pod.Status.PodIP));
        Assert.False(string.IsNullOrEmpty(pod.Status.HostIP));
        Assert.NotNull(pod.Status.StartTime);
        Assert.Equal("True", pod.Status.Conditions.Single(c => c.Type == "PodScheduled").Status);
        Assert.Equal("False", pod.Status.Conditions.Single(c => c.Type == "Ready").Status);

        var lines = (await LogAsync(client, "json-build")).TrimEnd('\n').Split('\n');
        var messages = new List<string>();
        foreach (var line in lines.Where(l => l.StartsWith('{')))
        {
            using var doc = JsonDocument.Parse(line);
            Assert.Equal(["level", "msg", "time"], doc.RootElement.EnumerateObject().Select(p => p.Name).ToArray());
            Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", doc.RootElement.GetProperty("time").GetString());
            messages.Add(doc.RootElement.GetProperty("msg").GetString()!);
        }
        Assert.Contains(messages, m => m.StartsWith("Unpacking rootfs as cmd ", StringComparison.Ordinal));
        Assert.Contains("Pushing image to registry.example.com/team/app:1", messages);
        Assert.Contains("Pushing image to mirror.example.com/app:1", messages);
        Assert.Equal($"Pushed registry.example.com/team/app@{terminated.Message}", messages[^3]);
        Assert.Equal($"Pushed mirror.example.com/app@{terminated.Message}", messages[^1]);
        Assert.Contains(lines, l => l.Contains("\\u0026\\u0026", StringComparison.Ordinal));

        var events = await client.CoreV1.ListNamespacedEventAsync("default", fieldSelector: "involvedObject.name=json-build");
        Assert.Equal(["Scheduled", "Pulling", "Pulled", "Created", "Started"], events.Items.OrderBy(e => int.Parse(e.Metadata.ResourceVersion, System.Globalization.CultureInfo.InvariantCulture)).Select(e => e.Reason).ToArray());
    }

    [Fact]
    public async Task KanikoPod_TextFormat_PrintsLogrusTextLines()
    {
        await using var sim = await Sim.StartAsync();
        using var client = Sim.Client(sim);
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("text-build", logFormat: "text"), "default");
        await Sim.WaitForPhaseAsync(client, "text-build", "Succeeded");
        var log = await LogAsync(client, "text-build");
        Assert.Matches("^time=\"[^\"]+Z\" level=info msg=\"Retrieving image manifest alpine:3.20\"\n", log);
        Assert.Contains("level=info msg=\"Pushing image to registry.example.com/team/app:1\"", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SameSeed_SameMessagesAndDigests_AcrossSimulators()
    {
        async Task<(string Digest, List<string> Messages)> RunAsync()
        {
            await using var sim = await Sim.StartAsync(Sim.Fast("faults: { pushReset: 0.4, extractReset: 0.3 }\ncache: { hitRate: 0.5 }"), seed: 99);
            using var client = Sim.Client(sim);
            await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("det", logFormat: "json", extraArgs: ["--cache=true", "--push-retry=5", "--image-fs-extract-retry=5"]), "default");
            var pod = await Sim.WaitForPhaseAsync(client, "det", "Succeeded", "Failed");
            var messages = (await LogAsync(client, "det")).TrimEnd('\n').Split('\n')
                .Select(l => l.StartsWith('{') ? JsonDocument.Parse(l).RootElement.GetProperty("msg").GetString()! : l).ToList();
            return (pod.Status.ContainerStatuses[0].State.Terminated.Message ?? string.Empty, messages);
        }
        var a = await RunAsync();
        var b = await RunAsync();
        Assert.Equal(a.Digest, b.Digest);
        Assert.Equal(a.Messages, b.Messages);
    }

    [Fact]
    public async Task PushResets_HonourPushRetry_ThenFailWithExitCode1()
    {
        await using var sim = await Sim.StartAsync(Sim.Fast("faults: { pushReset: 1 }"));
        using var client = Sim.Client(sim);
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("resets"), "default");
        var pod = await Sim.WaitForPhaseAsync(client, "resets", "Failed", "Succeeded");
        Assert.Equal("Failed", pod.Status.Phase);
        Assert.Equal((1, "Error"), (pod.Status.ContainerStatuses[0].State.Terminated.ExitCode, pod.Status.ContainerStatuses[0].State.Terminated.Reason));
        var log = await LogAsync(client, "resets");
        Assert.Equal(2, log.Split('\n').Count(l => l.Contains("Retrying operation after", StringComparison.Ordinal))); // --push-retry=2
        Assert.Contains("Retrying operation after 1s due to Patch", log, StringComparison.Ordinal);
        Assert.Contains("Retrying operation after 2s due to Patch", log, StringComparison.Ordinal);
        Assert.Matches("\nerror pushing image: failed to push to destination registry.example.com/team/app:1: .*connection reset by peer\n$", log);
    }

    [Fact]
    public async Task FailingRun_PodFailsWithTheRunExitCode()
    {
        await using var sim = await Sim.StartAsync(Sim.Fast("faults: { runFailure: 1, runExitCode: 3 }"));
        using var client = Sim.Client(sim);
        var spec = Sim.KanikoPod("run-fails");
        spec.Spec.Containers[0].TerminationMessagePolicy = "FallbackToLogsOnError";
        await client.CoreV1.CreateNamespacedPodAsync(spec, "default");
        var pod = await Sim.WaitForPhaseAsync(client, "run-fails", "Failed");
        var terminated = pod.Status.ContainerStatuses[0].State.Terminated;
        Assert.Equal((3, "Error"), (terminated.ExitCode, terminated.Reason));
        Assert.EndsWith("error building image: error building stage: failed to execute command: waiting for process to exit: exit status 3", terminated.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OomKilled_Exit137ReasonOomKilled_LogStops()
    {
        await using var sim = await Sim.StartAsync(Sim.Fast("faults: { oomKilled: 1 }"));
        using var client = Sim.Client(sim);
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("oom"), "default");
        var pod = await Sim.WaitForPhaseAsync(client, "oom", "Failed");
        var terminated = pod.Status.ContainerStatuses[0].State.Terminated;
        Assert.Equal((137, "OOMKilled"), (terminated.ExitCode, terminated.Reason));
        Assert.True(string.IsNullOrEmpty(terminated.Message));
        var log = await LogAsync(client, "oom");
        Assert.DoesNotContain("error", log, StringComparison.Ordinal);
        Assert.DoesNotContain("Pushing image", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Evicted_PhaseFailedReasonEvicted_WithEvent()
    {
        await using var sim = await Sim.StartAsync(Sim.Fast("faults: { evicted: 1 }"));
        using var client = Sim.Client(sim);
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("evictee"), "default");
        var pod = await Sim.WaitForPhaseAsync(client, "evictee", "Failed");
        Assert.Equal("Evicted", pod.Status.Reason);
        Assert.StartsWith("The node was low on resource: ephemeral-storage.", pod.Status.Message, StringComparison.Ordinal);
        var events = await client.CoreV1.ListNamespacedEventAsync("default", fieldSelector: "involvedObject.name=evictee,reason=Evicted");
        Assert.Equal("Warning", Assert.Single(events.Items).Type);
    }

    [Fact]
    public async Task ExecutorImagePullBackOff_StaysPendingWithBackOff()
    {
        await using var sim = await Sim.StartAsync(Sim.Fast("faults: { executorImagePullBackOff: 1 }"));
        using var client = Sim.Client(sim);
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("no-image"), "default");
        var pod = await Eventually.ValueAsync(() => client.CoreV1.ReadNamespacedPodAsync("no-image", "default")!,
            p => p?.Status?.ContainerStatuses?.FirstOrDefault()?.State?.Waiting?.Reason == "ImagePullBackOff", "ImagePullBackOff");
        Assert.Equal("Pending", pod.Status.Phase);
        var events = await client.CoreV1.ListNamespacedEventAsync("default", fieldSelector: "involvedObject.name=no-image,reason=BackOff");
        Assert.NotEmpty(events.Items);
    }

    [Fact]
    public async Task ExecutorImagePullBackOff_PerRegistry_OnlyForTheExecutorImagesRegistry()
    {
        // The executor image is gcr.io/…: a rate for gcr.io applies, one for another registry does not.
        await using var sim = await Sim.StartAsync(Sim.Fast("registries:\n  gcr.io:\n    faults: { executorImagePullBackOff: 1 }\n"));
        using var client = Sim.Client(sim);
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("gcr-backoff"), "default");
        var pod = await Eventually.ValueAsync(() => client.CoreV1.ReadNamespacedPodAsync("gcr-backoff", "default")!,
            p => p?.Status?.ContainerStatuses?.FirstOrDefault()?.State?.Waiting?.Reason == "ImagePullBackOff", "ImagePullBackOff");
        Assert.Equal("Pending", pod.Status.Phase);

        await using var other = await Sim.StartAsync(Sim.Fast("registries:\n  quay.io:\n    faults: { executorImagePullBackOff: 1 }\n"));
        using var otherClient = Sim.Client(other);
        await otherClient.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("gcr-fine"), "default");
        await Eventually.ValueAsync(() => otherClient.CoreV1.ReadNamespacedPodAsync("gcr-fine", "default")!,
            p => p?.Status?.Phase == "Succeeded", "the pod to succeed");
    }

    [Fact]
    public async Task NodeLost_PodIsDeletedByTaintManager()
    {
        await using var sim = await Sim.StartAsync(Sim.Fast("faults: { nodeLost: 1 }"));
        using var client = Sim.Client(sim);
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("lost"), "default");
        await Eventually.ValueAsync(async () =>
        {
            var list = await client.CoreV1.ListNamespacedPodAsync("default", fieldSelector: "metadata.name=lost");
            return list.Items.Count == 0;
        }, gone => gone == true, "the pod on the lost node to be deleted");
    }

    [Fact]
    public async Task Capacity_Full_PodUnschedulableUntilSlotFrees()
    {
        await using var sim = await Sim.StartAsync(Sim.Fast("capacity: { nodes: 1, podsPerNode: 1 }\ntimeScale: 20"));
        using var client = Sim.Client(sim);
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("first", ["reg.example.com/a:1"]), "default");
        await Sim.WaitForPhaseAsync(client, "first", "Running");
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("second", ["reg.example.com/a:1"]), "default");
        var waiting = await Eventually.ValueAsync(() => client.CoreV1.ReadNamespacedPodAsync("second", "default")!,
            p => p?.Status?.Conditions?.Any(c => c.Type == "PodScheduled" && c.Reason == "Unschedulable") == true || p?.Status?.Phase != "Pending",
            "second pod unschedulable");
        var condition = waiting.Status.Conditions.Single(c => c.Type == "PodScheduled");
        Assert.Equal(("False", "Unschedulable"), (condition.Status, condition.Reason));
        Assert.Equal("0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.", condition.Message);
        var failed = await client.CoreV1.ListNamespacedEventAsync("default", fieldSelector: "involvedObject.name=second,reason=FailedScheduling");
        Assert.Single(failed.Items);

        await Sim.WaitForPhaseAsync(client, "second", "Succeeded");
        var first = await client.CoreV1.ReadNamespacedPodAsync("first", "default");
        var second = await client.CoreV1.ReadNamespacedPodAsync("second", "default");
        Assert.True(second.Status.ContainerStatuses[0].State.Terminated.StartedAt >= first.Status.ContainerStatuses[0].State.Terminated.FinishedAt);

        using var http = new HttpClient();
        var stats = await http.GetFromJsonAsync<SimStatsSnapshot>(new Uri(sim.Address, "/_sim/stats"), new JsonSerializerOptions(JsonSerializerDefaults.Web));
        Assert.NotNull(stats);
        Assert.Equal(1, stats.PeakConcurrentPods);
        Assert.Equal(2, stats.PodsByPhase["Succeeded"]);
        Assert.Equal(1, stats.Registries["reg.example.com"].Peak);
        var history = stats.Pods.Where(p => p.Destinations.Contains("reg.example.com/a:1")).OrderBy(p => p.Start).ToList();
        Assert.Equal(2, history.Count);
        Assert.True(history[1].Start >= history[0].End, "two builds to one destination overlapped");
        Assert.Contains(stats.Requests, r => r.Verb == "create" && r.Resource == "pods" && r.Code == 201 && r.Count == 2);
    }

    [Fact]
    public async Task ScenarioReload_ChangesFaultsForNewPods()
    {
        await using var sim = await Sim.StartAsync();
        using var http = new HttpClient();
        var bad = await http.PostAsync(new Uri(sim.Address, "/_sim/scenario"), new StringContent("timeScale: -1"));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("timeScale must be a positive number", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var ok = await http.PostAsync(new Uri(sim.Address, "/_sim/scenario"), new StringContent(Sim.FastYaml + "\nfaults: { runFailure: 1, runExitCode: 9 }"));
        ok.EnsureSuccessStatusCode();
        using var client = Sim.Client(sim);
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("after-reload"), "default");
        var pod = await Sim.WaitForPhaseAsync(client, "after-reload", "Failed");
        Assert.Equal(9, pod.Status.ContainerStatuses[0].State.Terminated.ExitCode);
    }
}
