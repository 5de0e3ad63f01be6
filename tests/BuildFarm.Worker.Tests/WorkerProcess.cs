using System.Diagnostics;
using System.Text;

namespace BuildFarm.Worker.Tests;

/// <summary>
/// The real worker host (buildfarm-worker.dll, copied beside the tests by the project reference) run with <c>dotnet</c> as
/// a child process, configured only by environment variables — as a deployment would run it. Killed with SIGKILL by
/// <see cref="KillAsync"/>, stopped as Kubernetes stops a pod (SIGTERM) by <see cref="TerminateAsync"/>; killed in any
/// case when disposed.
/// </summary>
internal sealed class WorkerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private WorkerProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Waits for the process to exit on its own (false when it still runs after <paramref name="seconds"/>).</summary>
    public async Task<bool> WaitForExitAsync(int seconds)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Everything the process wrote so far (for failure messages).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <param name="settings">Configuration keys as in appsettings (<c>Worker:Slots</c>); passed as <c>Worker__Slots</c>.</param>
    /// <param name="workingDirectory">The current directory of the process (default: the tests' own directory).</param>
    /// <param name="environment">Raw environment variables to set (a null value removes the variable).</param>
    public static WorkerProcess Start(IReadOnlyDictionary<string, string?> settings, string? workingDirectory = null,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "buildfarm-worker.dll");
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"the worker host {dll} is missing: build tests/BuildFarm.Worker.Tests (it references src/BuildFarm.Worker)", dll);
        }
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory ?? AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        // Urls, not ASPNETCORE_URLS: appsettings.json's Urls would win over the latter.
        start.Environment["Urls"] = "http://127.0.0.1:0";
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value ?? "";
        }
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                start.Environment.Remove(key);
            }
            else
            {
                start.Environment[key] = value;
            }
        }
        return new WorkerProcess(Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start"));
    }

    /// <summary>SIGKILL: no shutdown code runs, nothing is acked, released or deleted.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>SIGTERM, as the kubelet sends when a pod is stopped (scale-down, drain, rollout): the host stops
    /// gracefully. Waits for the process to exit within <paramref name="deadline"/> and returns its exit code; throws
    /// (with the output) when it is still running then.</summary>
    public async Task<int> TerminateAsync(TimeSpan deadline)
    {
        var kill = new ProcessStartInfo("kill") { UseShellExecute = false, RedirectStandardError = true };
        kill.ArgumentList.Add("-TERM");
        kill.ArgumentList.Add(_process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using (var signal = Process.Start(kill) ?? throw new InvalidOperationException("kill did not start"))
        {
            await signal.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            if (signal.ExitCode != 0)
            {
                throw new InvalidOperationException($"kill -TERM {_process.Id} exited {signal.ExitCode}: {await signal.StandardError.ReadToEndAsync()}");
            }
        }
        using var timeout = new CancellationTokenSource(deadline);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"the worker process did not exit within {deadline} of SIGTERM:\n{Output}");
        }
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }
}
