using System.Globalization;
using BuildFarm.Contracts;
using BuildFarm.Coordination;
using BuildFarm.Coordination.InMemory;
using BuildFarm.Coordination.Logs;
using BuildFarm.Worker.Builds;
using BuildFarm.Worker.Hosting;
using BuildFarm.Worker.Messaging;
using BuildFarm.Worker.Metrics;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BuildFarm.Cli.Demo;

/// <summary>
/// The demo's workers: each a complete worker composition (<see cref="WorkerServiceCollectionExtensions.AddBuildFarmWorkerCore"/>)
/// in its own host and service provider, so each has its own <see cref="BuildRunner"/>, <see cref="Worker.Pods.PodWatcher"/>
/// (its own watch connection to the cluster), Kubernetes client, running-build table and slots. They share what real
/// workers share through Redis: the in-process dedupe, destination locks and registry slots. They also share one
/// <see cref="BuildFarmMetrics"/>, so the demo's single <c>/metrics</c> shows the farm's totals.
/// <para>
/// MassTransit's in-memory transport lives inside one bus, so the workers cannot each run a bus of their own on one
/// queue. Instead the demo bus's build queue has one endpoint whose concurrency is the sum of the workers' slots, and
/// <see cref="DemoBuildDispatchConsumer"/> hands each message to a worker with a free slot (the worker's own
/// <see cref="BuildImageConsumer"/> then runs it), the way RabbitMQ hands a message to a consumer with prefetch credit left.
/// </para>
/// </summary>
public sealed class DemoWorkerPool : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _free;
    private int _next;


    private readonly List<DemoWorker> _workers = [];
    private readonly int _count;
    private readonly int _slots;

    /// <summary>A pool of <paramref name="count"/> workers of <paramref name="slots"/> slots each; <see cref="StartAsync"/> starts them.</summary>
    public DemoWorkerPool(int count, int slots)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 1);
        _count = count;
        _slots = slots;
        _free = new SemaphoreSlim(0, count * slots);
    }

    public IReadOnlyList<DemoWorker> Workers => _workers;

    public int TotalSlots => _count * _slots;

    /// <summary>The attempt logs every worker writes and the demo's API reads (in process).</summary>
    public IBuildLogStore Logs { get; } = new InMemoryBuildLogStore(TimeProvider.System, TimeSpan.FromDays(1));

    /// <summary>
    /// Starts the workers on the cluster named by <paramref name="kubeconfigPath"/>. <paramref name="metrics"/> is the farm's
    /// metrics (owned by the caller's host, whose <c>/metrics</c> exports them); <paramref name="loggerFactory"/> is where the
    /// workers log, null to drop their logs (the demo's screen is the live view).
    /// </summary>
    public async Task StartAsync(string kubeconfigPath, BuildFarmMetrics metrics, ILoggerFactory? loggerFactory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        if (_workers.Count > 0)
        {
            throw new InvalidOperationException("the worker pool is already started");
        }
        var time = TimeProvider.System;
        IBuildDedupe dedupe = new InMemoryBuildDedupe(time);
        IDestinationLocks locks = new InMemoryDestinationLocks(time);
        IRegistrySlots registrySlots = new InMemoryRegistrySlots(time);
        for (var i = 1; i <= _count; i++)
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.ClearProviders();
            if (loggerFactory is not null)
            {
                builder.Services.AddSingleton(loggerFactory);
            }
            builder.Configuration.AddInMemoryCollection(WorkerSettings(kubeconfigPath, _slots));
            builder.Services.AddBuildFarmWorkerCore();
            builder.Services.AddSingleton(time);
            builder.Services.AddSingleton(dedupe);
            builder.Services.AddSingleton(locks);
            builder.Services.AddSingleton(registrySlots);
            builder.Services.AddSingleton(Logs);
            builder.Services.AddSingleton(metrics);
            var host = builder.Build();
            var worker = new DemoWorker($"worker-{i}", _slots, host);
            lock (_lock)
            {
                _workers.Add(worker);
            }
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
            _free.Release(_slots);
        }
    }

    /// <summary>The worker settings of the demo: quick retries, failed pods deleted at once (the cluster goes away with the demo).</summary>
    public static Dictionary<string, string?> WorkerSettings(string kubeconfigPath, int slots) => new()
    {
        ["Kubernetes:KubeconfigPath"] = kubeconfigPath,
        ["Kaniko:Namespace"] = DemoFarm.Namespace,
        ["Worker:Slots"] = slots.ToString(CultureInfo.InvariantCulture),
        ["Worker:MaxAttempts"] = "4",
        ["Worker:BackoffBase"] = "00:00:00.200",
        ["Worker:MaxBackoff"] = "00:00:01",
        ["Worker:KeepFailedPodsFor"] = "00:00:00",
        ["Worker:WaitPollMin"] = "00:00:00.020",
        ["Worker:WaitPollMax"] = "00:00:00.200",
        ["Worker:LeaseTtl"] = "00:00:10",
        ["Worker:LeaseRenewInterval"] = "00:00:02",
        ["Worker:ShutdownGracePeriod"] = "00:00:01",
    };

    /// <summary>Waits for a free slot on any worker and takes it on the worker with the most free slots.</summary>
    public async Task<WorkerSlot> TakeSlotAsync(CancellationToken cancellationToken)
    {
        await _free.WaitAsync(cancellationToken).ConfigureAwait(false);
        lock (_lock)
        {
            // Start the search at a rotating index so that ties spread over the workers.
            DemoWorker? best = null;
            for (var k = 0; k < Workers.Count; k++)
            {
                var w = Workers[(_next + k) % Workers.Count];
                if (w.Busy < w.Slots && (best is null || w.Slots - w.Busy > best.Slots - best.Busy))
                {
                    best = w;
                }
            }
            _next = (_next + 1) % Workers.Count;
            // The pool semaphore counts the free slots of all workers, so one is free here.
            best!.Busy++;
            best.Taken++;
            return new WorkerSlot(best, this);
        }
    }

    private void Release(DemoWorker worker)
    {
        lock (_lock)
        {
            worker.Busy--;
        }
        _free.Release();
    }

    /// <summary>Busy and total slots per worker, for the live view.</summary>
    public IReadOnlyList<(string Name, int Busy, int Slots, int Taken)> Load()
    {
        lock (_lock)
        {
            return [.. Workers.Select(w => (w.Name, w.Busy, w.Slots, w.Taken))];
        }
    }

    /// <summary>Cancels the build on whichever worker runs it (every worker sees every CancelBuild, as in production).</summary>
    public void Cancel(CancelBuild command)
    {
        ArgumentNullException.ThrowIfNull(command);
        List<DemoWorker> workers;
        lock (_lock)
        {
            workers = [.. _workers];
        }
        foreach (var worker in workers)
        {
            worker.Running.Cancel(command.BuildId, command.RequestedBy);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var worker in _workers)
        {
            await worker.DisposeAsync().ConfigureAwait(false);
        }
        _workers.Clear();
        _free.Dispose();
    }

    /// <summary>A slot taken on one worker; dispose to give it back.</summary>
    public sealed class WorkerSlot : IDisposable
    {
        private readonly DemoWorkerPool _pool;
        private int _released;

        internal WorkerSlot(DemoWorker worker, DemoWorkerPool pool)
        {
            Worker = worker;
            _pool = pool;
        }

        public DemoWorker Worker { get; }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                _pool.Release(Worker);
            }
        }
    }
}

