using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using BuildFarm.ClusterSim.Api;
using BuildFarm.ClusterSim.Kubelet;
using BuildFarm.ClusterSim.Scenarios;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace BuildFarm.ClusterSim.Hosting;

/// <summary>How to start a simulator.</summary>
public sealed record ClusterSimulatorOptions
{
    /// <summary>Address to bind; loopback unless told otherwise.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>Port to bind; 0 picks a free one (see <see cref="ClusterSimulator.Address"/>).</summary>
    public int Port { get; init; }

    public long Seed { get; init; } = 1;

    /// <summary>Null takes the shipped default scenario.</summary>
    public Scenario? Scenario { get; init; }

    /// <summary>The scenario's YAML text, reported by <c>GET /_sim/scenario</c>.</summary>
    public string? ScenarioYaml { get; init; }

    /// <summary>When set, every API request needs <c>Authorization: Bearer &lt;token&gt;</c> (401 otherwise).</summary>
    public string? Token { get; init; }

    /// <summary>Serve HTTPS with a generated self-signed certificate (its PEM goes into the kubeconfig).</summary>
    public bool Tls { get; init; }

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>
    /// True (the default): the store's fan-out step writes each change to every free watch connection itself. False:
    /// every change goes through each watcher's own loop (one wake-up per watcher and change, the simulator's earlier
    /// behaviour), kept to compare the two under load.
    /// </summary>
    public bool DirectWatchWrites { get; init; } = true;
}

