using System.Diagnostics;
using System.Text;

namespace BuildFarm.Dashboards.Tests;

/// <summary>
/// The real <c>prometheus</c> and <c>promtool</c> binaries, named by BUILDFARM_TEST_PROMETHEUS and BUILDFARM_TEST_PROMTOOL
/// (absolute paths; ./test.sh installs the Debian package and exports both). Tests that use them carry
/// <c>[NeedsServer(Server.Prometheus)]</c>: skipped with the reason locally without the variables, failed under CI.
/// </summary>
internal static class PrometheusTools
{
    public static string Prometheus => TestEnvironment.Prometheus;

    public static string Promtool => TestEnvironment.Promtool;

    /// <summary>Runs a process to its end (or kills it after <paramref name="timeout"/>) and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string fileName, IEnumerable<string> arguments, string workingDirectory, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{fileName} did not start");
        var output = new StringBuilder();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw new TimeoutException($"{fileName} {string.Join(' ', start.ArgumentList)} did not finish within {timeout}");
        }
        output.Append(await stdout).Append(await stderr);
        return (process.ExitCode, output.ToString());
    }
}
