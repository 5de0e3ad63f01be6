namespace BuildFarm.ClusterSim.Kubelet;

/// <summary>One line of a container log with the runtime's receive time (simulated).</summary>
public readonly record struct LogLine(DateTimeOffset Time, string Text);

/// <summary>A container's log: lines appended as the simulated process prints them, and whether it has ended.</summary>
public sealed class ContainerLog
{
    private readonly Lock _lock = new();
    private readonly List<LogLine> _lines = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _ended;

    public void Append(DateTimeOffset time, string text)
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            if (_ended)
            {
                return;
            }
            _lines.Add(new LogLine(time, text));
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    /// <summary>The container stopped: followers finish after the last line.</summary>
    public void End()
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            if (_ended)
            {
                return;
            }
            _ended = true;
            changed = _changed;
        }
        changed.TrySetResult();
    }

    public bool Ended
    {
        get { lock (_lock) { return _ended; } }
    }

    public int Count
    {
        get { lock (_lock) { return _lines.Count; } }
    }

    /// <summary>Lines from index <paramref name="from"/> on, whether the log has ended, and a task that completes at the next change.</summary>
    public (LogLine[] Lines, bool Ended, Task Changed) Read(int from)
    {
        lock (_lock)
        {
            var lines = from < _lines.Count ? _lines.GetRange(from, _lines.Count - from).ToArray() : [];
            return (lines, _ended, _changed.Task);
        }
    }

    public string Text()
    {
        lock (_lock)
        {
            return string.Concat(_lines.Select(l => l.Text + "\n"));
        }
    }
}
