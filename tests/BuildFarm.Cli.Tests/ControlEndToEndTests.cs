using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using BuildFarm.Api.Hosting;
using BuildFarm.Client;
using BuildFarm.Contracts;
using BuildFarm.ClusterSim.Hosting;
using BuildFarm.ClusterSim.Scenarios;
using BuildFarm.Worker.Hosting;
using k8s;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BuildFarm.Cli.Tests;

/// <summary>
/// Batch cancel and re-run end to end, driven through the <c>buildfarm</c> CLI: the API host (with the status projector
/// and the batch orchestrator, the Redis status store) and the real worker host (AddBuildFarmWorker, Redis coordination)
/// on the RabbitMQ and Redis that ./test.sh starts, over the cluster simulator. One class: its tests share the broker's
/// queues and run one after another. Pushes to <see cref="SlowRegistry"/> take about 20 s; to <see cref="DeniedRegistry"/>
/// they fail as unauthorized (permanent, one attempt).
/// </summary>
[NeedsServer(Server.RabbitMq, Server.Redis)]
public sealed class ControlEndToEndTests
{
    private const string Namespace = "buildfarm";
    private const string SlowRegistry = "slow.example.com";
    private const string DeniedRegistry = "denied.example.com";
    private const string Registry = "registry.example.com";

    private static readonly TimeSpan EndTimeout = TimeSpan.FromSeconds(90);

    private static BatchImageRequest Image(string prefix, string name, string registry, params BatchDependency[] dependsOn) => new()
    {
        Name = name,
        Spec = new BuildSpec { Context = "s3://ctx-bucket/mono.tar.gz", ContextSubPath = name, Destinations = [$"{registry}/{prefix}/{name}:1"] },
        DependsOn = dependsOn,
    };

    [Fact]
    public async Task CancelBatch_QueuedNeverStart_RunningPodDeleted_DependentsEndCancelled_NoPodLeft()
    {
        // One slot: of the two roots one runs (a 20 s push) and the other waits in the queue; c and d wait for a.
        await using var farm = await Farm.StartAsync(slots: 1);
        var prefix = Unique("cancel");
        var submitted = await farm.Client.SubmitBatchAsync(new SubmitBatchRequest
        {
            Images =
            [
                Image(prefix, "a", SlowRegistry),
                Image(prefix, "b", SlowRegistry),
                Image(prefix, "c", Registry, new BatchDependency("a", "BASE_IMAGE")),
                Image(prefix, "d", Registry, new BatchDependency("c", "BASE_IMAGE")),
            ],
        });
        var batchId = submitted.BatchId;
        var running = await Eventually.ValueAsync(async () => (await farm.Client.GetBatchAsync(batchId)).Images.FirstOrDefault(i => i.State == BuildState.Running),
            i => i is not null, "a root of the batch to run", EndTimeout);
        Assert.Contains(running.Name, new[] { "a", "b" });

        var cancel = await CliRunner.RunAsync(farm.With("cancel", batchId, "--output", "json"));

        Assert.True(cancel.ExitCode == 0, cancel.Error);
        var answer = JsonSerializer.Deserialize<BatchStatus>(cancel.Out, BuildFarmJson.Options)!;
        // The answer is the batch after the cancel: the waiting images are already cancelled.
        Assert.All(answer.Images.Where(i => i.Name is "c" or "d"), i => Assert.Equal(BuildState.Cancelled, i.State));
        var done = await Eventually.ValueAsync(async () => await farm.Client.GetBatchAsync(batchId), b => b!.Done, "the cancelled batch to end", EndTimeout);
        var queued = done.Images.Single(i => i.Name is "a" or "b" && i.Name != running.Name);
        Assert.All(done.Images, i => Assert.True(i.State == BuildState.Cancelled, $"{i.Name}: {i.State.ToWire()} {i.Reason}"));
        Assert.Equal(1, done.Images.Single(i => i.Name == running.Name).Attempt);
        foreach (var never in done.Images.Where(i => i.Name != running.Name))
        {
            Assert.Equal(0, never.Attempt);
            Assert.Empty(await farm.PodsEverAsync(never.BuildId));
        }
        Assert.Equal([$"bf-{running.BuildId}-1"], await farm.PodsEverAsync(running.BuildId));
        // The running build's pod was deleted and no other pod of the batch exists: nothing orphaned.
        await Eventually.UntilAsync(async () => (await farm.PodsNowAsync()).Count == 0, "the batch's pods to be gone", EndTimeout);
        // The queued build was taken after the cancel and ended without a pod.
        Assert.Equal(BuildState.Cancelled, (await farm.Client.GetBuildAsync(queued.BuildId)).State);
    }

