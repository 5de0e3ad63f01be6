using System.Diagnostics;
using System.Text;

namespace BuildFarm.Dashboards.Tests;

/// <summary>
/// The real <c>prometheus</c> and <c>promtool</c> binaries, named by BUILDFARM_TEST_PROMETHEUS and BUILDFARM_TEST_PROMTOOL
/// (absolute paths; ./test.sh installs the Debian package and exports both). Missing ones fail the test, never skip it.
/// </summary>
internal static class PrometheusTools
{
    public const string PrometheusVariable = "BUILDFARM_TEST_PROMETHEUS";
    public const string PromtoolVariable = "BUILDFARM_TEST_PROMTOOL";

    public static string Prometheus => Require(PrometheusVariable, "prometheus");

    public static string Promtool => Require(PromtoolVariable, "promtool");

    private static string Require(string variable, string binary)
    {
        var path = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new InvalidOperationException(
                $"{variable} is not set: these tests run the real {binary}. Run ./test.sh (it installs the Debian prometheus " +
                $"package and exports {variable}), or export {variable}=/usr/bin/{binary} yourself.");
        }
        if (!Path.IsPathRooted(path) || !File.Exists(path))
        {
            throw new InvalidOperationException($"{variable}={path} is not an absolute path to an existing {binary} binary. Run ./test.sh.");
        }
        return path;
    }

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