/// <summary>
/// A running simulated cluster: the API server on Kestrel, its store and the simulated kubelet. Start with
/// <see cref="StartAsync"/>; dispose to stop.
/// </summary>
public sealed class ClusterSimulator : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Lock _lock = new();
    private Scenario _scenario;

    private SimApiServer? _server;

    private ClusterSimulator(WebApplication app, Scenario scenario, SimStore store, SimClock clock, SimKubelet kubelet,
        SimStats stats, Uri address, string? caPem, string? token)
    {
        _app = app;
        _scenario = scenario;
        Store = store;
        Clock = clock;
        Kubelet = kubelet;
        Stats = stats;
        Address = address;
        CaCertificatePem = caPem;
        Token = token;
    }

    public Uri Address { get; }
    public string? CaCertificatePem { get; }
    public string? Token { get; }
    public SimStore Store { get; }
    public SimClock Clock { get; }
    public SimKubelet Kubelet { get; }
    public SimStats Stats { get; }

    public Scenario Scenario
    {
        get { lock (_lock) { return _scenario; } }
    }

    public static async Task<ClusterSimulator> StartAsync(ClusterSimulatorOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!IPAddress.TryParse(options.Host, out var ip))
        {
            throw new ArgumentException($"host \"{options.Host}\" is not an IP address", nameof(options));
        }
        if (options.Port is < 0 or > 65535)
        {
            throw new ArgumentException($"port {options.Port} is not between 0 and 65535", nameof(options));
        }
        var scenario = options.Scenario ?? ScenarioLoader.Default();
        var clock = new SimClock(options.TimeProvider, scenario.TimeScale);
        var store = new SimStore(() => clock.Now, scenario.History)
        {
            PodQuota = scenario.Quota.PodsPerNamespace, MaxContainerMemory = scenario.Quota.MaxContainerMemoryQuantity(),
        };
        var stats = new SimStats();
        store.PodTerminated = stats.PodTerminated;
        ClusterSimulator? sim = null;
        var kubelet = new SimKubelet(store, clock, () => sim?.Scenario ?? scenario, options.Seed, stats);

        X509Certificate2? certificate = options.Tls ? CreateCertificate(ip) : null;
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<IHostLifetime, EmbeddedHostLifetime>();
        // Watch fan-out (see WatchFanOut): every watcher should get a change at about the same moment.
        // - Inline scheduling: a flush sends on the flushing thread, so the fan-out step's 50 flushes are 50 sends in a
        //   row. With Kestrel's default I/O queues each send waits for a thread-pool turn after the flush, and under a
        //   create burst those turns come tens of milliseconds apart (fan-out p99 100-150 ms in SimLoad, against 36-42
        //   ms inline). It also runs request code on the thread that received the bytes, one hop fewer; nothing in
        //   the simulator blocks a thread.
        // - 1 MiB of unsent bytes per connection instead of 64 KiB (16 pod lines): a burst stays on the direct path
        //   instead of backing every watcher up into its own loop; a client that stops reading is held at that bound.
        builder.WebHost.UseSockets(s =>
        {
            s.UnsafePreferInlineScheduling = true;
            s.MaxWriteBufferSize = 1024 * 1024;
        });
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(ip, options.Port, listen =>
            {
                listen.Protocols = certificate is null ? HttpProtocols.Http1 : HttpProtocols.Http1AndHttp2;
                if (certificate is not null)
                {
                    listen.UseHttps(certificate);
                }
            });
        });
        var app = builder.Build();
        var server = new SimApiServer(store, kubelet, clock, stats, () => sim?.Scenario ?? scenario,
            (s, yaml) => sim!.Reload(s), options.Token, options.Seed)
        {
            CurrentScenarioYaml = options.ScenarioYaml,
            DirectWatchWrites = options.DirectWatchWrites,
        };
        app.Run(server.HandleAsync);
        await app.StartAsync(cancellationToken);
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var port = new Uri(bound).Port;
        var scheme = certificate is null ? "http" : "https";
        var address = new Uri($"{scheme}://{(ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ip}]" : ip.ToString())}:{port}");
        var pem = certificate?.ExportCertificatePem();
        sim = new ClusterSimulator(app, scenario, store, clock, kubelet, stats, address, pem, options.Token) { _server = server };
        return sim;
    }

    /// <summary>Replaces the scenario: time scale, capacity, quota and history apply at once; running pods keep their plan.</summary>
    public void Reload(Scenario scenario)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        lock (_lock)
        {
            _scenario = scenario;
        }
        Clock.Scale = scenario.TimeScale;
        Store.PodQuota = scenario.Quota.PodsPerNamespace;
        Store.MaxContainerMemory = scenario.Quota.MaxContainerMemoryQuantity();
        Store.HistoryLimit = scenario.History;
        Kubelet.Resize(scenario.Capacity);
    }

    /// <summary>A kubeconfig for kubectl and KubernetesClient: this server, its CA (TLS) and token, namespace default.</summary>
    public string Kubeconfig(string context = "buildfarm-sim")
    {
        var sb = new StringBuilder();
        sb.Append("apiVersion: v1\nkind: Config\n");
        sb.Append("clusters:\n- name: ").Append(context).Append("\n  cluster:\n    server: ").Append(Address.ToString().TrimEnd('/')).Append('\n');
        if (CaCertificatePem is not null)
        {
            sb.Append("    certificate-authority-data: ").Append(Convert.ToBase64String(Encoding.ASCII.GetBytes(CaCertificatePem))).Append('\n');
        }
        sb.Append("contexts:\n- name: ").Append(context).Append("\n  context:\n    cluster: ").Append(context)
            .Append("\n    user: ").Append(context).Append("\n    namespace: default\n");
        sb.Append("current-context: ").Append(context).Append('\n');
        sb.Append("preferences: {}\n");
        // KubernetesClient refuses a user without credentials, so an open server still gets a (ignored) token.
        sb.Append("users:\n- name: ").Append(context).Append("\n  user:\n    token: ").Append(Token ?? "anonymous").Append('\n');
        return sb.ToString();
    }

    public void WriteKubeconfig(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir))
        {
            Directory.CreateDirectory(dir);
        }
        File.WriteAllText(path, Kubeconfig());
    }

    private static X509Certificate2 CreateCertificate(IPAddress ip)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=buildfarm-sim", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(ip);
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var now = DateTimeOffset.UtcNow;
        using var cert = request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(30));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
    }

    public async ValueTask DisposeAsync()
    {
        _server?.Stop();
        Kubelet.Dispose();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(stop.Token);
        await _app.DisposeAsync();
        _server?.Dispose();
    }
}
