using System.Globalization;
using System.Text;
using System.Text.Json;

namespace BuildFarm.Coordination.Logs;

/// <summary>
/// Finished attempt logs as files under one directory (<c>Logs:ArchiveDirectory</c>, a mounted volume; docs/logs.md
/// "Archive"): <c>{directory}/{buildId}/{attempt}.log</c>, a header line with the log's <see cref="BuildLogState"/> as
/// JSON, then the lines, each ended by <c>\n</c>. File names come from the build id and attempt number only, and only
/// from ids of the farm's shape (<see cref="IsArchivable"/>), so no id can name a path outside the directory. A file is
/// written under a temporary name and renamed into place: a reader sees the whole log or none.
/// </summary>
public sealed class BuildLogArchive
{
    /// <summary>The longest build id archived (RequestIds.MaxLength of the API is shorter).</summary>
    public const int MaxBuildIdLength = 200;

    /// <summary>The longest header line read; a longer one is not an archive.</summary>
    private const int MaxHeaderChars = 1024;

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    private readonly string _directory;
    private readonly long _maxFileBytes;

    /// <param name="directory">The archive's directory; created when missing.</param>
    /// <param name="maxFileBytes">The largest file written or read (a log is at most <c>Logs:MaxAttemptBytes</c> plus
    /// its marker and header); a larger log stays in the live store.</param>
    public BuildLogArchive(string directory, long maxFileBytes)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFileBytes, 1024);
        _directory = Path.GetFullPath(directory);
        _maxFileBytes = maxFileBytes;
    }

    public string Directory => _directory;

    /// <summary>Whether <paramref name="buildId"/> can name a file: 1 to 200 of <c>A-Z a-z 0-9 . _ -</c>, starting with a
    /// letter or digit (so never <c>.</c>, <c>..</c> or a hidden name).</summary>
    public static bool IsArchivable(string buildId) =>
        buildId is { Length: > 0 and <= MaxBuildIdLength } && char.IsAsciiLetterOrDigit(buildId[0])
        && buildId.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    /// <summary>The file of one attempt's log.</summary>
    public string PathOf(string buildId, int attempt)
    {
        BuildLogArguments.Check(buildId, attempt);
        if (!IsArchivable(buildId))
        {
            throw new ArgumentException($"'{buildId}' cannot name an archive file", nameof(buildId));
        }
        return Path.Combine(_directory, buildId, attempt.ToString(CultureInfo.InvariantCulture) + ".log");
    }

    /// <summary>Writes the log (all of <paramref name="lines"/> with <paramref name="state"/>) atomically; false when it
    /// would exceed the size bound (nothing written).</summary>
    public async Task<bool> WriteAsync(string buildId, int attempt, IReadOnlyList<string> lines, BuildLogState state, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lines);
        ArgumentNullException.ThrowIfNull(state);
        var path = PathOf(buildId, attempt);
        var header = JsonSerializer.Serialize(new Header(1, state.Lines, state.Bytes, state.LastTimestamp, state.AtLastTimestamp, state.CutLines, state.CutBytes));
        long size = Utf8.GetByteCount(header) + 1;
        foreach (var line in lines)
        {
            size += Utf8.GetByteCount(line) + 1;
        }
        if (size > _maxFileBytes)
        {
            return false;
        }
        var folder = Path.GetDirectoryName(path)!;
        System.IO.Directory.CreateDirectory(folder);
        var temporary = Path.Combine(folder, $".{attempt.ToString(CultureInfo.InvariantCulture)}.{Guid.NewGuid():N}.tmp");
        try
        {
            await using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.Asynchronous))
            await using (var writer = new StreamWriter(file, Utf8, 64 * 1024))
            {
                writer.NewLine = "\n";
                await writer.WriteLineAsync(header.AsMemory(), cancellationToken).ConfigureAwait(false);
                foreach (var line in lines)
                {
                    await writer.WriteLineAsync(line.AsMemory(), cancellationToken).ConfigureAwait(false);
                }
                await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
            return true;
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>Up to <paramref name="maxLines"/> lines from <paramref name="offset"/>, as the live store answers them
    /// (the state says <c>Ended</c>); a page without state when there is no archive file.</summary>
    public async Task<BuildLogPage> ReadAsync(string buildId, int attempt, long offset, int maxLines, CancellationToken cancellationToken)
    {
        BuildLogArguments.CheckRead(buildId, attempt, offset, maxLines);
        if (!IsArchivable(buildId))
        {
            return new BuildLogPage([], offset, null);
        }
        FileStream file;
        try
        {
            file = new FileStream(PathOf(buildId, attempt), FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 64 * 1024, FileOptions.Asynchronous);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return new BuildLogPage([], offset, null);
        }
        await using (file)
        {
            if (file.Length > _maxFileBytes)
            {
                throw new InvalidDataException($"the archived log {file.Name} has {file.Length} bytes, more than the {_maxFileBytes} allowed");
            }
            using var reader = new StreamReader(file, Utf8, detectEncodingFromByteOrderMarks: false, 64 * 1024);
            var lines = new LineReader(reader);
            var headerLine = await lines.NextAsync(MaxHeaderChars, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidDataException($"the archived log {file.Name} is empty");
            var header = JsonSerializer.Deserialize<Header>(headerLine) is { Version: 1 } h
                ? h
                : throw new InvalidDataException($"the archived log {file.Name} has no version 1 header");
            var state = new BuildLogState(header.Lines, header.Bytes, header.LastTimestamp, header.AtLastTimestamp, header.CutLines, header.CutBytes, Ended: true);
            var page = new List<string>();
            for (long index = 0; page.Count < maxLines; index++)
            {
                if (await lines.NextAsync(int.MaxValue, cancellationToken).ConfigureAwait(false) is not { } line)
                {
                    break;
                }
                if (index >= offset)
                {
                    page.Add(line);
                }
            }
            return new BuildLogPage(page, offset, state);
        }
    }

    /// <summary>Removes the attempt's file; nothing when there is none.</summary>
    public void Delete(string buildId, int attempt)
    {
        if (IsArchivable(buildId))
        {
            File.Delete(PathOf(buildId, attempt));
        }
    }

    private sealed record Header(int Version, long Lines, long Bytes, long? LastTimestamp, int AtLastTimestamp, long CutLines, long CutBytes);

    /// <summary>Lines split on <c>\n</c> only (a log line may hold a <c>\r</c>, which <see cref="StreamReader.ReadLineAsync()"/>
    /// would split on).</summary>
    private sealed class LineReader(StreamReader reader)
    {
        private readonly char[] _buffer = new char[16 * 1024];
        private int _start;
        private int _end;

        public async Task<string?> NextAsync(int maxChars, CancellationToken cancellationToken)
        {
            var line = new StringBuilder();
            while (true)
            {
                if (_start == _end)
                {
                    _start = 0;
                    _end = await reader.ReadAsync(_buffer.AsMemory(), cancellationToken).ConfigureAwait(false);
                    if (_end == 0)
                    {
                        return line.Length > 0 ? line.ToString() : null;
                    }
                }
                var newline = Array.IndexOf(_buffer, '\n', _start, _end - _start);
                var stop = newline < 0 ? _end : newline;
                line.Append(_buffer, _start, stop - _start);
                if (line.Length > maxChars)
                {
                    throw new InvalidDataException($"an archived log line is longer than {maxChars} characters");
                }
                _start = newline < 0 ? _end : newline + 1;
                if (newline >= 0)
                {
                    return line.ToString();
                }
            }
        }
    }
}