    [Fact]
    public async Task RerunFailedBuild_NewBuildLinkedToTheOriginal_BuildsAgain_IdempotencyKeyReplays()
    {
        await using var farm = await Farm.StartAsync(slots: 4);
        var prefix = Unique("rerun");
        var original = await farm.Client.SubmitBuildAsync(new SubmitBuildRequest
        {
            Spec = new BuildSpec { Context = "s3://ctx-bucket/app.tar.gz", Destinations = [$"{DeniedRegistry}/{prefix}/app:1"], BuildArgs = new Dictionary<string, string> { ["V"] = "1" } },
            Priority = 3,
        });
        var failed = await farm.WaitFinalAsync(original.BuildId);
        Assert.Equal((BuildState.Failed, FailureReasons.Unauthorized), (failed.State, failed.Reason));

        var rerun = await CliRunner.RunAsync(farm.With("rerun", original.BuildId, "--failed", "--output", "json"));

        Assert.True(rerun.ExitCode == 0, rerun.Error);
        var again = JsonSerializer.Deserialize<BuildRecord>(rerun.Out, BuildFarmJson.Options)!;
        Assert.NotEqual(original.BuildId, again.BuildId);
        Assert.Equal(original.BuildId, again.RerunOf);
        Assert.Equal(original.Spec.Destinations, again.Spec.Destinations);
        Assert.Equal("1", again.Spec.BuildArgs["V"]);
        Assert.Equal(3, again.Priority);
        var ended = await farm.WaitFinalAsync(again.BuildId);
        Assert.Equal((BuildState.Failed, FailureReasons.Unauthorized), (ended.State, ended.Reason));
        Assert.Equal([$"bf-{again.BuildId}-1"], await farm.PodsEverAsync(again.BuildId));
        Assert.Equal([$"bf-{original.BuildId}-1"], await farm.PodsEverAsync(original.BuildId)); // the original is not touched

        // The same Idempotency-Key answers the same re-run, and publishes nothing new.
        var first = await farm.Client.RerunBuildAsync(original.BuildId, idempotencyKey: "rerun-" + prefix);
        var replay = await farm.Client.RerunBuildAsync(original.BuildId, idempotencyKey: "rerun-" + prefix);
        Assert.Equal(first.BuildId, replay.BuildId);
        Assert.NotEqual(again.BuildId, first.BuildId);
    }

