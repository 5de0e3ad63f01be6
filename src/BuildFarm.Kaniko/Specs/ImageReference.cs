using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace BuildFarm.Kaniko.Specs;

/// <summary>
/// A container image reference parsed by the OCI distribution reference grammar
/// (<c>[domain[:port]/]path-component[/path-component…][:tag][@algorithm:hex]</c>) and normalised
/// the way Docker does: no domain means <c>docker.io</c>, a single-component Docker Hub name gets
/// <c>library/</c>, and <c>index.docker.io</c> becomes <c>docker.io</c>.
/// </summary>
public sealed partial record ImageReference
{
    /// <summary>The registry Docker Hub references normalise to.</summary>
    public const string DockerHubRegistry = "docker.io";

    private const int MaxNameLength = 255;

    private ImageReference(string registry, string repository, string? tag, string? digest)
    {
        Registry = registry;
        Repository = repository;
        Tag = tag;
        Digest = digest;
    }

    /// <summary>Registry host with its port when one was given, lower case: <c>docker.io</c>,
    /// <c>registry.example.com:5000</c>, <c>localhost:5000</c>, <c>[::1]:5000</c>.</summary>
    public string Registry { get; }

    /// <summary>Repository path inside the registry: <c>library/alpine</c>, <c>team/app</c>.</summary>
    public string Repository { get; }

    /// <summary>The tag, or null when none was given (Kaniko then uses <c>latest</c>).</summary>
    public string? Tag { get; }

    /// <summary>The digest <c>algorithm:hex</c>, or null.</summary>
    public string? Digest { get; }

    /// <summary><c>Registry/Repository</c>: the fully qualified name without tag or digest.</summary>
    public string Name => $"{Registry}/{Repository}";

    /// <summary>The registry host without its port (for per-registry slots and metric labels).</summary>
    public string RegistryHost
    {
        get
        {
            if (Registry.StartsWith('['))
            {
                var end = Registry.IndexOf(']', StringComparison.Ordinal);
                return Registry[..(end + 1)];
            }
            var colon = Registry.IndexOf(':', StringComparison.Ordinal);
            return colon < 0 ? Registry : Registry[..colon];
        }
    }

    /// <summary>True when the reference names a sha256 digest (the image is pinned).</summary>
    public bool IsPinnedBySha256 => Digest is not null && Digest.StartsWith("sha256:", StringComparison.Ordinal);

    /// <summary>The normalised reference: <c>Name[:Tag][@Digest]</c>.</summary>
    public override string ToString() =>
        Name + (Tag is null ? "" : ":" + Tag) + (Digest is null ? "" : "@" + Digest);

    /// <summary>Parses <paramref name="value"/> or throws <see cref="FormatException"/> saying what is wrong.</summary>
    public static ImageReference Parse(string value)
    {
        if (TryParse(value, out var reference, out var error))
        {
            return reference;
        }
        throw new FormatException($"invalid image reference '{value}': {error}");
    }

    public static bool TryParse(string? value, [NotNullWhen(true)] out ImageReference? reference) =>
        TryParse(value, out reference, out _);

    /// <summary>Parses <paramref name="value"/>; on failure <paramref name="error"/> says what is wrong.</summary>
    public static bool TryParse(
        string? value,
        [NotNullWhen(true)] out ImageReference? reference,
        [NotNullWhen(false)] out string? error)
    {
        reference = null;
        if (string.IsNullOrEmpty(value))
        {
            error = "it is empty";
            return false;
        }
        if (value.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            error = "it contains whitespace or control characters";
            return false;
        }

        var rest = value;
        string? digest = null;
        var at = rest.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            digest = rest[(at + 1)..];
            rest = rest[..at];
            if (!TryValidateDigest(digest, out error))
            {
                return false;
            }
        }

        // A tag follows the last ':' only when no '/' comes after it (otherwise that ':' is a port).
        string? tag = null;
        var lastColon = rest.LastIndexOf(':');
        if (lastColon >= 0 && rest.IndexOf('/', lastColon) < 0)
        {
            tag = rest[(lastColon + 1)..];
            rest = rest[..lastColon];
            if (!TagRegex().IsMatch(tag))
            {
                error = $"tag '{tag}' is invalid (1-128 characters: letters, digits, '_', '.', '-', not starting with '.' or '-')";
                return false;
            }
        }

        if (rest.Length == 0)
        {
            error = "the repository name is empty";
            return false;
        }

