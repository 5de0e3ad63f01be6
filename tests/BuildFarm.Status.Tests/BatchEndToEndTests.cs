using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using BuildFarm.ClusterSim.Hosting;
using BuildFarm.ClusterSim.Scenarios;
using BuildFarm.Contracts;
using BuildFarm.Registry;
using BuildFarm.Status.Hosting;
using BuildFarm.Worker.Hosting;
using k8s;
using k8s.Models;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BuildFarm.Status.Tests;

/// <summary>
/// A batch end to end on the real RabbitMQ and Redis that ./test.sh starts: the cluster simulator in process over HTTP,
/// the real worker host (AddBuildFarmWorker, RabbitMQ transport, Redis coordination) and a status host (the projector and
/// the orchestrator on RabbitMQ, the Redis store). The test watches the simulator's pods itself, so it sees every pod's
/// creation (with its args) in the API's own order, even those the worker deletes a moment later. One class: the tests
/// share the broker's queues and run one after another.
/// </summary>
[NeedsServer(Server.Redis, Server.RabbitMq)]
public sealed class BatchEndToEndTests
{
    private const string Namespace = "buildfarm";
    private const string DeniedRegistry = "denied.example.com";

    /// <summary>The registry host the simulator's pods and the worker's index push send to the test's real docker-registry.</summary>
    private const string RealRegistryHost = "registry.test";

    /// <summary>30 images in 4 levels: 2 bases, 6 on a base, 12 on two level-1 images (diamonds), 10 on level 2.</summary>
    private static SubmitBatch ThirtyImages(string batch)
    {
        var images = new List<BatchImage>();
        BatchImage Image(string name, params BatchDependency[] dependsOn) => new()
        {
            Name = name,
            BuildId = $"{batch}-{name}",
            Spec = new BuildSpec { Context = "s3://ctx-bucket/mono.tar.gz", ContextSubPath = name, Destinations = [$"registry.example.com/{batch}/{name}:1"] },
            DependsOn = dependsOn,
        };
        images.Add(Image("base-a"));
        images.Add(Image("base-b"));
        for (var i = 0; i < 6; i++)
        {
            images.Add(Image($"l1-{i}", new BatchDependency(i % 2 == 0 ? "base-a" : "base-b", "BASE_IMAGE")));
        }
        for (var i = 0; i < 12; i++)
        {
            images.Add(Image($"l2-{i}", new BatchDependency($"l1-{i % 6}", "BASE_IMAGE"), new BatchDependency($"l1-{(i + 1) % 6}", "TOOLS_IMAGE")));
        }
        for (var i = 0; i < 10; i++)
        {
            images.Add(Image($"l3-{i}", new BatchDependency($"l2-{i}", "BASE_IMAGE"), new BatchDependency("base-a")));
        }
        images.Reverse(); // any order: the orchestrator follows the graph
        return new SubmitBatch { BatchId = batch, Images = images, Source = "e2e", RequestedBy = "test", SubmittedAt = DateTimeOffset.UtcNow };
    }

