using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;

namespace BuildFarm.Registry;

/// <summary>A user name and password (or token) for one registry, from a Docker config.json.</summary>
public sealed record RegistryCredential(string Username, string Password)
{
    /// <summary>An <c>identitytoken</c> (OAuth2 refresh token) instead of a password; the token endpoint is then asked
    /// with a POST (<c>grant_type=refresh_token</c>), as Docker does.</summary>
    public string? IdentityToken { get; init; }

    public override string ToString() => $"RegistryCredential {{ Username = {Username}, Password = *** }}";
}

/// <summary>
/// Registry credentials from a Docker <c>config.json</c>: the file the farm mounts for Kaniko from the registry Secret
/// (key <c>.dockerconfigjson</c>, docs/pod-spec.md). Reads <c>auths</c> entries: <c>auth</c> (base64 of
/// <c>user:password</c>), <c>username</c>/<c>password</c> and <c>identitytoken</c>. Credential helpers
/// (<c>credsStore</c>, <c>credHelpers</c>) are programs to run and are not supported: such a registry is asked anonymously.
/// </summary>
public sealed class DockerConfig
{
    /// <summary>Largest config.json read (a Secret holds at most 1 MiB).</summary>
    public const int MaxBytes = 1024 * 1024;

    public static DockerConfig Empty { get; } = new(new Dictionary<string, RegistryCredential>(StringComparer.OrdinalIgnoreCase));

    private readonly IReadOnlyDictionary<string, RegistryCredential> _byHost;

    private DockerConfig(IReadOnlyDictionary<string, RegistryCredential> byHost) => _byHost = byHost;

    /// <summary>The hosts with credentials, normalised (<c>docker.io</c> for Docker Hub's keys).</summary>
    public IReadOnlyCollection<string> Hosts => [.. _byHost.Keys];

    /// <summary>The credential for <paramref name="registry"/> (<c>host[:port]</c>, as in <see cref="RegistryReference.Registry"/>), if any.</summary>
    public RegistryCredential? Find(string registry) => _byHost.GetValueOrDefault(NormalizeHost(registry));

    /// <summary>Reads <paramref name="path"/>; a missing file is <see cref="Empty"/>.</summary>
    public static DockerConfig Load(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            return Empty;
        }
        if (info.Length > MaxBytes)
        {
            throw new InvalidDataException($"{path}: {info.Length} bytes, over the limit of {MaxBytes} for a Docker config.json");
        }
        return TryParse(File.ReadAllBytes(path), out var config, out var error)
            ? config
            : throw new InvalidDataException($"{path}: {error}");
    }

    public static bool TryParse(ReadOnlySpan<byte> json, [NotNullWhen(true)] out DockerConfig? config, [NotNullWhen(false)] out string? error)
    {
        config = null;
        if (json.Length > MaxBytes)
        {
            error = $"{json.Length} bytes, over the limit of {MaxBytes} for a Docker config.json";
            return false;
        }
        var byHost = new Dictionary<string, RegistryCredential>(StringComparer.OrdinalIgnoreCase);
        try
        {
            using var document = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                error = "a Docker config.json is a JSON object";
                return false;
            }
            if (!document.RootElement.TryGetProperty("auths", out var auths))
            {
                config = new DockerConfig(byHost);
                error = null;
                return true;
            }
            if (auths.ValueKind != JsonValueKind.Object)
            {
                error = "'auths' must be an object of registry → credentials";
                return false;
            }
            foreach (var entry in auths.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.Object)
                {
                    error = $"auths['{OciDigest.Shown(entry.Name)}'] must be an object";
                    return false;
                }
                if (!TryReadCredential(entry.Name, entry.Value, out var credential, out error))
                {
                    return false;
                }
                if (credential is not null)
                {
                    byHost[NormalizeHost(entry.Name)] = credential;
                }
            }
        }
        catch (JsonException e)
        {
            error = $"not valid JSON: {e.Message}";
            return false;
        }
        config = new DockerConfig(byHost);
        error = null;
        return true;
    }

    private static bool TryReadCredential(string key, JsonElement value, out RegistryCredential? credential, [NotNullWhen(false)] out string? error)
    {
        credential = null;
        string? user = String(value, "username");
        string? password = String(value, "password");
        var identityToken = String(value, "identitytoken");
        if (String(value, "auth") is { Length: > 0 } auth)
        {
            string decoded;
            try
            {
                decoded = Encoding.UTF8.GetString(Convert.FromBase64String(auth));
            }
            catch (FormatException)
            {
                error = $"auths['{OciDigest.Shown(key)}'].auth is not base64";
                return false;
            }
            var colon = decoded.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                error = $"auths['{OciDigest.Shown(key)}'].auth must decode to user:password";
                return false;
            }
            user = decoded[..colon];
            password = decoded[(colon + 1)..];
        }
        if (!string.IsNullOrEmpty(identityToken))
        {
            credential = new RegistryCredential(user ?? "", "") { IdentityToken = identityToken };
        }
        else if (!string.IsNullOrEmpty(user) || !string.IsNullOrEmpty(password))
        {
            credential = new RegistryCredential(user ?? "", password ?? "");
        }
        error = null;
        return true;
    }

    private static string? String(JsonElement value, string name) =>
        value.TryGetProperty(name, out var property) && property.ValueKind == JsonValueKind.String ? property.GetString() : null;

    /// <summary>
    /// The host of a config key: <c>https://registry.example.com/v1/</c> → <c>registry.example.com</c>; Docker Hub's
    /// keys (<c>https://index.docker.io/v1/</c>, <c>registry-1.docker.io</c>) → <c>docker.io</c>.
    /// </summary>
    public static string NormalizeHost(string key)
    {
        var host = key.Trim();
        var scheme = host.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
        {
            host = host[(scheme + 3)..];
        }
        var slash = host.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            host = host[..slash];
        }
        host = host.ToLowerInvariant();
        return host is "index.docker.io" or "registry-1.docker.io" or "registry.hub.docker.com" ? RegistryReference.DockerHub : host;
    }
}
