using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace BuildFarm.Cli.Tests;

/// <summary>
/// <c>buildfarm demo --serve</c> as a user runs it: a process of its own, reached with the URL and key it prints, stopped
/// with a signal.
/// </summary>
public sealed partial class DemoServeTests
{
    [GeneratedRegex(@"^\s*export BUILDFARM_API=(\S+) BUILDFARM_API_KEY=(\S+)$")]
    private static partial Regex ExportLine();

    [Theory]
    [InlineData("INT")]
    [InlineData("TERM")]
    public async Task Serve_BuildsFromOtherClients_StopsCleanlyOnSignal(string signal)
    {
        using var farm = StartServe();
        try
        {
            var (api, key) = await farm.WaitForExportAsync(TimeSpan.FromSeconds(90));

            // The real CLI against the served farm: a build that succeeds.
            var submit = await CliRunner.RunAsync("submit", "--context", "s3://ctx-bucket/app.tar.gz", "--destination", "registry.example.com/serve/app:1",
                "--wait", "--output", "json", "--api", api, "--api-key", key);
            Assert.True(submit.ExitCode == 0, submit.Error + submit.Out);
            var build = JsonDocument.Parse(submit.Out).RootElement.GetProperty("builds")[0];
            Assert.Equal("succeeded", build.GetProperty("state").GetString());
            var status = await CliRunner.RunAsync("status", build.GetProperty("buildId").GetString()!, "--api", api, "--api-key", key);
            Assert.True(status.ExitCode == 0, status.Error + status.Out);

            // curl's view: the list with the bearer key.
            using var http = new HttpClient();
            using var request = new HttpRequestMessage(HttpMethod.Get, api + "v1/builds");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            using var response = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains(build.GetProperty("buildId").GetString()!, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);

            // A build still going when the signal comes is cancelled, and no pod is left.
            var pending = await CliRunner.RunAsync("submit", "--context", "s3://ctx-bucket/app.tar.gz", "--destination", "registry.example.com/serve/late:1",
                "--api", api, "--api-key", key);
            Assert.True(pending.ExitCode == 0, pending.Error + pending.Out);
            farm.Signal(signal);
            var exit = await farm.WaitForExitAsync(TimeSpan.FromSeconds(60));

            Assert.True(exit == 0, $"exit {exit}\n{farm.Output}\n{farm.Errors}");
            Assert.Contains("stopping: cancelling the builds still going", farm.Output, StringComparison.Ordinal);
            Assert.Contains("pods left in the cluster: 0", farm.Output, StringComparison.Ordinal);
            Assert.EndsWith("stopped", farm.Output.TrimEnd(), StringComparison.Ordinal);
            Assert.DoesNotContain("Exception", farm.Errors, StringComparison.Ordinal);
        }
        finally
        {
            farm.KillIfRunning();
        }
    }

    [Fact]
    public async Task Serve_WithImages_ExitsTwo()
    {
        var result = await CliRunner.RunAsync("demo", "--serve", "--images", "3");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--serve submits nothing", result.Error, StringComparison.Ordinal);
    }

    private static ServedFarm StartServe()
    {
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { CliDll(), "demo", "--serve" })
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment.Remove("BUILDFARM_API");
        info.Environment.Remove("BUILDFARM_API_KEY");
        return new ServedFarm(Process.Start(info) ?? throw new InvalidOperationException("cannot start buildfarm"));
    }

    /// <summary>
    /// The CLI as built in its own project (src/BuildFarm.Cli/bin/&lt;configuration&gt;/&lt;tfm&gt;/buildfarm.dll), with its own
    /// dependencies: the copy in this test's folder shares the test's resolved assemblies and does not run on its own.
    /// </summary>
    private static string CliDll()
    {
        var tfm = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory));
        var configuration = tfm.Parent!.Name;
        var dll = Path.Combine(TestPaths.RepoRoot, "src", "BuildFarm.Cli", "bin", configuration, tfm.Name, "buildfarm.dll");
        Assert.True(File.Exists(dll), $"{dll} is not built");
        return dll;
    }

    private sealed class ServedFarm : IDisposable
    {
        private readonly Process _process;
        private readonly ConcurrentQueue<string> _out = new();
        private readonly ConcurrentQueue<string> _err = new();

        public ServedFarm(Process process)
        {
            _process = process;
            _process.OutputDataReceived += (_, e) => { if (e.Data is not null) { _out.Enqueue(e.Data); } };
            _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { _err.Enqueue(e.Data); } };
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public string Output => string.Join('\n', _out);

        public string Errors => string.Join('\n', _err);

        /// <summary>Polls the output for the export line until <paramref name="timeout"/>; returns the API URL and key.</summary>
        public async Task<(string Api, string Key)> WaitForExportAsync(TimeSpan timeout)
        {
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < timeout && !_process.HasExited)
            {
                foreach (var line in _out)
                {
                    if (ExportLine().Match(line) is { Success: true } m)
                    {
                        return (m.Groups[1].Value, m.Groups[2].Value);
                    }
                }
                await Task.Delay(50);
            }
            throw new TimeoutException($"no export line within {timeout} (exited: {_process.HasExited})\n{Output}\n{Errors}");
        }

        public void Signal(string signal)
        {
            using var kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            kill.WaitForExit();
            Assert.Equal(0, kill.ExitCode);
        }

        public async Task<int> WaitForExitAsync(TimeSpan timeout)
        {
            using var deadline = new CancellationTokenSource(timeout);
            await _process.WaitForExitAsync(deadline.Token);
            _process.WaitForExit(); // drains the redirected streams
            return _process.ExitCode;
        }

        public void KillIfRunning()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }

        public void Dispose() => _process.Dispose();
    }
}
