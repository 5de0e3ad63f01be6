using BuildFarm.Coordination.Logs;
using BuildFarm.Worker.Metrics;
using Microsoft.Extensions.Options;

namespace BuildFarm.Worker.Pods;

/// <summary>
/// Opens each attempt's log in the log store (docs/logs.md): a <see cref="BuildLogWriter"/> with its periodic flush.
/// An adopted pod's log resumes from what its earlier worker stored (one read); a new attempt costs no extra round trip.
/// Store errors are logged, never fail a build.
/// </summary>
public sealed class AttemptLogs(IBuildLogStore store, IOptions<BuildLogOptions> options, BuildFarmMetrics metrics, TimeProvider time, ILogger<AttemptLogs> logger)
{
    /// <summary>The attempt's log writer; null when <c>Logs:Enabled</c> is false.</summary>
    public async Task<AttemptLog?> OpenAsync(string buildId, int attempt, bool adopted, CancellationToken ct)
    {
        if (!options.Value.Enabled)
        {
            return null;
        }
        BuildLogState? resume = null;
        if (adopted)
        {
            try
            {
                resume = await store.GetStateAsync(buildId, attempt, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("build {Build} attempt {Attempt}: log store unreadable ({Error}); its log is not stored", buildId, attempt, e.Message);
                return null;
            }
        }
        return new AttemptLog(new BuildLogWriter(store, buildId, attempt, options.Value, resume), store as ArchivingBuildLogStore, buildId, attempt, metrics, time, logger);
    }
}

/// <summary>One attempt's open log: the writer, flushed every <c>Logs:FlushInterval</c> until disposed.</summary>
public sealed class AttemptLog : IAsyncDisposable
{
    private readonly ArchivingBuildLogStore? _archive;
    private readonly string _buildId;
    private readonly int _attempt;
    private readonly BuildFarmMetrics _metrics;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _flushes;

    internal AttemptLog(BuildLogWriter writer, ArchivingBuildLogStore? archive, string buildId, int attempt, BuildFarmMetrics metrics, TimeProvider time,
        ILogger logger)
    {
        Writer = writer;
        _archive = archive;
        _buildId = buildId;
        _attempt = attempt;
        _metrics = metrics;
        _logger = logger;
        _flushes = writer.RunFlushesAsync(time, _stop.Token);
    }

    public BuildLogWriter Writer { get; }

    /// <summary>The attempt ended: the rest of its log, its tail and its end are written.</summary>
    public async Task CompleteAsync(CancellationToken ct)
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _flushes.ConfigureAwait(false);
        if (await Writer.CompleteAsync(ct).ConfigureAwait(false))
        {
            _metrics.RecordLog(Writer.StoredBytes, Writer.CutBytes);
            await ArchiveAsync(ct).ConfigureAwait(false);
        }
        else
        {
            _logger.LogWarning("build {Build} attempt {Attempt}: its log could not be stored ({Error})", _buildId, _attempt, Writer.LastError?.Message);
        }
    }

    /// <summary>With <c>Logs:ArchiveDirectory</c>: the ended log moves from Redis to its file (kept in Redis when that fails).</summary>
    private async Task ArchiveAsync(CancellationToken ct)
    {
        if (_archive is null)
        {
            return;
        }
        try
        {
            if (!await _archive.ArchiveAsync(_buildId, _attempt, ct).ConfigureAwait(false))
            {
                _logger.LogWarning("build {Build} attempt {Attempt}: its log stays in Redis (not archivable: id shape or size)", _buildId, _attempt);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or StackExchange.Redis.RedisException)
        {
            _logger.LogWarning("build {Build} attempt {Attempt}: its log could not be archived, it stays in Redis ({Error})", _buildId, _attempt, e.Message);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _flushes.ConfigureAwait(false);
        _stop.Dispose();
        Writer.Dispose();
    }
}
