using BuildFarm.Coordination.Logs;

namespace BuildFarm.Coordination.Tests;

/// <summary>
/// <c>Logs:ArchiveDirectory</c> over the real redis-server of ./test.sh and a temporary directory: a finished log moves
/// from Redis to its file and reads the same; what cannot move stays in Redis.
/// </summary>
[NeedsServer(Server.Redis)]
public sealed class BuildLogArchiveTests : IDisposable
{
    private static readonly TimeSpan Ttl = TimeSpan.FromMinutes(5);
    private readonly string _dir = Directory.CreateTempSubdirectory("bf-log-archive-").FullName;
    private readonly RedisBuildLogStore _live = new(TestRedis.Multiplexer, TestRedis.UniquePrefix("bflogarchive"), Ttl);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private ArchivingBuildLogStore Store(long maxFileBytes = 1024 * 1024) => new(_live, new BuildLogArchive(_dir, maxFileBytes));

    /// <summary>Lines as Kubernetes serves them, with a carriage return and an empty line (split on \n only).</summary>
    private static readonly string[] Lines =
    [
        "2026-12-05T10:00:01.000000001Z INFO[0000] Retrieving image manifest alpine:3.20",
        "2026-12-05T10:00:02.5Z progress 10%\rprogress 100%",
        "",
        "2026-12-05T10:00:03Z [buildfarm] 12 lines (3456 bytes) cut here",
        "2026-12-05T10:00:04Z error building image: exit status 3 — ünïcode",
    ];

    private async Task WriteAsync(string buildId, int attempt, bool ended)
    {
        await _live.AppendAsync(buildId, attempt, Lines[..2], new BuildLogState(2, 100, 10, 1, 0, 0, false), CancellationToken.None);
        await _live.AppendAsync(buildId, attempt, Lines[2..], new BuildLogState(5, 250, 20, 1, 12, 3456, ended), CancellationToken.None);
    }

    private static async Task<List<BuildLogPage>> PagesAsync(ArchivingBuildLogStore store, string buildId, int attempt) =>
    [
        await store.ReadAsync(buildId, attempt, 0, 100, CancellationToken.None),
        await store.ReadAsync(buildId, attempt, 1, 2, CancellationToken.None),
        await store.ReadAsync(buildId, attempt, 4, 10, CancellationToken.None),
        await store.ReadAsync(buildId, attempt, 5, 10, CancellationToken.None),
        await store.ReadAsync(buildId, attempt, 99, 1, CancellationToken.None),
    ];

    [Fact]
    public async Task Archive_EndedLog_MovesToItsFile_RedisEmpty_ReadsTheSame()
    {
        var store = Store();
        await WriteAsync("build-a1", 2, ended: true);
        var before = await PagesAsync(store, "build-a1", 2);
        var stateBefore = await store.GetStateAsync("build-a1", 2, CancellationToken.None);

        Assert.True(await store.ArchiveAsync("build-a1", 2, CancellationToken.None));

        Assert.Null(await _live.GetStateAsync("build-a1", 2, CancellationToken.None));
        Assert.False(await TestRedis.Multiplexer.GetDatabase().KeyExistsAsync(_live.LinesKey("build-a1", 2)));
        Assert.True(File.Exists(Path.Combine(_dir, "build-a1", "2.log")));
        Assert.Equal(["2.log"], Directory.GetFiles(Path.Combine(_dir, "build-a1")).Select(Path.GetFileName)); // no temporary file left
        var after = await PagesAsync(store, "build-a1", 2);
        Assert.Equal(before.Select(p => (p.Offset, p.State)), after.Select(p => (p.Offset, p.State)));
        Assert.Equal(before.Select(p => string.Join("\n", p.Lines)), after.Select(p => string.Join("\n", p.Lines)));
        Assert.Equal(Lines, after[0].Lines);
        Assert.Equal(stateBefore, await store.GetStateAsync("build-a1", 2, CancellationToken.None));
        // Other attempts are untouched and still unknown.
        Assert.Null((await store.ReadAsync("build-a1", 1, 0, 10, CancellationToken.None)).State);
    }

    [Fact]
    public async Task Archive_LogStillRunning_StaysInRedis()
    {
        var store = Store();
        await WriteAsync("build-b1", 1, ended: false);

        Assert.False(await store.ArchiveAsync("build-b1", 1, CancellationToken.None));

        Assert.NotNull(await _live.GetStateAsync("build-b1", 1, CancellationToken.None));
        Assert.False(Directory.Exists(Path.Combine(_dir, "build-b1")));
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("a/b")]
    [InlineData(".hidden")]
    public async Task Archive_IdThatCannotNameAFile_StaysInRedis_NoFileAnywhere(string buildId)
    {
        var store = Store();
        await WriteAsync(buildId, 1, ended: true);

        Assert.False(await store.ArchiveAsync(buildId, 1, CancellationToken.None));

        Assert.Equal(Lines, (await store.ReadAsync(buildId, 1, 0, 10, CancellationToken.None)).Lines);
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
        Assert.Empty(Directory.GetFileSystemEntries(Path.GetDirectoryName(_dir)!, "escape"));
        Assert.Throws<ArgumentException>(() => store.Archive.PathOf(buildId, 1));
    }

    [Fact]
    public async Task Archive_LogOverTheFileBound_StaysInRedis()
    {
        var store = Store(maxFileBytes: 1024);
        await _live.AppendAsync("build-c1", 1, [new string('x', 2000)], new BuildLogState(1, 2001, null, 0, 0, 0, true), CancellationToken.None);

        Assert.False(await store.ArchiveAsync("build-c1", 1, CancellationToken.None));

        Assert.NotNull(await _live.GetStateAsync("build-c1", 1, CancellationToken.None));
        Assert.False(File.Exists(Path.Combine(_dir, "build-c1", "1.log")));
    }

    [Fact]
    public async Task Delete_RemovesTheFileAndTheLiveLog()
    {
        var store = Store();
        await WriteAsync("build-d1", 1, ended: true);
        await WriteAsync("build-d1", 2, ended: true);
        Assert.True(await store.ArchiveAsync("build-d1", 1, CancellationToken.None));

        await store.DeleteAsync("build-d1", 1, CancellationToken.None);
        await store.DeleteAsync("build-d1", 2, CancellationToken.None);

        Assert.Null(await store.GetStateAsync("build-d1", 1, CancellationToken.None));
        Assert.Null(await store.GetStateAsync("build-d1", 2, CancellationToken.None));
        Assert.False(File.Exists(Path.Combine(_dir, "build-d1", "1.log")));
    }

    [Fact]
    public async Task Read_ArchiveFileLargerThanTheBound_IsRefused()
    {
        var archive = new BuildLogArchive(_dir, 1024);
        Directory.CreateDirectory(Path.Combine(_dir, "build-e1"));
        await File.WriteAllTextAsync(Path.Combine(_dir, "build-e1", "1.log"), new string('y', 4096));

        await Assert.ThrowsAsync<InvalidDataException>(() => archive.ReadAsync("build-e1", 1, 0, 10, CancellationToken.None));
    }
}
