using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace BuildFarm.Registry.Tests;

/// <summary>
/// A docker-registry process of its own with token authentication (the distribution token specification), and the token
/// server it trusts: a Kestrel endpoint that checks Basic credentials and issues RS256 JWTs signed by a key whose
/// self-signed certificate is the registry's root bundle. The registry answers 401 with
/// <c>Bearer realm=…,service=…,scope=…</c> and verifies each token's signature, issuer, audience and access itself.
/// </summary>
public sealed class BearerRegistry : IAsyncDisposable
{
    public const string Service = "buildfarm-test-registry";
    public const string Issuer = "buildfarm-test-issuer";

    private readonly WebApplication _tokenServer;
    private readonly Process _registry;
    private readonly string _dir;
    private readonly RSA _key;
    private readonly X509Certificate2 _certificate;

    private BearerRegistry(WebApplication tokenServer, Process registry, string dir, RSA key, X509Certificate2 certificate, string hostPort)
    {
        _tokenServer = tokenServer;
        _registry = registry;
        _dir = dir;
        _key = key;
        _certificate = certificate;
        HostPort = hostPort;
    }

    public string HostPort { get; }

    public const string User = "token-user";
    public const string Password = "token-password";

    /// <summary>Every token request: its query string and whether the right Basic credentials came with it.</summary>
    public static ConcurrentQueue<(string Query, bool Authenticated)> TokenRequests { get; } = new();

    public static async Task<BearerRegistry> StartAsync()
    {
        var dir = Path.Combine(Path.GetTempPath(), "buildfarm-bearer-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=buildfarm test token issuer", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var bundle = Path.Combine(dir, "root.pem");
        await File.WriteAllTextAsync(bundle, certificate.ExportCertificatePem());

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var x5c = Convert.ToBase64String(certificate.RawData);
        app.MapGet("/token", (HttpContext context) =>
        {
            var authenticated = context.Request.Headers.Authorization.ToString()
                == "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{Password}"));
            TokenRequests.Enqueue((context.Request.QueryString.Value ?? "", authenticated));
            if (!authenticated)
            {
                return Results.Unauthorized();
            }
            var access = context.Request.Query["scope"].Select(s => s!.Split(':')).Where(p => p.Length == 3 && p[0] == "repository")
                .Select(p => new { type = "repository", name = p[1], actions = p[2].Split(',') }).ToArray();
            var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            var header = JsonSerializer.SerializeToUtf8Bytes(new { typ = "JWT", alg = "RS256", x5c = new[] { x5c } });
            var claims = JsonSerializer.SerializeToUtf8Bytes(new
            {
                iss = Issuer, sub = User, aud = Service, exp = now + 300, nbf = now - 10, iat = now, jti = Guid.NewGuid().ToString("N"), access,
            });
            var signingInput = Base64Url(header) + "." + Base64Url(claims);
            var signature = key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            var token = signingInput + "." + Base64Url(signature);
            return Results.Json(new { token, expires_in = 300 });
        });
        await app.StartAsync();
        var realm = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/token";

        var port = FreePort();
        var config = Path.Combine(dir, "config.yml");
        await File.WriteAllTextAsync(config, $"""
            version: 0.1
            log: {"{"}level: warn, accesslog: {"{"}disabled: true{"}"}{"}"}
            storage: {"{"}filesystem: {"{"}rootdirectory: {dir}/storage{"}"}{"}"}
            http: {"{"}addr: 127.0.0.1:{port}, secret: bearer-test{"}"}
            auth:
              token:
                realm: {realm}
                service: {Service}
                issuer: {Issuer}
                rootcertbundle: {bundle}
            """);
        var start = new ProcessStartInfo("docker-registry") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("serve");
        start.ArgumentList.Add(config);
        var registry = Process.Start(start)!;
        registry.OutputDataReceived += (_, _) => { };
        registry.ErrorDataReceived += (_, _) => { };
        registry.BeginOutputReadLine();
        registry.BeginErrorReadLine();
        var hostPort = $"127.0.0.1:{port}";
        var deadline = DateTime.UtcNow.AddSeconds(30);
        using var probe = new HttpClient();
        while (true)
        {
            try
            {
                using var response = await probe.GetAsync(new Uri($"http://{hostPort}/v2/"));
                if (response.StatusCode == HttpStatusCode.Unauthorized)
                {
                    break;
                }
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline && !registry.HasExited)
            {
                await Task.Delay(50);
                continue;
            }
            if (DateTime.UtcNow >= deadline || registry.HasExited)
            {
                throw new InvalidOperationException("docker-registry with token auth did not come up");
            }
            await Task.Delay(50);
        }
        return new BearerRegistry(app, registry, dir, key, certificate, hostPort);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public async ValueTask DisposeAsync()
    {
        if (!_registry.HasExited)
        {
            _registry.Kill();
            await _registry.WaitForExitAsync();
        }
        _registry.Dispose();
        await _tokenServer.DisposeAsync();
        _certificate.Dispose();
        _key.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
