using BuildFarm.Coordination.Logs;
using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Coordination.Tests;

public sealed class BuildLogWriterTests
{
    private static readonly BuildLogOptions Options = new() { MaxAttemptBytes = 16 * 1024, FlushBytes = 1024 };

    private static string Line(int second, string text) => $"2026-12-05T10:00:{second:00}Z {text}";

    private static async Task<IReadOnlyList<string>> ReadAllAsync(IBuildLogStore store, string build = "build-a", int attempt = 1) =>
        (await store.ReadAsync(build, attempt, 0, 10_000, CancellationToken.None)).Lines;

    private static InMemoryBuildLogStore NewStore() => new(new FakeTimeProvider(), TimeSpan.FromDays(1));

    [Fact]
    public async Task Lines_BufferedUntilFlushBytes_ThenWrittenInOneAppend_CompleteMarksEnded()
    {
        var store = new CountingStore(NewStore());
        using var writer = new BuildLogWriter(store, "build-a", 1, Options);

        var due = false;
        var n = 0;
        while (!due)
        {
            due = writer.Add(Line(1, $"line {n++} " + new string('x', 50)));
        }
        Assert.Equal(0, store.Appends);
        await writer.FlushAsync(CancellationToken.None);
        Assert.Equal(1, store.Appends);
        Assert.Equal(n, (await ReadAllAsync(store)).Count);

        writer.Add(Line(2, "last"));
        Assert.True(await writer.CompleteAsync(CancellationToken.None));

        Assert.Equal(2, store.Appends);
        var state = await store.GetStateAsync("build-a", 1, CancellationToken.None);
        Assert.True(state!.Ended);
        Assert.Equal(n + 1, state.Lines);
        Assert.Equal(Line(2, "last"), (await ReadAllAsync(store))[^1]);
        Assert.Equal(state.Bytes, writer.StoredBytes);
    }

    [Fact]
    public async Task RunFlushes_WritesBufferedLinesEveryInterval()
    {
        var time = new FakeTimeProvider();
        var store = new CountingStore(NewStore());
        using var writer = new BuildLogWriter(store, "build-a", 1, Options);
        using var stop = new CancellationTokenSource();
        var flushes = writer.RunFlushesAsync(time, stop.Token);

        writer.Add(Line(1, "one"));
        time.Advance(Options.FlushInterval);
        await Eventually.UntilAsync(async () => (await ReadAllAsync(store)).Count == 1, "the timed flush to store the line", TimeSpan.FromSeconds(10));

        await stop.CancelAsync();
        await flushes;
    }

    [Fact]
    public async Task OverTheCap_HeadAndTailKept_MarkerSaysWhatWasCut()
    {
        var store = NewStore();
        using var writer = new BuildLogWriter(store, "build-a", 1, Options);
        var lines = Enumerable.Range(0, 2000).Select(i => Line(i % 60, $"line {i:0000} " + new string('y', 40))).ToList();

        foreach (var line in lines)
        {
            if (writer.Add(line))
            {
                await writer.FlushAsync(CancellationToken.None);
            }
        }
        await writer.CompleteAsync(CancellationToken.None);

        var stored = await ReadAllAsync(store);
        var state = (await store.GetStateAsync("build-a", 1, CancellationToken.None))!;
        var marker = stored.Single(l => l.Contains("[buildfarm]", StringComparison.Ordinal));
        var at = stored.ToList().IndexOf(marker);
        Assert.Equal(lines.Take(at), stored.Take(at));
        Assert.Equal(lines.TakeLast(stored.Count - at - 1), stored.Skip(at + 1));
        Assert.Equal(lines.Count - (stored.Count - 1), state.CutLines);
        Assert.Contains($"{state.CutLines} lines ({state.CutBytes} bytes) cut here", marker, StringComparison.Ordinal);
        Assert.True(state.Bytes <= Options.MaxAttemptBytes, $"{state.Bytes} bytes stored");
        Assert.True(state.Bytes > Options.MaxAttemptBytes * 3 / 4, $"{state.Bytes} bytes stored");
        Assert.Equal(state.CutBytes, writer.CutBytes);
    }