    [Fact]
    public async Task ThirtyImageBatch_BuiltInGraphOrder_EachChildOnItsParentsDigest()
    {
        await using var farm = await Farm.StartAsync();
        var batch = $"e2e{Guid.NewGuid().ToString("N")[..8]}";
        var submit = ThirtyImages(batch);

        await farm.PublishAsync(submit);

        // Ended, and its BuildStarted applied too (the projector may apply a build's events in either order).
        await Eventually.UntilAsync(async () => (await farm.Store.GetBatchBuildsAsync(batch, CancellationToken.None)) is { Count: 30 } b
            && b.All(r => r.State.IsFinal() && (r.StartedAt is not null || r.State != BuildState.Succeeded)), "every build of the batch to end", TimeSpan.FromSeconds(120));
        var records = (await farm.Store.GetBatchBuildsAsync(batch, CancellationToken.None)).ToDictionary(r => r.BuildId);
        Assert.All(records.Values, r => Assert.True(r.State == BuildState.Succeeded, $"{r.Name}: {r.State.ToWire()} {r.Reason} {r.Detail}"));
        var pods = farm.Pods.Snapshot();
        foreach (var image in submit.Images)
        {
            var record = records[image.BuildId];
            var created = Assert.Single(pods, p => p.Type == WatchEventType.Added && p.Name == $"bf-{image.BuildId}-1");
            foreach (var dependency in image.DependsOn)
            {
                var parent = records[$"{batch}-{dependency.Image}"];
                // The parent's pod had ended before the child's pod was created (watch events are totally ordered)…
                var parentEnded = pods.First(p => p.Name == $"bf-{parent.BuildId}-1" && p.Phase == "Succeeded");
                Assert.True(parentEnded.Index < created.Index, $"{image.Name}'s pod was created before {dependency.Image}'s pod ended");
                // …and its success was recorded before the child started.
                Assert.True(parent.EndedAt <= record.StartedAt, $"{image.Name} started at {record.StartedAt:O}, before {dependency.Image} ended at {parent.EndedAt:O}");
                if (dependency.BuildArg is { } arg)
                {
                    var pinned = $"registry.example.com/{batch}/{dependency.Image}@{parent.Digest}";
                    Assert.Contains($"--build-arg={arg}={pinned}", created.Args);
                    Assert.Equal(pinned, record.Spec.BuildArgs[arg]);
                }
            }
        }
        Assert.Equal(30, pods.Count(p => p.Type == WatchEventType.Added && p.Name.StartsWith($"bf-{batch}-", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task FailingBase_DependentsEndDependencyFailed_WithoutPods_OthersBuild()
    {
        await using var farm = await Farm.StartAsync();
        var batch = $"e2ef{Guid.NewGuid().ToString("N")[..8]}";
        BatchImage Image(string name, string registry, params BatchDependency[] dependsOn) => new()
        {
            Name = name,
            BuildId = $"{batch}-{name}",
            Spec = new BuildSpec { Context = "s3://ctx-bucket/mono.tar.gz", ContextSubPath = name, Destinations = [$"{registry}/{batch}/{name}:1"] },
            DependsOn = dependsOn,
        };
        // The simulator answers every push to DeniedRegistry with 401: the base fails as unauthorized (permanent).
        var submit = new SubmitBatch
        {
            BatchId = batch,
            SubmittedAt = DateTimeOffset.UtcNow,
            Images =
            [
                Image("base", DeniedRegistry),
                Image("mid", "registry.example.com", new BatchDependency("base", "BASE_IMAGE")),
                Image("leaf", "registry.example.com", new BatchDependency("mid", "BASE_IMAGE")),
                Image("other", "registry.example.com"),
                Image("on-other", "registry.example.com", new BatchDependency("other", "BASE_IMAGE")),
            ],
        };

        await farm.PublishAsync(submit);

        await Eventually.UntilAsync(async () => (await farm.Store.GetBatchBuildsAsync(batch, CancellationToken.None)) is { Count: 5 } b
            && b.All(r => r.State.IsFinal()), "every build of the batch to end", TimeSpan.FromSeconds(120));
        var records = (await farm.Store.GetBatchBuildsAsync(batch, CancellationToken.None)).ToDictionary(r => r.Name!);
        Assert.Equal((BuildState.Failed, FailureReasons.Unauthorized), (records["base"].State, records["base"].Reason));
        foreach (var name in new[] { "mid", "leaf" })
        {
            Assert.Equal((BuildState.Failed, FailureReasons.DependencyFailed), (records[name].State, records[name].Reason));
            Assert.Equal($"dependency 'base' (build {batch}-base) failed: unauthorized", records[name].Detail);
            Assert.Empty(records[name].Attempts);
        }
        Assert.Equal(BuildState.Succeeded, records["other"].State);
        Assert.Equal(BuildState.Succeeded, records["on-other"].State);
        var stats = await farm.StatsAsync();
        Assert.DoesNotContain(stats.Pods, p => p.Name.StartsWith($"bf-{batch}-mid-", StringComparison.Ordinal) || p.Name.StartsWith($"bf-{batch}-leaf-", StringComparison.Ordinal));
        Assert.Single(stats.Pods, p => p.Name.StartsWith($"bf-{batch}-base-", StringComparison.Ordinal)); // permanent: not retried
    }

    [Fact]
    [NeedsServer(Server.Redis, Server.RabbitMq, Server.Registry)]
    public async Task TwoPlatformBase_OnePodPerPlatformOnMatchingNodes_IndexInTheRegistry_DependentGetsTheIndexDigest()
    {
        var registry = Environment.GetEnvironmentVariable(TestEnvironment.RegistryVariable)
            ?? throw new InvalidOperationException($"{TestEnvironment.RegistryVariable} is not set: run the tests with ./test.sh, which starts docker-registry");
        await using var farm = await Farm.StartAsync(registry);
        var batch = $"e2emp{Guid.NewGuid().ToString("N")[..8]}";
        var submit = new SubmitBatch
        {
            BatchId = batch,
            SubmittedAt = DateTimeOffset.UtcNow,
            Images =
            [
                new BatchImage
                {
                    Name = "base", BuildId = $"{batch}-base",
                    Spec = new BuildSpec
                    {
                        Context = "s3://ctx-bucket/mono.tar.gz", ContextSubPath = "base", Platforms = ["linux/amd64", "linux/arm64"],
                        Destinations = [$"{RealRegistryHost}/{batch}/base:1", $"{RealRegistryHost}/{batch}/base:latest"],
                    },
                },
                new BatchImage
                {
                    Name = "app", BuildId = $"{batch}-app",
                    Spec = new BuildSpec { Context = "s3://ctx-bucket/mono.tar.gz", ContextSubPath = "app", Destinations = [$"registry.example.com/{batch}/app:1"] },
                    DependsOn = [new BatchDependency("base", "BASE_IMAGE")],
                },
            ],
        };

        await farm.PublishAsync(submit);

        await Eventually.UntilAsync(async () => (await farm.Store.GetBatchBuildsAsync(batch, CancellationToken.None)) is { Count: 2 } b
            && b.All(r => r.State.IsFinal()), "both builds of the batch to end", TimeSpan.FromSeconds(120));
        var records = (await farm.Store.GetBatchBuildsAsync(batch, CancellationToken.None)).ToDictionary(r => r.Name!);
        var baseRecord = records["base"];
        Assert.True(baseRecord.State == BuildState.Succeeded, $"base: {baseRecord.State.ToWire()} {baseRecord.Reason} {baseRecord.Detail}");
        Assert.Equal(["linux/amd64", "linux/arm64"], baseRecord.Platforms.Select(p => p.Platform));
        Assert.Equal([(1, "linux/amd64"), (1, "linux/arm64")], baseRecord.Attempts.Select(a => (a.Attempt, a.Platform!)));

        // One pod per platform, each with its platform's node selector, each on a node of that architecture.
        var pods = farm.Pods.Snapshot();
        var nodes = farm.NodeArchitectures();
        foreach (var (platform, arch) in new[] { ("linux/amd64", "amd64"), ("linux/arm64", "arm64") })
        {
            var name = $"bf-{batch}-base-1-linux-{arch}";
            var created = Assert.Single(pods, p => p.Type == WatchEventType.Added && p.Name == name);
            Assert.Equal(arch, created.NodeSelector["kubernetes.io/arch"]);
            Assert.Equal("linux", created.NodeSelector["kubernetes.io/os"]);
            Assert.Contains($"--custom-platform={platform}", created.Args);
            Assert.DoesNotContain(created.Args, a => a.StartsWith($"--destination={RealRegistryHost}/{batch}/base:1", StringComparison.Ordinal));
            var node = pods.Last(p => p.Name == name && p.NodeName is not null).NodeName!;
            Assert.Equal(arch, nodes[node]);
        }
        Assert.Equal(2, pods.Count(p => p.Type == WatchEventType.Added && p.Name.StartsWith($"bf-{batch}-base-", StringComparison.Ordinal)));

        // The registry holds one index at both tags: a manifest list of the two per-platform manifests.
        var options = new RegistryClientOptions();
        options.PlainHttpRegistries.Add(registry);
        using var client = new RegistryClient(options);
        var repository = RegistryReference.Parse($"{registry}/{batch}/base");
        foreach (var tag in new[] { "1", "latest" })
        {
            var index = await client.GetManifestAsync(repository.WithTag(tag));
            Assert.NotNull(index);
            Assert.Equal(baseRecord.Digest, index.Digest);
            Assert.Equal(OciMediaTypes.DockerManifestList, index.MediaType);
            var entries = ImageIndex.Parse(index.Body);
            Assert.Equal(["linux/amd64", "linux/arm64"], entries.Select(e => e.Platform!.ToString()));
            Assert.Equal(baseRecord.Platforms.Select(p => p.Digest), entries.Select(e => e.Digest));
            foreach (var entry in entries)
            {
                var manifest = await client.HeadManifestAsync(repository.WithDigest(entry.Digest));
                Assert.Equal((OciMediaTypes.DockerManifest, manifest!.Size), (entry.MediaType, entry.Size));
            }
        }

        // The dependent was built on the index digest.
        var app = records["app"];
        Assert.True(app.State == BuildState.Succeeded, $"app: {app.State.ToWire()} {app.Reason} {app.Detail}");
        var pinned = $"{RealRegistryHost}/{batch}/base@{baseRecord.Digest}";
        Assert.Equal(pinned, app.Spec.BuildArgs["BASE_IMAGE"]);
        Assert.Contains($"--build-arg=BASE_IMAGE={pinned}", Assert.Single(pods, p => p.Type == WatchEventType.Added && p.Name == $"bf-{batch}-app-1").Args);
    }

    /// <summary>Simulator + worker host + status host on the test broker and Redis, and a pod watch of the test's own.</summary>
    private sealed class Farm : IAsyncDisposable
    {
        private readonly ClusterSimulator _sim;
        private readonly Scenario _scenario;
        private readonly IHost _worker;
        private readonly IHost _status;
        private readonly string _kubeconfig;
        private readonly Kubernetes _kubernetes;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _watch;

        private Farm(ClusterSimulator sim, Scenario scenario, IHost worker, IHost status, string kubeconfig, PodLog pods)
        {
            _sim = sim;
            _scenario = scenario;
            _worker = worker;
            _status = status;
            _kubeconfig = kubeconfig;
            Pods = pods;
            _kubernetes = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig));
            _watch = pods.FollowAsync(_kubernetes, _stop.Token);
            Store = status.Services.GetRequiredService<IBuildStatusStore>();
        }

        public IBuildStatusStore Store { get; }
        public PodLog Pods { get; }

        /// <summary>The farm; with <paramref name="realRegistry"/> (host:port of a docker-registry), the simulator has an amd64
        /// and an arm64 node pool and pushes <see cref="RealRegistryHost"/> images to it, and the worker pushes indexes there.</summary>
        public static async Task<Farm> StartAsync(string? realRegistry = null)
        {
            var yaml = ScenarioLoader.FastYaml() + (realRegistry is null ? """
                capacity: { nodes: 4, podsPerNode: 10 }

                """ : """
                capacity:
                  podsPerNode: 10
                  nodePools:
                    - { name: amd, nodes: 2, os: linux, arch: amd64 }
                    - { name: arm, nodes: 2, os: linux, arch: arm64 }

                """) + $$"""
                registries:
                  {{DeniedRegistry}}:
                    faults: { unauthorized: 1.0 }
                """ + (realRegistry is null ? "" : $"\n  {RealRegistryHost}:\n    endpoint: http://{realRegistry}\n");
            var scenario = ScenarioLoader.Parse(yaml, "batch e2e");
            var sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions { Scenario = scenario, Seed = 11 });
            var kubeconfig = Path.Combine(Path.GetTempPath(), $"status-e2e-{Guid.NewGuid():N}.kubeconfig");
            sim.WriteKubeconfig(kubeconfig);
            var prefix = TestRedis.UniquePrefix();
            var worker = await StartWorkerAsync(kubeconfig, prefix + "worker:", realRegistry);
            var status = await StartStatusAsync(prefix + "status:");
            var farm = new Farm(sim, scenario, worker, status, kubeconfig, new PodLog());
            await farm.Pods.Started.WaitAsync(TimeSpan.FromSeconds(30));
            return farm;
        }

        public Task PublishAsync<T>(T message)
            where T : class => _status.Services.GetRequiredService<IBus>().Publish(message);

        /// <summary>Each simulated node's <c>kubernetes.io/arch</c> label, by node name (<c>sim-node-1</c>… in the order of
        /// the scenario's node labels, as the simulator names them).</summary>
        public Dictionary<string, string> NodeArchitectures() =>
            _scenario.Capacity.NodeLabels().Select((labels, i) => (Name: BuildFarm.ClusterSim.Kubelet.SimKubelet.NodeName(i), Arch: labels["kubernetes.io/arch"]))
                .ToDictionary(n => n.Name, n => n.Arch, StringComparer.Ordinal);

        public async Task<SimStatsSnapshot> StatsAsync()
        {
            using var http = new HttpClient();
            return (await http.GetFromJsonAsync<SimStatsSnapshot>(new Uri(_sim.Address, "/_sim/stats"), new JsonSerializerOptions(JsonSerializerDefaults.Web)))!;
        }

        private static async Task<IHost> StartWorkerAsync(string kubeconfig, string redisPrefix, string? realRegistry)
        {
            var broker = Broker();
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.ClearProviders();
            var settings = new Dictionary<string, string?>
            {
                ["Kubernetes:KubeconfigPath"] = kubeconfig,
                ["Kaniko:Namespace"] = Namespace,
                ["Worker:Slots"] = "8",
                ["Worker:BackoffBase"] = "00:00:00.050",
                ["Worker:MaxBackoff"] = "00:00:00.200",
                ["Worker:WaitPollMin"] = "00:00:00.020",
                ["Worker:WaitPollMax"] = "00:00:00.200",
                ["Worker:ShutdownGracePeriod"] = "00:00:00.100",
                ["Bus:Transport"] = "RabbitMq",
                ["Bus:Host"] = broker.Host,
                ["Bus:Port"] = broker.Port.ToString(CultureInfo.InvariantCulture),
                ["Bus:Username"] = broker.User,
                ["Bus:Password"] = broker.Password,
                ["Redis:ConnectionString"] = TestRedis.ConnectionString,
                ["Redis:KeyPrefix"] = redisPrefix,
            };
            if (realRegistry is not null)
            {
                settings[$"Registry:Endpoints:{RealRegistryHost}"] = $"http://{realRegistry}/";
            }
            builder.Configuration.AddInMemoryCollection(settings);
            builder.AddBuildFarmWorker();
            var host = builder.Build();
            await host.StartAsync();
            return host;
        }

        private static async Task<IHost> StartStatusAsync(string statusPrefix)
        {
            var broker = Broker();
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.ClearProviders();
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Status:RedisConnectionString"] = TestRedis.ConnectionString,
                ["Status:KeyPrefix"] = statusPrefix,
            });
            builder.Services.AddBuildFarmStatusStore();
            builder.Services.AddOptions<MassTransitHostOptions>().Configure(o => o.WaitUntilStarted = true);
            builder.Services.AddMassTransit(x =>
            {
                x.AddBuildFarmStatusConsumers();
                x.UsingRabbitMq((context, cfg) =>
                {
                    cfg.Host(broker.Host, (ushort)broker.Port, "/", h =>
                    {
                        h.Username(broker.User);
                        h.Password(broker.Password);
                    });
                    cfg.ConfigureEndpoints(context);
                });
            });
            var host = builder.Build();
            await host.StartAsync();
            return host;
        }