    [Fact]
    public async Task RerunFailedPartOfBatch_SucceededImagesNotRebuilt_DependentBuiltOnTheReusedDigest()
    {
        await using var farm = await Farm.StartAsync(slots: 4);
        var prefix = Unique("rerunb");
        var submitted = await farm.Client.SubmitBatchAsync(new SubmitBatchRequest
        {
            Images =
            [
                Image(prefix, "base", Registry),
                Image(prefix, "bad", DeniedRegistry, new BatchDependency("base", "BASE_IMAGE")),
                Image(prefix, "child", Registry, new BatchDependency("bad", "BASE_IMAGE")),
                Image(prefix, "other", Registry),
            ],
        });
        var first = await Eventually.ValueAsync(async () => await farm.Client.GetBatchAsync(submitted.BatchId), b => b!.Done, "the batch to end", EndTimeout);
        var byName = first.Images.ToDictionary(i => i.Name);
        Assert.Equal(BuildState.Succeeded, byName["base"].State);
        Assert.Equal(BuildState.Succeeded, byName["other"].State);
        Assert.Equal((BuildState.Failed, FailureReasons.Unauthorized), (byName["bad"].State, byName["bad"].Reason));
        Assert.Equal((BuildState.Failed, FailureReasons.DependencyFailed), (byName["child"].State, byName["child"].Reason));

        var rerun = await CliRunner.RunAsync(farm.With("rerun", submitted.BatchId, "--failed", "--output", "json"));

        Assert.True(rerun.ExitCode == 0, rerun.Error);
        var again = JsonSerializer.Deserialize<BatchStatus>(rerun.Out, BuildFarmJson.Options)!;
        Assert.NotEqual(submitted.BatchId, again.BatchId);
        Assert.Equal(submitted.BatchId, again.RerunOf);
        Assert.Equal(["bad", "child"], again.Images.Select(i => i.Name));
        Assert.Equal(["base", "other"], again.Reused.Select(r => r.Name));
        Assert.Equal(byName["base"].Digest, again.Reused[0].Digest);
        Assert.Equal(byName["base"].BuildId, again.Reused[0].BuildId);
        var second = await Eventually.ValueAsync(async () => await farm.Client.GetBatchAsync(again.BatchId), b => b!.Done, "the re-run batch to end", EndTimeout);
        var rebuilt = second.Images.ToDictionary(i => i.Name);
        Assert.Equal((BuildState.Failed, FailureReasons.Unauthorized), (rebuilt["bad"].State, rebuilt["bad"].Reason));
        Assert.Equal((BuildState.Failed, FailureReasons.DependencyFailed), (rebuilt["child"].State, rebuilt["child"].Reason));
        // The rebuilt image was built on the original base's digest, passed as the orchestrator passes it.
        var pinned = $"{Registry}/{prefix}/base@{byName["base"].Digest}";
        Assert.Equal(pinned, (await farm.Client.GetBuildAsync(rebuilt["bad"].BuildId)).Spec.BuildArgs["BASE_IMAGE"]);
        Assert.Contains($"--build-arg=BASE_IMAGE={pinned}", await farm.PodArgsAsync($"bf-{rebuilt["bad"].BuildId}-1"));
        // What succeeded was not built again: the only pods are the original batch's and the rebuilt image's one.
        Assert.Equal([$"bf-{byName["base"].BuildId}-1"], await farm.PodsEverAsync(byName["base"].BuildId));
        Assert.Equal([$"bf-{byName["other"].BuildId}-1"], await farm.PodsEverAsync(byName["other"].BuildId));
        Assert.Equal([$"bf-{rebuilt["bad"].BuildId}-1"], await farm.PodsEverAsync(rebuilt["bad"].BuildId));
        Assert.Empty(await farm.PodsEverAsync(rebuilt["child"].BuildId));
        Assert.Equal(4, (await farm.StatsAsync()).Pods.Select(p => p.Name).Distinct().Count());
    }

    private static string Unique(string stem) => $"{stem}{Guid.NewGuid().ToString("N")[..8]}";

    /// <summary>The simulator, the worker host and the API host on the test broker and Redis (a key prefix per farm).</summary>
    private sealed class Farm : IAsyncDisposable
    {
        private const string ApiKey = "control-e2e-key-0123456789";

        private readonly ClusterSimulator _sim;
        private readonly IHost _worker;
        private readonly WebApplication _api;
        private readonly string _kubeconfig;
        private readonly Kubernetes _kubernetes;
        private readonly HttpClient _http;

