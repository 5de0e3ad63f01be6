using System.Collections.Concurrent;
using System.Net;
using System.Text;
using BuildFarm.Client;

namespace BuildFarm.Api.Tests;

public sealed class SseTests
{
    [Fact]
    public async Task BuildEvents_SnapshotThenLiveChangesThenEnd()
    {
        await using var api = new ApiFactory();
        var client = api.Client();
        var build = await client.SubmitBuildAsync(Samples.Build());
        var events = new ConcurrentQueue<BuildEvent>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        var reading = Task.Run(async () =>
        {
            await foreach (var e in client.StreamBuildEventsAsync(build.BuildId, cts.Token))
            {
                events.Enqueue(e);
            }
        });
        await Eventually.UntilAsync(() => !events.IsEmpty, "the snapshot event");
        await Samples.ChangeAsync(api.Store, build.BuildId, BuildState.Running, "started");
        await Eventually.UntilAsync(() => events.Count >= 2, "the started event");
        await Samples.ChangeAsync(api.Store, build.BuildId, BuildState.Succeeded, "succeeded", "sha256:" + new string('2', 64));
        await reading.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(["snapshot", "started", "succeeded", "end"], events.Select(e => e.Event));
        Assert.Equal(["1", "2", "3", "3"], events.Select(e => e.Id));
        Assert.Equal(BuildState.Succeeded, events.ElementAt(2).Record!.State);
        Assert.Equal("sha256:" + new string('2', 64), events.ElementAt(2).Record!.Digest);
    }

