using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using BuildFarm.Contracts;
using BuildFarm.Status;
using BuildFarm.Status.Hosting;
using BuildFarm.Status.Stores;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace BuildFarm.Benchmarks;

/// <summary>
/// <c>batch-advance</c>: runs whole batches through the status consumers (projector + batch orchestrator) on MassTransit's
/// in-memory bus, a stand-in worker answering each <c>BuildImage</c> with <c>BuildSucceeded</c> at once, and counts the
/// build records read from the store and the wall time from <c>SubmitBatch</c> until every image's end event was
/// handled. "before" strips the reverse edges (<see cref="StoredBuildRecord.Dependents"/>) from every record written, so the
/// orchestrator takes its fallback: one whole-batch read per end event, as it did before it kept them.
/// </summary>
internal static class BatchAdvanceLoad
{
    private const string Usage = "usage: batch-advance [--redis HOST:PORT] [--sizes 1000,5000] [--shapes fanout,layered] [--modes before,after] [--layers 10]";

    public static async Task<int> RunAsync(string[] args)
    {
        string? redis = null;
        int[] sizes = [1000, 5000];
        string[] shapes = ["fanout", "layered"];
        string[] modes = ["before", "after"];
        var layers = 10;
        for (var i = 0; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]}: a value is required. {Usage}");
            switch (args[i])
            {
                case "--redis": redis = value; break;
                case "--sizes": sizes = [.. value.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture))]; break;
                case "--shapes": shapes = value.Split(','); break;
                case "--modes": modes = value.Split(','); break;
                case "--layers": layers = int.Parse(value, CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"unknown option '{args[i]}'. {Usage}");
            }
            i++;
        }
        if (shapes.Except(["fanout", "layered"]).FirstOrDefault() is { } shape)
        {
            throw new ArgumentException($"--shapes: unknown shape '{shape}' (fanout, layered)");
        }
        if (modes.Except(["before", "after"]).FirstOrDefault() is { } mode)
        {
            throw new ArgumentException($"--modes: unknown mode '{mode}' (before, after)");
        }
        if (sizes.Any(s => s < 2) || layers < 2)
        {
            throw new ArgumentException("--sizes: each at least 2; --layers: at least 2");
        }
        using var connection = redis is null ? null : await ConnectionMultiplexer.ConnectAsync(redis);
        Console.WriteLine($"store: {(redis is null ? "in process" : $"Redis {redis}")}; {Environment.ProcessorCount} cores");
        Console.WriteLine("| shape | images | edges | mode | records read | reads per (image + edge) | wall s |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var size in sizes)
        {
            foreach (var s in shapes)
            {
                foreach (var m in modes)
                {
                    var images = s == "fanout" ? FanOut(size) : Layered(size, layers);
                    var edges = images.Sum(i => i.DependsOn.Count);
                    var (reads, elapsed) = await RunOneAsync(connection, images, legacy: m == "before");
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"| {s} | {size} | {edges} | {m} | {reads} | {(double)reads / (size + edges):F1} | {elapsed.TotalSeconds:F1} |"));
                }
            }
        }
        return 0;
    }

    /// <summary>One base, everything else built on it.</summary>
    private static List<BatchImage> FanOut(int size) =>
        [Image("base"), .. Enumerable.Range(1, size - 1).Select(i => Image($"img{i}", "base"))];

    /// <summary><paramref name="layers"/> equal layers; each image of a layer below the first depends on two of the layer above.</summary>
    private static List<BatchImage> Layered(int size, int layers)
    {
        var width = Math.Max(2, size / layers);
        var images = new List<BatchImage>(size);
        for (var i = 0; i < size; i++)
        {
            var (layer, slot) = (i / width, i % width);
            images.Add(layer == 0
                ? Image($"img{i}")
                : Image($"img{i}", $"img{((layer - 1) * width) + slot}", $"img{((layer - 1) * width) + ((slot + 1) % width)}"));
        }
        return images;
    }

    private static BatchImage Image(string name, params string[] dependsOn) => new()
    {
        Name = name,
        BuildId = name, // made unique per run below
        Spec = new BuildSpec
        {
            Context = "s3://ctx-bucket/mono.tar.gz",
            ContextSubPath = $"images/{name}",
            Destinations = [$"registry.example.com/platform/{name}:1"],
            BuildArgs = new Dictionary<string, string> { ["VERSION"] = "1.0.0" },
        },
        DependsOn = [.. dependsOn.Select((d, i) => new BatchDependency(d, i == 0 ? "BASE_IMAGE" : $"BASE_IMAGE_{i}"))],
    };

    private static async Task<(long Reads, TimeSpan Elapsed)> RunOneAsync(IConnectionMultiplexer? redis, List<BatchImage> images, bool legacy)
    {
        var batchId = $"bench{Guid.NewGuid().ToString("N")[..8]}";
        var ttl = TimeSpan.FromMinutes(30);
        IBuildStatusStore inner = redis is null
            ? new InMemoryBuildStatusStore(TimeProvider.System, ttl)
            : new RedisBuildStatusStore(redis, $"bfbench:{batchId}:", ttl, TimeProvider.System);
        var store = new CountingStore(inner, legacy);
        var done = new EndEventCounter(images.Count);
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<IBuildStatusStore>(store);
        services.AddMassTransit(x =>
        {
            x.AddBuildFarmStatusConsumers();
            x.AddConsumer<InstantWorker>();
            x.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
        });
        await using var provider = services.BuildServiceProvider();
        var bus = provider.GetRequiredService<IBusControl>();
        bus.ConnectConsumeObserver(done);
        await bus.StartAsync();
        try
        {
            var submit = new SubmitBatch
            {
                BatchId = batchId,
                Source = "bench",
                SubmittedAt = DateTimeOffset.UtcNow,
                Images = [.. images.Select(i => i with
                {
                    BuildId = $"{batchId}-{i.Name}",
                })],
            };
            var clock = Stopwatch.StartNew();
            await bus.Publish(submit);
            await done.Completed.WaitAsync(TimeSpan.FromMinutes(30));
            clock.Stop();
            if (done.Faults > 0)
            {
                throw new InvalidOperationException($"{done.Faults} messages faulted; first: {done.FirstFault}");
            }
            var records = await inner.GetBatchBuildsAsync(batchId, CancellationToken.None);
            if (records.Count != images.Count || records.Any(r => r.State != BuildState.Succeeded))
            {
                throw new InvalidOperationException($"batch {batchId}: {records.Count(r => r.State == BuildState.Succeeded)} of {images.Count} images succeeded");
            }
            return (store.RecordsRead, clock.Elapsed);
        }
        finally
        {
            await bus.StopAsync();
        }
    }

    /// <summary>Answers each <c>BuildImage</c> with <c>BuildSucceeded</c> at once (a digest made from the build id).</summary>
    private sealed class InstantWorker : IConsumer<BuildImage>
    {
        public Task Consume(ConsumeContext<BuildImage> context) => context.Publish(new BuildSucceeded
        {
            BuildId = context.Message.BuildId,
            BatchId = context.Message.BatchId,
            Digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(context.Message.BuildId))),
            Attempts = 1,
            At = DateTimeOffset.UtcNow,
        });
    }

    /// <summary>Done once the projector and the orchestrator have each handled every image's <c>BuildSucceeded</c>.</summary>
    private sealed class EndEventCounter(int images) : IConsumeObserver
    {
        private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _handled;
        private int _faults;

        public Task Completed => _completed.Task;
        public int Faults => Volatile.Read(ref _faults);
        public Exception? FirstFault { get; private set; }

        public Task PreConsume<T>(ConsumeContext<T> context)
            where T : class => Task.CompletedTask;

        public Task PostConsume<T>(ConsumeContext<T> context)
            where T : class
        {
            if (typeof(T) == typeof(BuildSucceeded) && Interlocked.Increment(ref _handled) == 2 * images)
            {
                _completed.TrySetResult();
            }
            return Task.CompletedTask;
        }

        public Task ConsumeFault<T>(ConsumeContext<T> context, Exception exception)
            where T : class
        {
            if (Interlocked.Increment(ref _faults) == 1)
            {
                FirstFault = exception;
                _completed.TrySetResult();
            }
            return Task.CompletedTask;
        }
    }

    /// <summary>
    /// Counts the build records read (each update reads the record it changes). <c>legacy</c>: every record is written
    /// without <see cref="StoredBuildRecord.Dependents"/>, as before the orchestrator kept reverse edges.
    /// </summary>
    private sealed class CountingStore(IBuildStatusStore inner, bool legacy) : IBuildStatusStore
    {
        private long _recordsRead;

        public long RecordsRead => Interlocked.Read(ref _recordsRead);

        private BuildRecord Strip(BuildRecord record) => legacy ? record.Stored() with { Dependents = null } : record;

        public Task<bool> CreateBatchAsync(BatchRecord batch, IReadOnlyList<BuildRecord> builds, CancellationToken cancellationToken) =>
            inner.CreateBatchAsync(batch, [.. builds.Select(Strip)], cancellationToken);

        public Task<bool> CreateBuildAsync(BuildRecord build, CancellationToken cancellationToken) => inner.CreateBuildAsync(Strip(build), cancellationToken);

        public Task<BuildRecord?> GetBuildAsync(string buildId, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _recordsRead);
            return inner.GetBuildAsync(buildId, cancellationToken);
        }

        public Task<IReadOnlyList<BuildRecord?>> GetBuildsAsync(IReadOnlyList<string> buildIds, CancellationToken cancellationToken)
        {
            Interlocked.Add(ref _recordsRead, buildIds.Count);
            return inner.GetBuildsAsync(buildIds, cancellationToken);
        }

        public Task<BatchRecord?> GetBatchAsync(string batchId, CancellationToken cancellationToken) => inner.GetBatchAsync(batchId, cancellationToken);

        public async Task<IReadOnlyList<BuildRecord>> GetBatchBuildsAsync(string batchId, CancellationToken cancellationToken)
        {
            var records = await inner.GetBatchBuildsAsync(batchId, cancellationToken);
            Interlocked.Add(ref _recordsRead, records.Count);
            return records;
        }

        public async Task<BuildPage> ListBuildsAsync(BuildQuery query, CancellationToken cancellationToken)
        {
            var page = await inner.ListBuildsAsync(query, cancellationToken);
            Interlocked.Add(ref _recordsRead, page.Items.Count);
            return page;
        }

        public Task<BuildChange?> UpdateBuildAsync(string buildId, Func<BuildRecord, BuildChange?> update, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _recordsRead);
            return inner.UpdateBuildAsync(buildId, r => update(r) is { } change ? change with { Record = Strip(change.Record) } : null, cancellationToken);
        }

        public Task DeleteAsync(string? batchId, IReadOnlyList<string> buildIds, CancellationToken cancellationToken) =>
            inner.DeleteAsync(batchId, buildIds, cancellationToken);

        public IAsyncEnumerable<BuildChange> SubscribeAsync(string? buildId, string? batchId, CancellationToken cancellationToken) =>
            inner.SubscribeAsync(buildId, batchId, cancellationToken);
    }
}
