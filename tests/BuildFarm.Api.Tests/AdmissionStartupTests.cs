using System.Diagnostics;
using System.Text;
using BuildFarm.Api.Hosting;

namespace BuildFarm.Api.Tests;

/// <summary>
/// The API host process with <c>Scheduling:Admission</c> on and no <c>Redis:ConnectionString</c>: its admission store would
/// be in process, where no worker sees the builds it queues, so it refuses to start with one line naming both settings
/// (exit code 2) instead of answering 202 to builds that never run.
/// </summary>
public sealed class AdmissionStartupTests
{
    [Fact]
    public async Task Api_AdmissionWithoutRedis_ExitsWithOneLineNamingBothSettings()
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "buildfarm-api.dll"));
        start.Environment["Urls"] = "http://127.0.0.1:0";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["Api__Keys__me__Key"] = "admission-test-key-0123456789";
        start.Environment["Api__Keys__me__Scopes"] = "submit,read";
        start.Environment["Scheduling__Admission"] = "true";
        start.Environment["Redis__ConnectionString"] = "";
        start.Environment["Status__RedisConnectionString"] = "";
        var output = new StringBuilder();
        using var process = Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start");
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("the API did not exit:\n" + Text(output));
        }
        // The asynchronous readers have seen the end of both streams once WaitForExit (without a timeout) returns.
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));

        var text = Text(output);
        Assert.Equal(2, process.ExitCode);
        var line = Assert.Single(text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            l => l.Contains("Scheduling:Admission", StringComparison.Ordinal));
        Assert.StartsWith("buildfarm-api: configuration: Scheduling:Admission: true needs Redis:ConnectionString (environment Redis__ConnectionString)",
            line, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", text, StringComparison.Ordinal);
        Assert.Single(ApiServiceCollectionExtensions.ConfigurationSettings.Requirements!);
    }

    private static string Text(StringBuilder output)
    {
        lock (output)
        {
            return output.ToString();
        }
    }
}
