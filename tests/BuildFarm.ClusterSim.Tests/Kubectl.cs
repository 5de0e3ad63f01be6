using System.Diagnostics;
using System.Text;

namespace BuildFarm.ClusterSim.Tests;

/// <summary>Runs the real kubectl with a kubeconfig, every run bounded by a timeout.</summary>
internal sealed class Kubectl
{
    private readonly string _kubeconfig;

    public Kubectl(string kubeconfig) => _kubeconfig = kubeconfig;

    public static string? Path => TestEnvironment.Kubectl;

    public sealed record Result(int ExitCode, string Out, string Error);

    public async Task<Result> RunAsync(params string[] args) => await RunAsync(TimeSpan.FromSeconds(30), null, args);

    public async Task<Result> RunAsync(TimeSpan timeout, string? stdin, params string[] args)
    {
        using var process = Start(args);
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"kubectl {string.Join(' ', args)} did not finish within {timeout.TotalSeconds}s; stderr: {await stderr}");
        }
        return new Result(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts kubectl and returns the process (for -w and -f); the caller kills it.</summary>
    public Process Start(params string[] args)
    {
        var info = new ProcessStartInfo(Path ?? throw new InvalidOperationException("kubectl is not installed"))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        info.ArgumentList.Add("--kubeconfig");
        info.ArgumentList.Add(_kubeconfig);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }
        info.Environment["KUBECACHEDIR"] = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "buildfarm-sim-kubecache-" + Environment.ProcessId);
        return Process.Start(info) ?? throw new InvalidOperationException("kubectl did not start");
    }
}
