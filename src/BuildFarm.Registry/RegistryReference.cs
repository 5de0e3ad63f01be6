using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace BuildFarm.Registry;

/// <summary>
/// An image reference split the way a registry is addressed: registry host (with port), repository, and a tag or a
/// digest (or both). <c>team/app:1</c> is <c>docker.io/team/app:1</c> and <c>app</c> is <c>docker.io/library/app</c>,
/// as Docker and Kaniko read them.
/// </summary>
public sealed partial record RegistryReference(string Registry, string Repository, string? Tag = null, string? Digest = null)
{
    public const string DockerHub = "docker.io";

    /// <summary>Longest reference accepted (Docker's name limit is 255; tag and digest come on top).</summary>
    public const int MaxLength = 512;

    /// <summary><c>registry/repository</c>, without tag or digest.</summary>
    public string Name => $"{Registry}/{Repository}";

    /// <summary>The tag, else the digest: what <c>/v2/&lt;name&gt;/manifests/&lt;reference&gt;</c> takes.</summary>
    public string? ManifestReference => Digest ?? Tag;

    public override string ToString() => Name + (Tag is null ? "" : ":" + Tag) + (Digest is null ? "" : "@" + Digest);

    /// <summary>The same repository with <paramref name="tag"/> and no digest.</summary>
    public RegistryReference WithTag(string tag) =>
        IsValidTag(tag) ? this with { Tag = tag, Digest = null } : throw new ArgumentException($"tag: '{OciDigest.Shown(tag)}' is not a valid tag", nameof(tag));

    /// <summary>The same repository with <paramref name="digest"/> and no tag.</summary>
    public RegistryReference WithDigest(string digest) => this with { Tag = null, Digest = OciDigest.Require(digest, nameof(digest)) };

    public static RegistryReference Parse(string value) =>
        TryParse(value, out var reference, out var error) ? reference : throw new FormatException(error);

    public static bool TryParse(string? value, [NotNullWhen(true)] out RegistryReference? reference, [NotNullWhen(false)] out string? error)
    {
        reference = null;
        if (string.IsNullOrWhiteSpace(value) || value.Length > MaxLength)
        {
            error = $"an image reference must be 1-{MaxLength} characters";
            return false;
        }
        var rest = value.Trim();
        string? digest = null;
        var at = rest.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            digest = rest[(at + 1)..];
            rest = rest[..at];
            if (!OciDigest.IsWellFormed(digest))
            {
                error = $"'{OciDigest.Shown(value)}': the digest must be sha256: and 64 lower-case hex digits";
                return false;
            }
        }
        string? tag = null;
        var lastSlash = rest.LastIndexOf('/');
        var colon = rest.LastIndexOf(':');
        if (colon > lastSlash)
        {
            tag = rest[(colon + 1)..];
            rest = rest[..colon];
            if (!IsValidTag(tag))
            {
                error = $"'{OciDigest.Shown(value)}': tag '{OciDigest.Shown(tag)}' is invalid (letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-')";
                return false;
            }
        }
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        string registry;
        string repository;
        var first = slash < 0 ? "" : rest[..slash];
        if (slash > 0 && (first.Contains('.', StringComparison.Ordinal) || first.Contains(':', StringComparison.Ordinal) || first == "localhost"))
        {
            registry = first.ToLowerInvariant();
            repository = rest[(slash + 1)..];
            if (!HostRegex().IsMatch(registry))
            {
                error = $"'{OciDigest.Shown(value)}': registry '{OciDigest.Shown(registry)}' is not a host[:port]";
                return false;
            }
        }
        else
        {
            registry = DockerHub;
            repository = slash < 0 ? "library/" + rest : rest;
        }
        if (registry is "index.docker.io" or "registry-1.docker.io")
        {
            registry = DockerHub;
        }
        if (repository.Length is 0 or > 255 || !RepositoryRegex().IsMatch(repository))
        {
            error = $"'{OciDigest.Shown(value)}': repository '{OciDigest.Shown(repository)}' is invalid (lower-case components of letters and digits separated by '.', '_', '__', '-' and '/')";
            return false;
        }
        reference = new RegistryReference(registry, repository, tag, digest);
        error = null;
        return true;
    }

    public static bool IsValidTag([NotNullWhen(true)] string? tag) => tag is not null && TagRegex().IsMatch(tag);

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}\z", RegexOptions.CultureInvariant)]
    private static partial Regex TagRegex();

    [GeneratedRegex(@"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*\z", RegexOptions.CultureInvariant)]
    private static partial Regex RepositoryRegex();

    [GeneratedRegex(@"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::[0-9]{1,5})?\z", RegexOptions.CultureInvariant)]
    private static partial Regex HostRegex();
}