        private Farm(ClusterSimulator sim, IHost worker, WebApplication api, Uri address, string kubeconfig)
        {
            _sim = sim;
            _worker = worker;
            _api = api;
            Address = address;
            _kubeconfig = kubeconfig;
            _kubernetes = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig));
            _http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
            Client = new BuildFarmClient(_http, ApiKey);
        }

        public Uri Address { get; }
        public BuildFarmClient Client { get; }

        public string[] With(params string[] args) => [.. args, "--api", Address.ToString(), "--api-key", ApiKey];

        public static async Task<Farm> StartAsync(int slots)
        {
            var yaml = ScenarioLoader.FastYaml() + $$"""
                capacity: { nodes: 4, podsPerNode: 10 }
                registries:
                  {{DeniedRegistry}}:
                    faults: { unauthorized: 1.0 }
                  {{SlowRegistry}}:
                    timings: { push: { median: 8000, p95: 8001 } }
                """;
            var sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions { Scenario = ScenarioLoader.Parse(yaml, "control e2e"), Seed = 5 });
            var kubeconfig = Path.Combine(Path.GetTempPath(), $"control-e2e-{Guid.NewGuid():N}.kubeconfig");
            sim.WriteKubeconfig(kubeconfig);
            var prefix = TestRedis.UniquePrefix("bfcontrol");
            var worker = await StartWorkerAsync(kubeconfig, prefix + "worker:", slots);
            var (api, address) = await StartApiAsync(prefix + "status:");
            return new Farm(sim, worker, api, address, kubeconfig);
        }

        public async Task<BuildRecord> WaitFinalAsync(string buildId) =>
            (await Eventually.ValueAsync(async () => await Client.GetBuildAsync(buildId), r => r!.State.IsFinal(), $"build {buildId} to end", EndTimeout))!;

        public async Task<SimStatsSnapshot> StatsAsync()
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            return (await http.GetFromJsonAsync<SimStatsSnapshot>(new Uri(_sim.Address, "/_sim/stats"), new JsonSerializerOptions(JsonSerializerDefaults.Web)))!;
        }

        /// <summary>Every pod the build ever had (the simulator's pod history, deleted pods included).</summary>
        public async Task<IReadOnlyList<string>> PodsEverAsync(string buildId) =>
            [.. (await StatsAsync()).Pods.Where(p => p.Name.StartsWith($"bf-{buildId}-", StringComparison.Ordinal)).Select(p => p.Name).Distinct().Order(StringComparer.Ordinal)];

        /// <summary>The pods in the cluster now.</summary>
        public async Task<IReadOnlyList<string>> PodsNowAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var list = await _kubernetes.CoreV1.ListNamespacedPodAsync(Namespace, cancellationToken: timeout.Token);
            return [.. list.Items.Select(p => p.Metadata.Name)];
        }

        public async Task<IReadOnlyList<string>> PodArgsAsync(string pod)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var found = await _kubernetes.CoreV1.ReadNamespacedPodAsync(pod, Namespace, cancellationToken: timeout.Token);
            return [.. found.Spec.Containers[0].Args ?? []];
        }

        private static (string Host, string Port, string User, string Password) Broker()
        {
            var uri = TestEnvironment.RabbitMq;
            var userInfo = uri.UserInfo.Split(':', 2);
            return (uri.Host, uri.Port.ToString(CultureInfo.InvariantCulture), Uri.UnescapeDataString(userInfo[0]),
                userInfo.Length > 1 ? Uri.UnescapeDataString(userInfo[1]) : "");
        }

        private static async Task<IHost> StartWorkerAsync(string kubeconfig, string redisPrefix, int slots)
        {
            var broker = Broker();
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.ClearProviders();
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Kubernetes:KubeconfigPath"] = kubeconfig,
                ["Kaniko:Namespace"] = Namespace,
                ["Worker:Slots"] = slots.ToString(CultureInfo.InvariantCulture),
                ["Worker:BackoffBase"] = "00:00:00.050",
                ["Worker:MaxBackoff"] = "00:00:00.200",
                ["Worker:WaitPollMin"] = "00:00:00.020",
                ["Worker:WaitPollMax"] = "00:00:00.200",
                ["Worker:ShutdownGracePeriod"] = "00:00:00.100",
                ["Bus:Transport"] = "RabbitMq",
                ["Bus:Host"] = broker.Host,
                ["Bus:Port"] = broker.Port,
                ["Bus:Username"] = broker.User,
                ["Bus:Password"] = broker.Password,
                ["Redis:ConnectionString"] = TestRedis.ConnectionString,
                ["Redis:KeyPrefix"] = redisPrefix,
            });
            builder.AddBuildFarmWorker();
            var host = builder.Build();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await host.StartAsync(timeout.Token);
            return host;
        }

        private static async Task<(WebApplication App, Uri Address)> StartApiAsync(string statusPrefix)
        {
            var broker = Broker();
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
            builder.Configuration.Sources.Clear();
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Bus:Transport"] = "RabbitMq",
                ["Bus:Host"] = broker.Host,
                ["Bus:Port"] = broker.Port,
                ["Bus:Username"] = broker.User,
                ["Bus:Password"] = broker.Password,
                ["Redis:ConnectionString"] = TestRedis.ConnectionString,
                ["Status:KeyPrefix"] = statusPrefix,
                ["Api:Keys:e2e:Key"] = ApiKey,
                ["Api:Keys:e2e:Scopes"] = "submit,read,cancel",
                ["Api:Keys:e2e:Tenant"] = "e2e",
            });
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
            builder.AddBuildFarmApi();
            var app = builder.Build();
            app.MapBuildFarmApi();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await app.StartAsync(timeout.Token);
            var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return (app, new Uri($"http://127.0.0.1:{new Uri(bound).Port}/"));
        }

        public async ValueTask DisposeAsync()
        {
            _http.Dispose();
            using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
            {
                await _api.StopAsync(stop.Token);
                await _worker.StopAsync(stop.Token);
            }
            await _api.DisposeAsync();
            _worker.Dispose();
            _kubernetes.Dispose();
            await _sim.DisposeAsync();
            File.Delete(_kubeconfig);
        }
    }
}
