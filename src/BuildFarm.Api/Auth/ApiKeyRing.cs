using System.Security.Cryptography;
using System.Text;
using BuildFarm.Api.Options;
using BuildFarm.Status;
using Microsoft.Extensions.Options;

namespace BuildFarm.Api.Auth;

/// <summary>A configured API key: its name (what the logs and records show), scopes and tenant (the team whose builds it
/// sees). The key itself is kept only as its SHA-256.</summary>
public sealed record ApiKey(string Name, IReadOnlySet<string> Scopes, string Tenant);

/// <summary>
/// The API keys, loaded once at start from <c>Api:Keys:&lt;name&gt;:Key</c> / <c>:Scopes</c> / <c>:Tenant</c> and from
/// <c>Api:KeysDirectory</c> (one file per key, named after it, e.g. a mounted Kubernetes Secret). Lookup compares the
/// SHA-256 of the presented token with every key's hash using <see cref="CryptographicOperations.FixedTimeEquals"/>,
/// without stopping at a match, so timing does not tell how much of a key was right.
/// </summary>
public sealed class ApiKeyRing
{
    private readonly List<(byte[] Hash, ApiKey Key)> _keys;

    public ApiKeyRing(IReadOnlyList<(string Name, string Secret, IReadOnlySet<string> Scopes, string Tenant)> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        _keys = [.. keys.Select(k => (Hash(k.Secret), new ApiKey(k.Name, k.Scopes, k.Tenant)))];
    }

    public int Count => _keys.Count;

    public IEnumerable<string> Names => _keys.Select(k => k.Key.Name);

    public IEnumerable<ApiKey> Keys => _keys.Select(k => k.Key);

    /// <summary>The key whose secret is <paramref name="token"/>, or null.</summary>
    public ApiKey? Find(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        var presented = Hash(token);
        ApiKey? found = null;
        foreach (var (hash, key) in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(presented, hash))
            {
                found = key;
            }
        }
        return found;
    }

    private static byte[] Hash(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    /// <summary>Reads the keys from configuration and the keys directory. Throws <see cref="OptionsValidationException"/>
    /// naming the bad entry (never its secret), which the host reports as one line at start.</summary>
    public static ApiKeyRing Load(IConfiguration configuration, ApiOptions options)
    {
        try
        {
            return LoadCore(configuration, options);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            throw new OptionsValidationException($"{ApiOptions.SectionName}:Keys", typeof(ApiKeyRing), [e.Message]);
        }
    }

    private static ApiKeyRing LoadCore(IConfiguration configuration, ApiOptions options)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(options);
        var entries = new Dictionary<string, (string? Secret, IReadOnlySet<string>? Scopes, string? Tenant)>(StringComparer.Ordinal);
        foreach (var section in configuration.GetSection($"{ApiOptions.SectionName}:Keys").GetChildren())
        {
            var scopesSection = section.GetSection("Scopes");
            var scopes = scopesSection.Value is not null
                ? ParseScopes(scopesSection.Value, $"Api:Keys:{section.Key}:Scopes")
                : scopesSection.GetChildren().Any()
                    ? ParseScopes(string.Join(',', scopesSection.GetChildren().Select(c => c.Value)), $"Api:Keys:{section.Key}:Scopes")
                    : null;
            entries[section.Key] = (section["Key"], scopes, section["Tenant"]);
        }
        if (!string.IsNullOrEmpty(options.KeysDirectory))
        {
            foreach (var file in Directory.EnumerateFiles(options.KeysDirectory).Order(StringComparer.Ordinal))
            {
                var name = Path.GetFileName(file);
                // A Kubernetes Secret volume also holds ..data and ..<timestamp> entries: skip anything hidden.
                if (name.StartsWith('.'))
                {
                    continue;
                }
                var secret = File.ReadAllText(file).Trim();
                var (scopes, tenant) = entries.TryGetValue(name, out var existing) ? (existing.Scopes, existing.Tenant) : (null, null);
                entries[name] = (secret, scopes ?? ParseScopes(options.DefaultScopes, "Api:DefaultScopes"), tenant);
            }
        }
        var keys = new List<(string, string, IReadOnlySet<string>, string)>();
        foreach (var (name, (secret, scopes, tenant)) in entries)
        {
            if (string.IsNullOrWhiteSpace(secret))
            {
                throw new InvalidOperationException($"API key '{name}' has no key: set Api:Keys:{name}:Key or put a file '{name}' in Api:KeysDirectory");
            }
            if (secret.Length < 16)
            {
                throw new InvalidOperationException($"API key '{name}' is shorter than 16 characters; use a long random value");
            }
            if (scopes is null || scopes.Count == 0)
            {
                throw new InvalidOperationException($"API key '{name}' has no scopes: set Api:Keys:{name}:Scopes to some of {string.Join(", ", ApiScopes.All)}");
            }
            // A key without a tenant is a tenant of its own, named after the key: it sees only what it submitted.
            var owner = string.IsNullOrWhiteSpace(tenant) ? name : tenant.Trim();
            if (Tenants.Problem(owner) is { } problem)
            {
                throw new InvalidOperationException(string.IsNullOrWhiteSpace(tenant)
                    ? $"API key '{name}' has no Api:Keys:{name}:Tenant and its name is not a tenant name ({problem}); set Api:Keys:{name}:Tenant"
                    : $"Api:Keys:{name}:Tenant: {problem}");
            }
            keys.Add((name, secret, scopes, owner));
        }
        var ring = new ApiKeyRing(keys);
        var duplicates = keys.GroupBy(k => k.Item2, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => string.Join(" and ", g.Select(k => k.Item1))).ToList();
        if (duplicates.Count > 0)
        {
            throw new InvalidOperationException($"API keys {duplicates[0]} have the same key; each key must be unique");
        }
        return ring;
    }

    /// <summary>Parses <c>submit,read</c> (commas or spaces); throws naming an unknown scope.</summary>
    public static IReadOnlySet<string> ParseScopes(string text, string setting)
    {
        ArgumentNullException.ThrowIfNull(text);
        var scopes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var scope in text.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!ApiScopes.All.Contains(scope))
            {
                throw new InvalidOperationException($"{setting}: unknown scope '{scope}'; scopes are {string.Join(", ", ApiScopes.All)}");
            }
            scopes.Add(scope);
        }
        return scopes;
    }
}

/// <summary>Nothing but a hook: resolving it loads the <see cref="ApiKeyRing"/>, which the host does at start.</summary>
public sealed class ApiKeysChecked;
