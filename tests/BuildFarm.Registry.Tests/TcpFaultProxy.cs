using System.Net;
using System.Net.Sockets;
using System.Text;

namespace BuildFarm.Registry.Tests;

/// <summary>
/// A TCP proxy on 127.0.0.1 in front of a real registry. Each accepted connection takes the next planned fault, if any:
/// <see cref="Fault.Reset"/> reads the client's first bytes and closes with RST (linger 0: the client sees ECONNRESET),
/// <see cref="Fault.ServiceUnavailable"/> answers one 503 and closes; connections without a fault are forwarded both ways.
/// </summary>
public sealed class TcpFaultProxy : IAsyncDisposable
{
    public enum Fault
    {
        Reset,
        ServiceUnavailable,
        TooManyRequests,
    }

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly Queue<Fault> _faults = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly List<Task> _connections = [];
    private int _faultsInjected;

    public TcpFaultProxy(string targetHostPort)
    {
        var colon = targetHostPort.LastIndexOf(':');
        _target = new IPEndPoint(IPAddress.Parse(targetHostPort[..colon]), int.Parse(targetHostPort[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary><c>127.0.0.1:port</c> of the proxy.</summary>
    public string HostPort => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>Faults injected so far.</summary>
    public int FaultsInjected => Volatile.Read(ref _faultsInjected);

    /// <summary>The next connections get these faults, in order.</summary>
    public void Plan(params Fault[] faults)
    {
        lock (_faults)
        {
            foreach (var fault in faults)
            {
                _faults.Enqueue(fault);
            }
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            Fault? fault = null;
            lock (_faults)
            {
                if (_faults.Count > 0)
                {
                    fault = _faults.Dequeue();
                }
            }
            lock (_connections)
            {
                _connections.Add(HandleAsync(client, fault));
            }
        }
    }

    private async Task HandleAsync(Socket client, Fault? fault)
    {
        try
        {
            if (fault is { } f)
            {
                var buffer = new byte[4096];
                await client.ReceiveAsync(buffer, _stop.Token);
                Interlocked.Increment(ref _faultsInjected);
                if (f == Fault.Reset)
                {
                    client.LingerState = new LingerOption(true, 0);
                }
                else
                {
                    var (code, text) = f == Fault.ServiceUnavailable ? (503, "Service Unavailable") : (429, "Too Many Requests");
                    await client.SendAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 {code} {text}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"), _stop.Token);
                    client.Shutdown(SocketShutdown.Send);
                }
                client.Close();
                return;
            }
            using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await upstream.ConnectAsync(_target, _stop.Token);
            await Task.WhenAny(PumpAsync(client, upstream), PumpAsync(upstream, client));
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // a closed side ends the connection
        }
        finally
        {
            client.Dispose();
        }
    }

    private async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var read = await from.ReceiveAsync(buffer, _stop.Token);
            if (read == 0)
            {
                to.Shutdown(SocketShutdown.Send);
                return;
            }
            await to.SendAsync(buffer.AsMemory(0, read), _stop.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        Task[] connections;
        lock (_connections)
        {
            connections = [.. _connections];
        }
        await Task.WhenAll(connections);
        _stop.Dispose();
    }
}
