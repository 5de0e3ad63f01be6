using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace BuildFarm.Dashboards.Tests;

/// <summary>
/// A real <c>prometheus</c> process of the test's own: a generated config (1 s scrapes and rule evaluations, the shipped
/// rules), its TSDB in a temporary folder, the HTTP API on 127.0.0.1 at a free port. Disposing kills it and deletes the folder.
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly DirectoryInfo _dir;
    private readonly StringBuilder _log = new();

    private PrometheusServer(Process process, DirectoryInfo dir, Uri address)
    {
        _process = process;
        _dir = dir;
        Address = address;
        Http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(10) };
    }

    public Uri Address { get; }

    public HttpClient Http { get; }

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>
    /// The scrape config: one static target per job (job name → host:port), each labelled <c>namespace="buildfarm"</c> as
    /// Kubernetes service discovery labels a pod's target (the dashboard's namespace variable reads it).
    /// </summary>
    public static string Config(IReadOnlyDictionary<string, string> targets, string rulesFile)
    {
        var config = new StringBuilder();
        config.AppendLine("global:");
        config.AppendLine("  scrape_interval: 1s");
        config.AppendLine("  scrape_timeout: 1s");
        config.AppendLine("  evaluation_interval: 1s");
        config.AppendLine("rule_files:");
        config.AppendLine($"  - '{rulesFile}'");
        config.AppendLine("scrape_configs:");
        foreach (var (job, target) in targets)
        {
            config.AppendLine($"  - job_name: {job}");
            config.AppendLine("    static_configs:");
            config.AppendLine($"      - targets: ['{target}']");
            config.AppendLine("        labels: { namespace: buildfarm }");
        }
        return config.ToString();
    }

    public static async Task<PrometheusServer> StartAsync(IReadOnlyDictionary<string, string> targets, string rulesFile)
    {
        var binary = PrometheusTools.Prometheus;
        var dir = Directory.CreateTempSubdirectory("buildfarm-prometheus-");
        var configPath = Path.Combine(dir.FullName, "prometheus.yml");
        await File.WriteAllTextAsync(configPath, Config(targets, rulesFile));
        var port = FreePort();
        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = dir.FullName,
        };
        foreach (var argument in new[]
        {
            $"--config.file={configPath}", $"--storage.tsdb.path={Path.Combine(dir.FullName, "data")}",
            $"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
        })
        {
            start.ArgumentList.Add(argument);
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException($"{binary} did not start");
        var server = new PrometheusServer(process, dir, new Uri($"http://127.0.0.1:{port}/"));
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await server.WaitUntilAsync(async () =>
            {
                using var response = await server.Http.GetAsync(new Uri("/-/ready", UriKind.Relative));
                return response.IsSuccessStatusCode;
            }, "prometheus to be ready", TimeSpan.FromSeconds(60));
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        return server;
    }

    /// <summary>GET /api/v1/query; fails unless Prometheus answers status success. Returns data.result.</summary>
    public async Task<JsonElement> QueryAsync(string expr)
    {
        var json = await GetAsync($"/api/v1/query?query={Uri.EscapeDataString(expr)}");
        var data = json.GetProperty("data");
        Assert.True(data.GetProperty("resultType").GetString() is "vector" or "scalar",
            $"query returned {data.GetProperty("resultType")}, not an instant vector: {expr}");
        return data.GetProperty("result");
    }

    /// <summary>GET a Prometheus API path; fails with Prometheus' own error unless it says status success.</summary>
    public async Task<JsonElement> GetAsync(string pathAndQuery)
    {
        using var response = await Http.GetAsync(new Uri(pathAndQuery, UriKind.Relative));
        var body = await response.Content.ReadAsStringAsync();
        using var document = JsonDocument.Parse(body);
        var root = document.RootElement.Clone();
        Assert.True(response.IsSuccessStatusCode && root.GetProperty("status").GetString() == "success",
            $"Prometheus {pathAndQuery} answered {(int)response.StatusCode}: {body}");
        return root;
    }

    /// <summary>Polls <paramref name="probe"/> (every 200 ms) until true; fails naming <paramref name="what"/> and showing the log.</summary>
    public async Task WaitUntilAsync(Func<Task<bool>> probe, string what, TimeSpan deadline)
    {
        var clock = Stopwatch.StartNew();
        Exception? last = null;
        while (clock.Elapsed < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"prometheus exited with code {_process.ExitCode} while waiting for {what}:\n{Log}");
            }
            try
            {
                if (await probe())
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or Xunit.Sdk.XunitException)
            {
                last = e;
            }
            await Task.Delay(200);
        }
        throw new TimeoutException($"timed out after {deadline.TotalSeconds}s waiting for {what} (last error: {last?.Message ?? "none"}); prometheus log:\n{Log}");
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        _dir.Delete(recursive: true);
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_log)
        {
            _log.AppendLine(line);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