        string registry;
        string path;
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        var first = slash < 0 ? rest : rest[..slash];
        // Docker's rule: the first component is a registry when it has a '.' or ':', is
        // "localhost", or has upper-case letters (which repository paths may not have).
        if (slash >= 0 && (first.Contains('.', StringComparison.Ordinal) || first.Contains(':', StringComparison.Ordinal)
            || first == "localhost" || first.Any(char.IsUpper)))
        {
            registry = first;
            path = rest[(slash + 1)..];
            if (!TryValidateDomain(registry, out error))
            {
                return false;
            }
            registry = registry.ToLowerInvariant();
            if (registry == "index.docker.io" || registry == "registry-1.docker.io")
            {
                registry = DockerHubRegistry;
            }
        }
        else
        {
            registry = DockerHubRegistry;
            path = rest;
        }

        if (path.Any(char.IsUpper))
        {
            error = $"repository '{path}' must be lower case";
            return false;
        }
        foreach (var component in path.Split('/'))
        {
            if (!PathComponentRegex().IsMatch(component))
            {
                error = component.Length == 0
                    ? $"repository '{path}' has an empty path component"
                    : $"path component '{component}' is invalid (lower-case letters and digits, separated by '.', '_', '__' or dashes)";
                return false;
            }
        }
        if (registry == DockerHubRegistry && !path.Contains('/', StringComparison.Ordinal))
        {
            path = "library/" + path;
        }
        if (registry.Length + 1 + path.Length > MaxNameLength)
        {
            error = $"the name is longer than {MaxNameLength} characters";
            return false;
        }

        reference = new ImageReference(registry, path, tag, digest);
        error = null;
        return true;
    }

    private static bool TryValidateDigest(string digest, [NotNullWhen(false)] out string? error)
    {
        var colon = digest.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            error = $"digest '{digest}' must be 'algorithm:hex', e.g. sha256:<64 hex digits>";
            return false;
        }
        var algorithm = digest[..colon];
        var hex = digest[(colon + 1)..];
        if (!DigestAlgorithmRegex().IsMatch(algorithm))
        {
            error = $"digest algorithm '{algorithm}' is invalid";
            return false;
        }
        var expectedLength = algorithm switch
        {
            "sha256" => 64,
            "sha512" => 128,
            _ => 0,
        };
        if (expectedLength > 0)
        {
            if (hex.Length != expectedLength || !hex.All(IsLowerHex))
            {
                error = $"{algorithm} digest must be {expectedLength} lower-case hex digits";
                return false;
            }
        }
        else if (hex.Length < 32 || !hex.All(Uri.IsHexDigit))
        {
            error = $"digest '{digest}' must have at least 32 hex digits";
            return false;
        }
        error = null;
        return true;
    }

    private static bool TryValidateDomain(string domain, [NotNullWhen(false)] out string? error)
    {
        string host;
        string? port = null;
        if (domain.StartsWith('['))
        {
            var end = domain.IndexOf(']', StringComparison.Ordinal);
            if (end < 0)
            {
                error = $"registry '{domain}' has an unterminated IPv6 address";
                return false;
            }
            host = domain[..(end + 1)];
            var after = domain[(end + 1)..];
            if (after.Length > 0)
            {
                if (!after.StartsWith(':'))
                {
                    error = $"registry '{domain}' is invalid";
                    return false;
                }
                port = after[1..];
            }
            if (!System.Net.IPAddress.TryParse(host[1..^1], out var address)
                || address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                error = $"registry '{domain}' has an invalid IPv6 address";
                return false;
            }
        }
        else
        {
            var colon = domain.IndexOf(':', StringComparison.Ordinal);
            host = colon < 0 ? domain : domain[..colon];
            port = colon < 0 ? null : domain[(colon + 1)..];
            if (!HostRegex().IsMatch(host))
            {
                error = $"registry host '{host}' is invalid (letters, digits and '-', dot-separated)";
                return false;
            }
        }
        if (port is not null && (port.Length == 0 || port.Length > 5 || !port.All(char.IsAsciiDigit)
            || int.Parse(port, System.Globalization.CultureInfo.InvariantCulture) is 0 or > 65535))
        {
            error = $"registry port '{port}' is invalid (1-65535)";
            return false;
        }
        error = null;
        return true;
    }

    private static bool IsLowerHex(char c) => c is >= '0' and <= '9' or >= 'a' and <= 'f';

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\z", RegexOptions.CultureInvariant)]
    private static partial Regex TagRegex();

    [GeneratedRegex(@"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\z", RegexOptions.CultureInvariant)]
    private static partial Regex PathComponentRegex();

    [GeneratedRegex(@"^[a-z][a-z0-9]*(?:[+._-][a-z][a-z0-9]*)*\z", RegexOptions.CultureInvariant)]
    private static partial Regex DigestAlgorithmRegex();

    [GeneratedRegex(@"^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])(?:\.(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))*\z", RegexOptions.CultureInvariant)]
    private static partial Regex HostRegex();
}
