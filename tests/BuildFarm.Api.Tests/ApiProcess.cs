using System.Diagnostics;
using System.Text;

namespace BuildFarm.Api.Tests;

/// <summary>The API host process (buildfarm-api.dll beside the tests) started as an operator starts it, its output captured.</summary>
internal sealed class ApiProcess : IDisposable
{
    private readonly StringBuilder _output = new();

    private ApiProcess(Process process) => Process = process;

    public Process Process { get; }

    /// <summary>Everything the process wrote to stdout and stderr so far.</summary>
    public string Text
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts the API in <paramref name="workingDirectory"/> with <paramref name="environment"/> (a null value
    /// removes the variable).</summary>
    public static ApiProcess Start(string workingDirectory, IReadOnlyDictionary<string, string?> environment)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "buildfarm-api.dll"));
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in environment)
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }
        var api = new ApiProcess(Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start"));
        api.Process.OutputDataReceived += (_, e) => api.Append(e.Data);
        api.Process.ErrorDataReceived += (_, e) => api.Append(e.Data);
        api.Process.BeginOutputReadLine();
        api.Process.BeginErrorReadLine();
        return api;
    }

    private void Append(string? line)
    {
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    public void Dispose() => Process.Dispose();
}