/// <summary>One worker of the demo: its own host and service provider.</summary>
public sealed class DemoWorker : IAsyncDisposable
{
    private readonly IHost _host;

    internal DemoWorker(string name, int slots, IHost host)
    {
        Name = name;
        Slots = slots;
        _host = host;
        Running = host.Services.GetRequiredService<RunningBuilds>();
        Consumer = ActivatorUtilities.CreateInstance<BuildImageConsumer>(host.Services);
    }

    public string Name { get; }
    public int Slots { get; }
    public RunningBuilds Running { get; }

    /// <summary>The worker's own consumer, over its own runner.</summary>
    public BuildImageConsumer Consumer { get; }

    internal int Busy { get; set; }

    /// <summary>Builds this worker has taken so far.</summary>
    internal int Taken { get; set; }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _host.StopAsync(stop.Token).ConfigureAwait(false);
        }
        finally
        {
            _host.Dispose();
        }
    }
}

/// <summary>The demo bus's consumer of the build queue: takes a free worker slot, then runs the message on that worker.</summary>
public sealed class DemoBuildDispatchConsumer(DemoWorkerPool pool) : IConsumer<BuildImage>
{
    public async Task Consume(ConsumeContext<BuildImage> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        using var slot = await pool.TakeSlotAsync(context.CancellationToken).ConfigureAwait(false);
        await slot.Worker.Consumer.Consume(context).ConfigureAwait(false);
    }
}

/// <summary>Every worker sees every CancelBuild (in production each worker has its own temporary queue).</summary>
public sealed class DemoCancelFanOutConsumer(DemoWorkerPool pool) : IConsumer<CancelBuild>
{
    public Task Consume(ConsumeContext<CancelBuild> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        pool.Cancel(context.Message);
        return Task.CompletedTask;
    }
}

/// <summary>Registers the demo's build queue and cancel fan-out on a bus.</summary>
public static class DemoWorkerBusRegistration
{
    /// <summary>The build queue's name, as the worker's own definition names it.</summary>
    public const string BuildQueue = "buildfarm-build-image";

    public static void AddDemoWorkerConsumers(this IBusRegistrationConfigurator bus, int totalSlots)
    {
        ArgumentNullException.ThrowIfNull(bus);
        bus.AddConsumer<DemoBuildDispatchConsumer>().Endpoint(e =>
        {
            e.Name = BuildQueue;
            e.ConcurrentMessageLimit = totalSlots;
            e.PrefetchCount = totalSlots;
        });
        bus.AddConsumer<DemoCancelFanOutConsumer>().Endpoint(e =>
        {
            e.Name = $"buildfarm-cancel-{Guid.NewGuid():N}";
            e.Temporary = true;
        });
    }
}
