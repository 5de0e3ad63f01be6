using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using BuildFarm.ClusterSim.Hosting;
using BuildFarm.Contracts;
using BuildFarm.Worker.Hosting;
using k8s;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace BuildFarm.Worker.Tests;

/// <summary>
/// The worker composed exactly as in production (<see cref="WorkerServiceCollectionExtensions.AddBuildFarmWorker"/> with
/// <c>Bus:Transport=RabbitMq</c>) against the real RabbitMQ that ./test.sh starts (BUILDFARM_TEST_RABBITMQ), the real
/// Redis (BUILDFARM_TEST_REDIS, a key prefix per test) and the cluster simulator in process. A second bus (the
/// "client") publishes BuildImage and records every event on a temporary queue of its own. The tests share the broker's
/// build queue, so they sit in one class (xunit runs a class's tests one after another); build ids are unique per run.
/// </summary>
[NeedsServer(Server.RabbitMq, Server.Redis)]
public sealed partial class RabbitMqIntegrationTests
{
    private const string BuildQueue = "buildfarm-build-image";

    private static Uri Broker() => TestEnvironment.RabbitMq;

    private static string Redis() => TestEnvironment.Redis;

    private static string Unique(string name) => $"{name}-{Guid.NewGuid().ToString("N")[..8]}";

    [Fact]
    public async Task RabbitMq_BuildImagePublished_BuiltOnce_BuildSucceededSeenByAnotherBus()
    {
        var redisPrefix = $"bfrabbittest:{Guid.NewGuid():N}:";
        await using var sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions { Scenario = WorkerHarness.Scenario(), Seed = 7 });
        await using var worker = await RabbitWorker.StartAsync(sim, redisPrefix);
        await using var client = await RabbitClient.StartAsync();

        var id = Unique("rmq");
        await client.PublishAsync(WorkerHarness.Command(id));