    [Fact]
    public async Task Restart_SameLogAgain_NothingDuplicated_NewLinesKept()
    {
        var store = NewStore();
        using var writer = new BuildLogWriter(store, "build-a", 1, Options);
        // Kubernetes (and the simulator) stamp with one-second resolution: many lines share a timestamp.
        string[] first = [Line(1, "a"), Line(1, "b"), Line(2, "c"), Line(2, "c")];
        string[] more = [Line(2, "d"), Line(3, "e")];

        foreach (var line in first)
        {
            writer.Add(line);
        }
        writer.Restart();
        foreach (var line in first.Concat(more))
        {
            writer.Add(line);
        }
        await writer.CompleteAsync(CancellationToken.None);

        Assert.Equal(first.Concat(more), await ReadAllAsync(store));
    }

    [Fact]
    public async Task Resume_FromStoredState_AnotherWriterAddsOnlyWhatWasNotStored()
    {
        var store = NewStore();
        string[] log = [Line(1, "a"), Line(1, "b"), Line(1, "c"), Line(2, "d"), Line(3, "e")];
        using (var crashed = new BuildLogWriter(store, "build-a", 1, Options))
        {
            crashed.Add(log[0]);
            crashed.Add(log[1]);
            await crashed.FlushAsync(CancellationToken.None);
            crashed.Add(log[2]); // buffered, never written: the worker died
        }

        var state = await store.GetStateAsync("build-a", 1, CancellationToken.None);
        using var adopting = new BuildLogWriter(store, "build-a", 1, Options, state);
        foreach (var line in log)
        {
            adopting.Add(line);
        }
        await adopting.CompleteAsync(CancellationToken.None);

        Assert.Equal(log, await ReadAllAsync(store));
    }

    [Fact]
    public async Task StoreDown_LinesKept_WrittenOnTheNextTry()
    {
        var store = new CountingStore(NewStore()) { Fail = true };
        using var writer = new BuildLogWriter(store, "build-a", 1, Options);

        writer.Add(Line(1, "a"));
        await writer.FlushAsync(CancellationToken.None);
        Assert.NotNull(writer.LastError);
        writer.Add(Line(1, "b"));
        Assert.False(await writer.CompleteAsync(CancellationToken.None));

        store.Fail = false;
        Assert.True(await writer.CompleteAsync(CancellationToken.None));
        Assert.Equal([Line(1, "a"), Line(1, "b")], await ReadAllAsync(store));
    }

    [Theory]
    [InlineData("2026-12-05T10:00:01.123456789Z hello world", true, "hello world")]
    [InlineData("2026-12-05T10:00:01Z x", true, "x")]
    [InlineData("2026-12-05T10:00:01Z", true, "")]
    [InlineData("INFO[0000] no timestamp", false, "INFO[0000] no timestamp")]
    [InlineData("", false, "")]
    public void LogLines_SplitsTheKubernetesTimestamp(string line, bool stamped, string text)
    {
        Assert.Equal(stamped, LogLines.TrySplit(line, out _, out var rest));
        Assert.Equal(text, rest);
        Assert.Equal(text, LogLines.WithoutTimestamp(line));
    }

    [Fact]
    public void Options_OutOfBounds_EachNamed()
    {
        var errors = new BuildLogOptions { KeyPrefix = "", MaxAttemptBytes = 1, FlushBytes = 1, FlushInterval = TimeSpan.Zero, Ttl = TimeSpan.Zero }.Validate();

        Assert.Equal(5, errors.Count);
        Assert.Contains(errors, e => e.StartsWith("Logs:MaxAttemptBytes", StringComparison.Ordinal));
        Assert.Empty(new BuildLogOptions().Validate());
    }

    private sealed class CountingStore(IBuildLogStore inner) : IBuildLogStore
    {
        public int Appends { get; private set; }
        public bool Fail { get; set; }

        public Task AppendAsync(string buildId, int attempt, IReadOnlyList<string> lines, BuildLogState state, CancellationToken cancellationToken)
        {
            if (Fail)
            {
                throw new InvalidOperationException("store down");
            }
            Appends++;
            return inner.AppendAsync(buildId, attempt, lines, state, cancellationToken);
        }

        public Task<BuildLogState?> GetStateAsync(string buildId, int attempt, CancellationToken cancellationToken) =>
            inner.GetStateAsync(buildId, attempt, cancellationToken);

        public Task<BuildLogPage> ReadAsync(string buildId, int attempt, long offset, int maxLines, CancellationToken cancellationToken) =>
            inner.ReadAsync(buildId, attempt, offset, maxLines, cancellationToken);

        public Task DeleteAsync(string buildId, int attempt, CancellationToken cancellationToken) => inner.DeleteAsync(buildId, attempt, cancellationToken);
    }
}
