using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace BuildFarm.Worker.Tests;

/// <summary>Free ports and a redis-server of a test's own (to stop and restart mid-run).</summary>
internal static class TestPorts
{
    /// <summary>A port nothing listens on right now (the OS picks it; released at once).</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static async Task<bool> AcceptsAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

/// <summary>
/// A redis-server child process on a fixed free port, without persistence, that a test stops (SIGKILL) and starts again
/// on the same port: a Redis restart loses every key, as a real unpersisted Redis would.
/// </summary>
internal sealed class RedisServerProcess : IAsyncDisposable
{
    private Process? _process;

    private RedisServerProcess(int port) => Port = port;

    public int Port { get; }

    /// <summary>A connection string with short timeouts, so that an outage is noticed within about a second.</summary>
    public string ConnectionString => $"127.0.0.1:{Port},connectTimeout=500,asyncTimeout=1000,syncTimeout=1000,connectRetry=1";

    public static async Task<RedisServerProcess> StartAsync()
    {
        var server = new RedisServerProcess(TestPorts.Free());
        await server.StartAgainAsync();
        return server;
    }

    public async Task StartAgainAsync()
    {
        var start = new ProcessStartInfo("redis-server")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "--bind", "127.0.0.1", "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--save", "", "--appendonly", "no", "--dir", Path.GetTempPath() })
        {
            start.ArgumentList.Add(arg);
        }
        try
        {
            _process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("redis-server is not installed: run the tests with ./test.sh, which installs it", e);
        }
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await Eventually.UntilAsync(() => TestPorts.AcceptsAsync(Port), $"redis-server on port {Port}", TimeSpan.FromSeconds(15));
    }

    /// <summary>Kills the server (SIGKILL) and waits until the port no longer accepts connections.</summary>
    public async Task StopAsync()
    {
        if (_process is null)
        {
            return;
        }
        _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
        _process = null;
        await Eventually.UntilAsync(async () => !await TestPorts.AcceptsAsync(Port), $"redis-server on port {Port} to stop", TimeSpan.FromSeconds(15));
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