        private static (string Host, int Port, string User, string Password) Broker()
        {
            var uri = TestEnvironment.RabbitMq;
            var userInfo = uri.UserInfo.Split(':', 2);
            return (uri.Host, uri.Port, Uri.UnescapeDataString(userInfo[0]), userInfo.Length > 1 ? Uri.UnescapeDataString(userInfo[1]) : "");
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _watch.ContinueWith(_ => { }, TaskScheduler.Default);
            await _status.StopAsync();
            _status.Dispose();
            await _worker.StopAsync();
            _worker.Dispose();
            _kubernetes.Dispose();
            await _sim.DisposeAsync();
            File.Delete(_kubeconfig);
            _stop.Dispose();
        }
    }

    /// <summary>One pod watch event as the test saw it, numbered in arrival order.</summary>
    private sealed record PodEvent(int Index, WatchEventType Type, string Name, string? Phase, IReadOnlyList<string> Args, string? NodeName,
        IReadOnlyDictionary<string, string> NodeSelector);

    private sealed class PodLog
    {
        private readonly ConcurrentQueue<PodEvent> _events = new();
        private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _index;

        /// <summary>Completes once the watch is open (the first list answered), before anything is submitted.</summary>
        public Task Started => _started.Task;

        public IReadOnlyList<PodEvent> Snapshot() => [.. _events.OrderBy(e => e.Index)];

        public async Task FollowAsync(Kubernetes client, CancellationToken cancellationToken)
        {
            try
            {
                var list = await client.CoreV1.ListNamespacedPodAsync(Namespace, cancellationToken: cancellationToken);
                _started.TrySetResult();
                await foreach (var (type, pod) in client.CoreV1.WatchListNamespacedPodAsync(Namespace, resourceVersion: list.ResourceVersion(),
                    cancellationToken: cancellationToken))
                {
                    var args = pod.Spec?.Containers?.FirstOrDefault()?.Args ?? [];
                    _events.Enqueue(new PodEvent(Interlocked.Increment(ref _index), type, pod.Metadata.Name, pod.Status?.Phase, [.. args], pod.Spec?.NodeName,
                        pod.Spec?.NodeSelector is { } selector ? new Dictionary<string, string>(selector) : new Dictionary<string, string>()));
                }
            }
            catch (Exception e) when (e is OperationCanceledException || cancellationToken.IsCancellationRequested)
            {
                // Stopped by the test.
            }
            catch (Exception e)
            {
                _started.TrySetException(e);
                throw;
            }
        }
    }
}
