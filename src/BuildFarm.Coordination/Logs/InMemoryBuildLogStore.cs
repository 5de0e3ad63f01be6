namespace BuildFarm.Coordination.Logs;

/// <summary>Attempt logs in process, with the semantics of <see cref="RedisBuildLogStore"/> (for the demo and fast
/// tests; one process only). Entries expire <c>ttl</c> after their last write.</summary>
public sealed class InMemoryBuildLogStore(TimeProvider time, TimeSpan ttl) : IBuildLogStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<(string, int), Entry> _logs = [];

    public Task AppendAsync(string buildId, int attempt, IReadOnlyList<string> lines, BuildLogState state, CancellationToken cancellationToken)
    {
        BuildLogArguments.Check(buildId, attempt);
        ArgumentNullException.ThrowIfNull(lines);
        ArgumentNullException.ThrowIfNull(state);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (!_logs.TryGetValue((buildId, attempt), out var entry) || entry.Expires <= now)
            {
                entry = new Entry();
                _logs[(buildId, attempt)] = entry;
            }
            entry.Lines.AddRange(lines);
            entry.State = state;
            entry.Expires = now + ttl;
        }
        return Task.CompletedTask;
    }

    public Task<BuildLogState?> GetStateAsync(string buildId, int attempt, CancellationToken cancellationToken)
    {
        BuildLogArguments.Check(buildId, attempt);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            return Task.FromResult(Find(buildId, attempt)?.State);
        }
    }

    public Task<BuildLogPage> ReadAsync(string buildId, int attempt, long offset, int maxLines, CancellationToken cancellationToken)
    {
        BuildLogArguments.CheckRead(buildId, attempt, offset, maxLines);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            if (Find(buildId, attempt) is not { } entry)
            {
                return Task.FromResult(new BuildLogPage([], offset, null));
            }
            var lines = offset >= entry.Lines.Count ? [] : entry.Lines.GetRange((int)offset, (int)Math.Min(maxLines, entry.Lines.Count - offset));
            return Task.FromResult(new BuildLogPage(lines, offset, entry.State));
        }
    }

    public Task DeleteAsync(string buildId, int attempt, CancellationToken cancellationToken)
    {
        BuildLogArguments.Check(buildId, attempt);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            _logs.Remove((buildId, attempt));
        }
        return Task.CompletedTask;
    }

    private Entry? Find(string buildId, int attempt) =>
        _logs.TryGetValue((buildId, attempt), out var entry) && entry.Expires > time.GetUtcNow() ? entry : null;

    private sealed class Entry
    {
        public List<string> Lines { get; } = [];
        public BuildLogState State { get; set; } = BuildLogState.Empty;
        public DateTimeOffset Expires { get; set; }
    }
}