        var succeeded = Assert.IsType<BuildSucceeded>(await client.Events.WaitEndAsync(id, seconds: 60));
        Assert.Equal(1, succeeded.Attempts);
        Assert.StartsWith("sha256:", succeeded.Digest, StringComparison.Ordinal);
        Assert.Equal($"bf-{id}-1", Assert.Single(client.Events.Of<BuildStarted>(id)).Pod);
        Assert.Equal([$"bf-{id}-1"], await worker.PodsOfAsync(id));
        // Acked once: no redelivery builds it again.
        await Eventually.UntilAsync(async () => await QueueDepthAsync() == 0, "the build queue to drain");
        Assert.Single(client.Events.Of<BuildSucceeded>(id));
    }

    [Fact]
    public async Task RabbitMq_WorkerStarted_BuildQueueIsDurableQuorumQueue()
    {
        await using var sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions { Scenario = WorkerHarness.Scenario(), Seed = 7 });
        await using var worker = await RabbitWorker.StartAsync(sim, $"bfrabbittest:{Guid.NewGuid():N}:");

        await using var connection = await ConnectAsync();
        // Declaring an existing queue with different properties fails with 406 PRECONDITION_FAILED (and closes the channel).
        await using (var channel = await connection.CreateChannelAsync())
        {
            var asClassic = await Assert.ThrowsAsync<OperationInterruptedException>(() => channel.QueueDeclareAsync(BuildQueue, durable: true, exclusive: false,
                autoDelete: false, arguments: new Dictionary<string, object?> { ["x-queue-type"] = "classic" }));
            Assert.Equal((ushort)406, asClassic.ShutdownReason?.ReplyCode);
            Assert.Contains("x-queue-type", asClassic.ShutdownReason?.ReplyText, StringComparison.Ordinal);
        }
        await using (var channel = await connection.CreateChannelAsync())
        {
            var ok = await channel.QueueDeclareAsync(BuildQueue, durable: true, exclusive: false, autoDelete: false,
                arguments: new Dictionary<string, object?> { ["x-queue-type"] = "quorum" });
            Assert.Equal(BuildQueue, ok.QueueName);
            Assert.Equal(1u, ok.ConsumerCount); // the worker's consumer
        }
    }

    [Fact]
    public async Task RabbitMq_WorkerStoppedMidBuild_BrokerRedeliversToSecondWorker_AdoptsPod_BuildEndsOnce()
    {
        var redisPrefix = $"bfrabbittest:{Guid.NewGuid():N}:";
        await using var sim = await ClusterSimulator.StartAsync(new ClusterSimulatorOptions
        {
            Scenario = WorkerHarness.Scenario("timings: { push: { median: 600, p95: 700 } }"),
            Seed = 7,
        });
        await using var client = await RabbitClient.StartAsync();
        var id = Unique("rmqhandover");

        await using (var first = await RabbitWorker.StartAsync(sim, redisPrefix))
        {
            await client.PublishAsync(WorkerHarness.Command(id));
            await client.Events.WaitAsync<BuildStarted>(id, seconds: 60);
            await first.Host.StopAsync();
            Assert.False(await first.PodGoneAsync($"bf-{id}-1"), "a stopping worker must not delete its build's pod");
        }
        Assert.DoesNotContain(client.Events.For(id), e => e is BuildSucceeded or BuildFailed or BuildCancelled);
        // Handed back, not acked and not dead-lettered: the message waits in the build queue.
        await Eventually.UntilAsync(async () => await QueueDepthAsync() == 1, "the unacknowledged BuildImage back in the build queue");

        await using var second = await RabbitWorker.StartAsync(sim, redisPrefix);
        var succeeded = Assert.IsType<BuildSucceeded>(await client.Events.WaitEndAsync(id, seconds: 60));
        Assert.Equal(1, succeeded.Attempts);
        Assert.Equal([$"bf-{id}-1"], await second.PodsOfAsync(id));
        var started = client.Events.Of<BuildStarted>(id);
        Assert.Equal(2, started.Count); // the first worker's, then the second's adopting the same pod
        Assert.All(started, s => Assert.Equal($"bf-{id}-1", s.Pod));
        await Eventually.UntilAsync(async () => await QueueDepthAsync() == 0, "the build queue to drain");
        Assert.Single(client.Events.Of<BuildSucceeded>(id));
    }

    private static async Task<IConnection> ConnectAsync() =>
        await new ConnectionFactory { Uri = Broker() }.CreateConnectionAsync();

    private static async Task<uint> QueueDepthAsync()
    {
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        return (await channel.QueueDeclarePassiveAsync(BuildQueue)).MessageCount;
    }

    private static void AddRabbitMqHost(IRabbitMqBusFactoryConfigurator cfg)
    {
        var broker = Broker();
        var userInfo = broker.UserInfo.Split(':', 2);
        cfg.Host(broker.Host, (ushort)broker.Port, "/", h =>
        {
            h.Username(Uri.UnescapeDataString(userInfo[0]));
            h.Password(userInfo.Length > 1 ? Uri.UnescapeDataString(userInfo[1]) : "");
        });
    }

    /// <summary>A worker host composed as Program.cs does (minus Kestrel), on RabbitMQ and Redis.</summary>
    private sealed class RabbitWorker : IAsyncDisposable
    {
        private readonly string _kubeconfig;
        private readonly Kubernetes _kubernetes;
        private readonly ClusterSimulator _sim;

        private RabbitWorker(ClusterSimulator sim, IHost host, string kubeconfig)
        {
            _sim = sim;
            Host = host;
            _kubeconfig = kubeconfig;
            _kubernetes = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig));
        }

        public IHost Host { get; }

        public static async Task<RabbitWorker> StartAsync(ClusterSimulator sim, string redisPrefix, IDictionary<string, string?>? overrides = null)
        {
            var broker = Broker();
            var userInfo = broker.UserInfo.Split(':', 2);
            var kubeconfig = Path.Combine(Path.GetTempPath(), $"worker-rabbit-test-{Guid.NewGuid():N}.kubeconfig");
            sim.WriteKubeconfig(kubeconfig);
            var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.ClearProviders();
            var settings = new Dictionary<string, string?>
            {
                ["Bus:Transport"] = "RabbitMq",
                ["Bus:Host"] = broker.Host,
                ["Bus:Port"] = broker.Port.ToString(CultureInfo.InvariantCulture),
                ["Bus:Username"] = Uri.UnescapeDataString(userInfo[0]),
                ["Bus:Password"] = userInfo.Length > 1 ? Uri.UnescapeDataString(userInfo[1]) : "",
                ["Redis:ConnectionString"] = Redis(),
                ["Redis:KeyPrefix"] = redisPrefix,
            };
            foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
            {
                settings[key] = value;
            }
            builder.Configuration.AddInMemoryCollection(WorkerHarness.Settings(kubeconfig, settings));
            builder.AddBuildFarmWorker();
            var host = builder.Build();
            await host.StartAsync();
            return new RabbitWorker(sim, host, kubeconfig);
        }

        public async Task<IReadOnlyList<string>> PodsOfAsync(string buildId)
        {
            using var http = new HttpClient();
            var stats = await http.GetFromJsonAsync<SimStatsSnapshot>(new Uri(_sim.Address, "/_sim/stats"),
                new JsonSerializerOptions(JsonSerializerDefaults.Web));
            return [.. stats!.Pods.Where(p => p.Name.StartsWith($"bf-{buildId}-", StringComparison.Ordinal)).Select(p => p.Name).Order(StringComparer.Ordinal)];
        }

        public async Task<bool> PodGoneAsync(string name)
        {
            var list = await _kubernetes.CoreV1.ListNamespacedPodAsync(WorkerHarness.Namespace, fieldSelector: $"metadata.name={name}");
            return list.Items.Count == 0;
        }

        public async ValueTask DisposeAsync()
        {
            await Host.StopAsync();
            Host.Dispose();
            _kubernetes.Dispose();
            File.Delete(_kubeconfig);
        }
    }

    /// <summary>A second bus on the broker: publishes commands and records every build event on a temporary queue.</summary>
    private sealed class RabbitClient : IAsyncDisposable
    {
        private RabbitClient(IHost host)
        {
            Host = host;
            Events = host.Services.GetRequiredService<EventRecorder>();
        }

        public IHost Host { get; }
        public EventRecorder Events { get; }

        public static async Task<RabbitClient> StartAsync()
        {
            var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.ClearProviders();
            builder.Services.AddSingleton<EventRecorder>();
            builder.Services.AddOptions<MassTransitHostOptions>().Configure(o => o.WaitUntilStarted = true);
            builder.Services.AddMassTransit(x =>
            {
                x.AddConsumer<EventRecorderConsumer>().Endpoint(e =>
                {
                    e.Name = $"bftest-events-{Guid.NewGuid():N}";
                    e.Temporary = true;
                });
                x.UsingRabbitMq((context, cfg) =>
                {
                    AddRabbitMqHost(cfg);
                    cfg.ConfigureEndpoints(context);
                });
            });
            var host = builder.Build();
            await host.StartAsync();
            return new RabbitClient(host);
        }

        public Task PublishAsync<T>(T message)
            where T : class => Host.Services.GetRequiredService<IBus>().Publish(message);

        public async ValueTask DisposeAsync()
        {
            await Host.StopAsync();
            Host.Dispose();
        }
    }
}