    [Fact]
    public async Task BuildEvents_WithLastEventIdOfCurrentVersion_SkipsTheSnapshot()
    {
        await using var api = new ApiFactory();
        var build = await api.Client().SubmitBuildAsync(Samples.Build());
        await Samples.ChangeAsync(api.Store, build.BuildId, BuildState.Running, "started");
        using var http = api.Http();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/builds/{build.BuildId}/events");
        request.Headers.Add("Last-Event-ID", "2");

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new SseLines(await response.Content.ReadAsStreamAsync());
        await reader.WaitForAsync(": heartbeat");
        await Samples.ChangeAsync(api.Store, build.BuildId, BuildState.Failed, "failed");
        var text = await reader.ReadToEndAsync();

        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotContain("event: snapshot", reader.Seen + text, StringComparison.Ordinal);
        Assert.Contains("id: 3\nevent: failed\ndata: {", text, StringComparison.Ordinal);
        Assert.EndsWith("event: end\ndata: {}\n\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BuildEvents_FinalBuild_SendsSnapshotAndEnds()
    {
        await using var api = new ApiFactory();
        var client = api.Client();
        var build = await client.SubmitBuildAsync(Samples.Build());
        await Samples.ChangeAsync(api.Store, build.BuildId, BuildState.Cancelled, "cancelled");

        var events = await client.StreamBuildEventsAsync(build.BuildId).ToListAsync();

        Assert.Equal(["snapshot", "end"], events.Select(e => e.Event));
        Assert.Equal(BuildState.Cancelled, events[0].Record!.State);
    }

    [Fact]
    public async Task BatchEvents_FollowEveryMemberUntilAllAreFinal()
    {
        await using var api = new ApiFactory();
        var client = api.Client();
        var batch = await client.SubmitBatchAsync(Samples.Batch());
        var events = new ConcurrentQueue<BuildEvent>();

        var reading = Task.Run(async () =>
        {
            await foreach (var e in client.StreamBatchEventsAsync(batch.BatchId))
            {
                events.Enqueue(e);
            }
        });
        await Eventually.UntilAsync(() => events.Count >= 4, "the four snapshots");
        foreach (var image in batch.Images)
        {
            await Samples.ChangeAsync(api.Store, image.BuildId, BuildState.Succeeded, "succeeded");
        }
        await reading.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(Enumerable.Repeat("snapshot", 4).Concat(Enumerable.Repeat("succeeded", 4)).Append("end"), events.Select(e => e.Event));
        Assert.Equal(["1", "2", "3", "4", "5", "6", "7", "8", "8"], events.Select(e => e.Id));
        Assert.Equal(batch.Images.Select(i => i.BuildId).Order(), events.Take(4).Select(e => e.Record!.BuildId).Order());
    }

    [Fact]
    public async Task BatchEvents_LastEventIdEqualToCurrentSum_SkipsSnapshots()
    {
        await using var api = new ApiFactory();
        var batch = await api.Client().SubmitBatchAsync(Samples.Batch());
        using var http = api.Http();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/batches/{batch.BatchId}/events");
        request.Headers.Add("Last-Event-ID", "4");

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new SseLines(await response.Content.ReadAsStreamAsync());
        await reader.WaitForAsync(": heartbeat");
        foreach (var image in batch.Images)
        {
            await Samples.ChangeAsync(api.Store, image.BuildId, BuildState.Failed, "failed");
        }
        var text = reader.Seen + await reader.ReadToEndAsync();

        Assert.DoesNotContain("event: snapshot", text, StringComparison.Ordinal);
        Assert.Equal(4, text.Split("event: failed").Length - 1);
        Assert.Contains("id: 8\nevent: end", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Events_UnknownBuildOrBatch_Are404()
    {
        await using var api = new ApiFactory();
        using var http = api.Http();

        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(new Uri("/v1/builds/b-nope/events", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(new Uri("/v1/batches/batch-nope/events", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task Client_StreamDroppedAfterFirstEvent_ReconnectsWithLastEventIdWithoutRepeats()
    {
        await using var api = new ApiFactory();
        var build = await api.Client().SubmitBuildAsync(Samples.Build());
        var cutter = new CuttingHandler(api.Server.CreateHandler());
        using var http = new HttpClient(cutter) { BaseAddress = api.Server.BaseAddress };
        var client = new BuildFarmClient(http, ApiFactory.AdminKey, new BuildFarmClientOptions { ReconnectDelay = TimeSpan.FromMilliseconds(50) });
        var events = new ConcurrentQueue<BuildEvent>();

        var reading = Task.Run(async () =>
        {
            await foreach (var e in client.StreamBuildEventsAsync(build.BuildId))
            {
                events.Enqueue(e);
            }
        });
        await Eventually.UntilAsync(() => cutter.LastEventIds.Count == 2, "the reconnect");
        await Samples.ChangeAsync(api.Store, build.BuildId, BuildState.Running, "started");
        await Eventually.UntilAsync(() => events.Count >= 2, "the started event");
        await Samples.ChangeAsync(api.Store, build.BuildId, BuildState.Succeeded, "succeeded");
        await reading.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal([null, "1"], cutter.LastEventIds);
        Assert.Equal(["1", "2", "3", "3"], events.Select(e => e.Id));
        Assert.Equal("end", events.Last().Event);
    }

    /// <summary>Reads an SSE response as text, remembering what it has seen.</summary>
    private sealed class SseLines(Stream stream) : IDisposable
    {
        private readonly StreamReader _reader = new(stream, Encoding.UTF8);
        private readonly StringBuilder _seen = new();

        public string Seen => _seen.ToString();

        public void Dispose() => _reader.Dispose();

        public async Task WaitForAsync(string text)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            while (!Seen.Contains(text, StringComparison.Ordinal))
            {
                var line = await _reader.ReadLineAsync(cts.Token) ?? throw new InvalidOperationException($"the stream ended before '{text}': {Seen}");
                _seen.Append(line).Append('\n');
            }
        }

        public async Task<string> ReadToEndAsync()
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var rest = await _reader.ReadToEndAsync(cts.Token);
            return rest;
        }
    }

    /// <summary>Lets the first event stream deliver one event, then breaks it (as a dropped connection); records Last-Event-ID of each.</summary>
    private sealed class CuttingHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        public ConcurrentQueue<string?> LastEventIds { get; } = new();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var isStream = request.RequestUri!.AbsolutePath.EndsWith("/events", StringComparison.Ordinal);
            if (isStream)
            {
                LastEventIds.Enqueue(request.Headers.TryGetValues("Last-Event-ID", out var ids) ? ids.Single() : null);
            }
            var response = await base.SendAsync(request, cancellationToken);
            if (isStream && LastEventIds.Count == 1)
            {
                var body = await response.Content.ReadAsStreamAsync(cancellationToken);
                var cut = new StreamContent(new CutAfterFirstEventStream(body));
                foreach (var header in response.Content.Headers)
                {
                    cut.Headers.TryAddWithoutValidation(header.Key, header.Value);
                }
                response.Content = cut;
            }
            return response;
        }
    }

    private sealed class CutAfterFirstEventStream(Stream inner) : Stream
    {
        private readonly List<byte> _pending = [];
        private bool _cut;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            while (true)
            {
                if (_cut)
                {
                    throw new IOException("connection dropped (test)");
                }
                var end = IndexOfBlankLine();
                if (end >= 0)
                {
                    var count = Math.Min(buffer.Length, end);
                    _pending.GetRange(0, count).ToArray().CopyTo(buffer);
                    _pending.RemoveRange(0, count);
                    if (count == end)
                    {
                        _cut = true;
                    }
                    return count;
                }
                var chunk = new byte[4096];
                var read = await inner.ReadAsync(chunk, cancellationToken);
                if (read == 0)
                {
                    return 0;
                }
                _pending.AddRange(chunk.AsSpan(0, read).ToArray());
            }
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        private int IndexOfBlankLine()
        {
            for (var i = 1; i < _pending.Count; i++)
            {
                if (_pending[i] == '\n' && _pending[i - 1] == '\n')
                {
                    return i + 1;
                }
            }
            return -1;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
