using System.Collections.Concurrent;

namespace BuildFarm.Worker.Builds;

/// <summary>A running build's cancellation on request (CancelBuild), apart from the worker's shutdown.</summary>
public sealed class BuildCancellation : IDisposable
{
    private readonly CancellationTokenSource _source = new();
    private readonly Action<BuildCancellation> _unregister;

    internal BuildCancellation(string buildId, Action<BuildCancellation> unregister)
    {
        BuildId = buildId;
        _unregister = unregister;
    }

    public string BuildId { get; }
    public CancellationToken Token => _source.Token;
    public bool IsCancellationRequested => _source.IsCancellationRequested;
    public string? RequestedBy { get; private set; }

    internal void Cancel(string? requestedBy)
    {
        RequestedBy = requestedBy;
        _source.Cancel();
    }

    public void Dispose()
    {
        _unregister(this);
        _source.Dispose();
    }
}

/// <summary>The builds this worker is running, by build id, so that a CancelBuild can reach one.</summary>
public sealed class RunningBuilds
{
    private readonly ConcurrentDictionary<string, BuildCancellation> _builds = new(StringComparer.Ordinal);

    public int Count => _builds.Count;

    public BuildCancellation Register(string buildId)
    {
        ArgumentException.ThrowIfNullOrEmpty(buildId);
        var cancellation = new BuildCancellation(buildId, c => _builds.TryRemove(new KeyValuePair<string, BuildCancellation>(c.BuildId, c)));
        _builds[buildId] = cancellation;
        return cancellation;
    }

    public bool IsRunning(string buildId) => _builds.ContainsKey(buildId);

    /// <summary>Cancels the build if it runs here; false otherwise.</summary>
    public bool Cancel(string buildId, string? requestedBy)
    {
        if (!_builds.TryGetValue(buildId, out var cancellation))
        {
            return false;
        }
        cancellation.Cancel(requestedBy);
        return true;
    }
}
