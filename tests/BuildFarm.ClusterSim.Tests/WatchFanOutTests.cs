using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using BuildFarm.ClusterSim.Api;
using BuildFarm.ClusterSim.Hosting;
using k8s.Models;

namespace BuildFarm.ClusterSim.Tests;

/// <summary>The store's fan-out step, the watch's hand-over to its own loop, and the delivery timings in /_sim/stats.</summary>
public sealed class WatchFanOutTests
{
    private static SimStore Store() => new(() => DateTimeOffset.UnixEpoch, historyLimit: 1000);

    private static V1Pod Pod(string name) => new()
    {
        ApiVersion = "v1",
        Kind = "Pod",
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "default" },
        Spec = new V1PodSpec { Containers = [new V1Container { Name = "kaniko", Image = "img" }] },
        Status = new V1PodStatus { Phase = "Pending" },
    };

    /// <summary>A direct writer that records what it was given.</summary>
    private sealed class Recorder
    {
        private readonly Lock _lock = new();
        private readonly List<long> _versions = [];

        public Func<IReadOnlyList<StoredEvent>, ValueTask>? Then { get; set; }

        public ValueTask Write(IReadOnlyList<StoredEvent> batch)
        {
            lock (_lock)
            {
                _versions.AddRange(batch.Select(e => e.ResourceVersion));
            }
            return Then?.Invoke(batch) ?? ValueTask.CompletedTask;
        }

        public List<long> Versions
        {
            get { lock (_lock) { return [.. _versions]; } }
        }
    }

    [Fact]
    public async Task FanOut_FreeWatchers_EachWrittenDirectlyInCommitOrder()
    {
        var store = Store();
        var recorders = Enumerable.Range(0, 3).Select(_ => new Recorder()).ToList();
        var watches = recorders.Select(r =>
        {
            var (watch, _) = store.Subscribe("pods", store.ResourceVersion);
            watch.AttachDirectWriter(r.Write);
            return watch;
        }).ToList();

        var committed = new List<long>();
        for (var i = 0; i < 20; i++)
        {
            committed.Add(long.Parse(store.CreatePod(Pod($"p{i}")).Metadata.ResourceVersion, CultureInfo.InvariantCulture));
            committed.Add(long.Parse(store.UpdatePod("default", $"p{i}", p => p.Status.Phase = "Running")!.Metadata.ResourceVersion, CultureInfo.InvariantCulture));
        }

        await Eventually.UntilAsync(() => recorders.All(r => r.Versions.Count == committed.Count), "every watcher has every change");
        Assert.All(recorders, r => Assert.Equal(committed, r.Versions));
        Assert.All(watches, w => Assert.Equal(0, w.Queued));
        watches.ForEach(w => w.Dispose());
    }

    [Fact]
    public async Task FanOut_SlowWatcher_DoesNotHoldUpTheOthersAndItsLoopGetsTheRestInOrder()
    {
        var store = Store();
        var fast = new Recorder();
        var slow = new Recorder();
        var flush = new TaskCompletionSource();
        // The slow watcher's first flush does not complete (its client is not reading).
        slow.Then = _ => new ValueTask(flush.Task);
        var (fastWatch, _) = store.Subscribe("pods", store.ResourceVersion);
        fastWatch.AttachDirectWriter(fast.Write);
        var (slowWatch, _) = store.Subscribe("pods", store.ResourceVersion);
        slowWatch.AttachDirectWriter(slow.Write);

        var committed = Enumerable.Range(0, 30)
            .Select(i => long.Parse(store.CreatePod(Pod($"p{i}")).Metadata.ResourceVersion, CultureInfo.InvariantCulture)).ToList();

        await Eventually.UntilAsync(() => fast.Versions.Count == committed.Count, "the fast watcher has every change");
        Assert.Equal(committed, fast.Versions);
        await Eventually.UntilAsync(() => slow.Versions.Count + slowWatch.Queued == committed.Count, "the slow watcher's changes are written or queued");
        Assert.NotEmpty(slow.Versions);
        Assert.True(slowWatch.Queued > 0, "nothing was queued behind the pending flush");

        // The loop takes the pending flush over, then the queue, in order.
        Assert.True(slowWatch.TryAcquire(out var handover));
        Assert.NotNull(handover);
        Assert.False(handover.IsCompleted);
        flush.SetResult();
        await handover;
        var drained = new List<StoredEvent>();
        Assert.True(slowWatch.TryDrain(drained));
        Assert.Equal(committed, slow.Versions.Concat(drained.Select(e => e.ResourceVersion)).ToList());
        Assert.True(slowWatch.TryRelease());

        // Free again: the next change is written directly.
        var next = long.Parse(store.CreatePod(Pod("after")).Metadata.ResourceVersion, CultureInfo.InvariantCulture);
        await Eventually.UntilAsync(() => slow.Versions.Contains(next), "the next change reaches the slow watcher directly");
        Assert.Equal(0, slowWatch.Queued);
        fastWatch.Dispose();
        slowWatch.Dispose();
    }

    [Fact]
    public async Task FanOut_WriterThrows_WatchReportsTheFaultAndTheOthersGoOn()
    {
        var store = Store();
        var good = new Recorder();
        var (goodWatch, _) = store.Subscribe("pods", store.ResourceVersion);
        goodWatch.AttachDirectWriter(good.Write);
        var (badWatch, _) = store.Subscribe("pods", store.ResourceVersion);
        badWatch.AttachDirectWriter(_ => throw new IOException("connection reset"));

        store.CreatePod(Pod("a"));
        store.CreatePod(Pod("b"));

        await Eventually.UntilAsync(() => good.Versions.Count == 2, "the good watcher has both changes");
        await Eventually.UntilAsync(() => badWatch.Fault is not null, "the failing watch reports its fault");
        Assert.Equal("connection reset", badWatch.Fault!.Message);
        goodWatch.Dispose();
        badWatch.Dispose();
    }

    [Fact]
    public async Task CloseAsync_DuringAFanOutWrite_WaitsForItAndNoWriteFollows()
    {
        var store = Store();
        using var entered = new ManualResetEventSlim();
        using var proceed = new ManualResetEventSlim();
        var writes = 0;
        var (watch, _) = store.Subscribe("pods", store.ResourceVersion);
        watch.AttachDirectWriter(_ =>
        {
            Interlocked.Increment(ref writes);
            entered.Set();
            proceed.Wait(TimeSpan.FromSeconds(10));
            return ValueTask.CompletedTask;
        });

        var committing = Task.Run(() => store.CreatePod(Pod("a")));
        Assert.True(entered.Wait(TimeSpan.FromSeconds(10)), "the fan-out step did not write");
        var closing = watch.CloseAsync();
        Assert.False(closing.IsCompleted, "closed while the fan-out step was still writing");
        proceed.Set();
        Assert.Null(await closing.WaitAsync(TimeSpan.FromSeconds(10)));
        await committing.WaitAsync(TimeSpan.FromSeconds(10));

        store.CreatePod(Pod("b"));
        var other = new Recorder();
        var (witness, _) = store.Subscribe("pods", store.ResourceVersion);
        witness.AttachDirectWriter(other.Write);
        store.CreatePod(Pod("c"));
        await Eventually.UntilAsync(() => other.Versions.Count == 1, "a later change reaches another watcher");
        Assert.Equal(1, Volatile.Read(ref writes));
        watch.Dispose();
        witness.Dispose();
    }

    [Fact]
    public void LatencyHistogram_Samples_PercentilesAreBucketBoundsAndMaxIsExact()
    {
        var h = new LatencyHistogram();
        static long Ticks(double ms) => (long)(ms * Stopwatch.Frequency / 1000);
        for (var i = 0; i < 98; i++)
        {
            h.Record(0, Ticks(0.3));
        }
        h.Record(0, Ticks(12));
        h.Record(0, Ticks(700));
        h.Record(10, 5); // a clock that went backwards counts as 0

        var s = h.Snapshot();

        Assert.Equal(101, s.Count);
        Assert.Equal(0.5, s.P50Ms);
        Assert.Equal(0.5, s.P95Ms);
        Assert.Equal(15, s.P99Ms);
        Assert.Equal(700, s.MaxMs!.Value, 1);
        Assert.Equal(101, s.Buckets.Sum(b => b.Count));
        Assert.Equal(1, s.Buckets.Single(b => b.Le == 0.05).Count);
        Assert.Equal(98, s.Buckets.Single(b => b.Le == 0.5).Count);
        Assert.Equal(1, s.Buckets.Single(b => b.Le == 1000).Count);
        Assert.Null(new LatencyHistogram().Snapshot().P99Ms);
    }

    /// <summary>An all-namespace watch over HTTP from <paramref name="rv"/>, recording each line's resourceVersion.</summary>
    private static async Task<(HttpResponseMessage Response, StreamReader Reader)> OpenWatchAsync(HttpClient http, string rv, CancellationToken ct)
    {
        var response = await http.GetAsync($"/api/v1/pods?watch=true&resourceVersion={rv}", HttpCompletionOption.ResponseHeadersRead, ct);
        response.EnsureSuccessStatusCode();
        return (response, new StreamReader(await response.Content.ReadAsStreamAsync(ct)));
    }

    private static async Task<List<long>> ReadVersionsAsync(StreamReader reader, int count, CancellationToken ct)
    {
        var versions = new List<long>();
        while (versions.Count < count && await reader.ReadLineAsync(ct) is { } line)
        {
            using var doc = JsonDocument.Parse(line);
            versions.Add(long.Parse(doc.RootElement.GetProperty("object").GetProperty("metadata").GetProperty("resourceVersion").GetString()!, CultureInfo.InvariantCulture));
        }
        return versions;
    }

    [Fact]
    public async Task Watch_ManyWatchers_EveryWatcherGetsEveryChangeInOrderAndStatsCountEachDelivery()
    {
        await using var sim = await Sim.StartAsync();
        using var http = new HttpClient { BaseAddress = sim.Address };
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var rv = sim.Store.ResourceVersion.ToString(CultureInfo.InvariantCulture);
        var watchers = new List<(HttpResponseMessage Response, StreamReader Reader)>();
        for (var i = 0; i < 5; i++)
        {
            watchers.Add(await OpenWatchAsync(http, rv, cts.Token));
        }
        await Eventually.UntilAsync(() => sim.Store.WatchCount == 5, "the server counts 5 watches");

        var committed = new List<long>();
        for (var i = 0; i < 10; i++)
        {
            committed.Add(long.Parse(sim.Store.CreatePod(Pod($"w{i}")).Metadata.ResourceVersion, CultureInfo.InvariantCulture));
            committed.Add(long.Parse(sim.Store.UpdatePod("default", $"w{i}", p => p.Status.Phase = "Running")!.Metadata.ResourceVersion, CultureInfo.InvariantCulture));
        }

        foreach (var (_, reader) in watchers)
        {
            Assert.Equal(committed, await ReadVersionsAsync(reader, committed.Count, cts.Token));
        }
        // A delivery is counted just after its write reaches the client: wait for the counts of the last ones.
        await Eventually.UntilAsync(() =>
        {
            var counted = sim.Stats.WatchDelivery.Snapshot();
            return Task.FromResult(counted.Direct + counted.Queued >= 5 * committed.Count && counted.Spread.Count >= 5 * committed.Count
                && counted.CommitToFlush.Count >= 5 * committed.Count);
        }, "every delivery counted");
        var delivery = sim.Stats.WatchDelivery.Snapshot();
        Assert.Equal(5 * committed.Count, delivery.Direct + delivery.Queued);
        Assert.True(delivery.Direct > 0, "the fan-out step wrote nothing itself");
        Assert.Equal(5 * committed.Count, delivery.Spread.Count);
        Assert.Equal(5 * committed.Count, delivery.CommitToFlush.Count);
        using var stats = JsonDocument.Parse(await http.GetStringAsync("/_sim/stats", cts.Token));
        var reported = stats.RootElement.GetProperty("watchDelivery");
        Assert.Equal(5 * committed.Count, reported.GetProperty("spread").GetProperty("count").GetInt64());
        Assert.True(reported.GetProperty("commitToFlush").GetProperty("p99Ms").GetDouble() > 0);
        foreach (var (response, reader) in watchers)
        {
            reader.Dispose();
            response.Dispose();
        }
    }

    [Fact]
    public async Task Watch_ClientNotReading_OthersGetEveryChangeAndItCatchesUpInOrderLater()
    {
        await using var sim = await Sim.StartAsync();
        using var fastHttp = new HttpClient { BaseAddress = sim.Address };
        // A client with a tiny receive buffer that does not read: the server's writes to it back up.
        using var slowHttp = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096, NoDelay = true };
                await socket.ConnectAsync(context.DnsEndPoint, ct);
                return new NetworkStream(socket, ownsSocket: true);
            },
        })
        { BaseAddress = sim.Address };
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var rv = sim.Store.ResourceVersion.ToString(CultureInfo.InvariantCulture);
        var (slowResponse, slowReader) = await OpenWatchAsync(slowHttp, rv, cts.Token);
        var (fastResponse, fastReader) = await OpenWatchAsync(fastHttp, rv, cts.Token);
        await Eventually.UntilAsync(() => sim.Store.WatchCount == 2, "the server counts both watches");

        // 60 changes of about 200 KB each: far more than the socket buffers between the server and the slow client hold.
        var committed = new List<long> { long.Parse(sim.Store.CreatePod(Pod("big")).Metadata.ResourceVersion, CultureInfo.InvariantCulture) };
        for (var i = 0; i < 60; i++)
        {
            var value = new string((char)('a' + i % 26), 200_000);
            committed.Add(long.Parse(sim.Store.UpdatePod("default", "big", p => p.Metadata.Annotations = new Dictionary<string, string> { ["blob"] = value })!
                .Metadata.ResourceVersion, CultureInfo.InvariantCulture));
        }

        Assert.Equal(committed, await ReadVersionsAsync(fastReader, committed.Count, cts.Token));
        await Eventually.UntilAsync(() => sim.Stats.WatchDelivery.Snapshot().Spread.Count >= committed.Count, "the fast watcher's deliveries are counted");
        var beforeCatchUp = sim.Stats.WatchDelivery.Snapshot();
        Assert.True(beforeCatchUp.Spread.Count < 2 * committed.Count, "the slow client got everything without reading: it was not backpressured");

        Assert.Equal(committed, await ReadVersionsAsync(slowReader, committed.Count, cts.Token));
        await Eventually.UntilAsync(() => sim.Stats.WatchDelivery.Snapshot().Spread.Count == 2 * committed.Count, "every delivery is counted");
        Assert.True(sim.Stats.WatchDelivery.Snapshot().Queued > 0, "no change went through the slow watcher's own loop");
        slowReader.Dispose();
        slowResponse.Dispose();
        fastReader.Dispose();
        fastResponse.Dispose();
    }
}
