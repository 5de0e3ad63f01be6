namespace BuildFarm.Kaniko.Logs;

/// <summary>
/// Allocation-free identity of an image reference as Kaniko prints it, so that <c>Pushing image to X</c> and
/// <c>Pushed R@sha256:…</c> can be matched against <c>--destination</c> values without keeping strings.
/// Docker Hub spellings are normalised (<c>docker.io/</c>, <c>index.docker.io/</c>, <c>registry-1.docker.io/</c>,
/// <c>library/</c>), a missing tag means <c>latest</c>, comparison is case-insensitive. Keys are 64-bit FNV-1a hashes.
/// </summary>
internal readonly record struct ImageRefKey(ulong Repository, ulong Reference, bool TagIsCacheKey)
{
    private const ulong FnvOffset = 14695981039346656037UL;
    private const ulong FnvPrime = 1099511628211UL;

    private static readonly string[] HubPrefixes = ["docker.io/", "index.docker.io/", "registry-1.docker.io/"];

    public static ImageRefKey Of(ReadOnlySpan<char> reference)
    {
        reference = reference.Trim();
        foreach (var prefix in HubPrefixes)
        {
            if (reference.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                reference = reference[prefix.Length..];
                break;
            }
        }

        if (reference.StartsWith("library/", StringComparison.OrdinalIgnoreCase))
        {
            reference = reference["library/".Length..];
        }

        var at = reference.IndexOf('@');
        if (at >= 0)
        {
            reference = reference[..at];
        }

        var slash = reference.LastIndexOf('/');
        var colon = reference.LastIndexOf(':');
        ReadOnlySpan<char> repository, tag;
        if (colon > slash)
        {
            repository = reference[..colon];
            tag = reference[(colon + 1)..];
        }
        else
        {
            repository = reference;
            tag = "latest";
        }

        var repoHash = Hash(FnvOffset, repository);
        var refHash = Hash(Hash(repoHash, ":"), tag);
        return new ImageRefKey(repoHash, refHash, IsCacheKey(tag));
    }

    /// <summary>Kaniko's cache keys are SHA-256 hex strings (64 characters).</summary>
    private static bool IsCacheKey(ReadOnlySpan<char> tag)
    {
        if (tag.Length != 64)
        {
            return false;
        }

        foreach (var c in tag)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }

        return true;
    }

    private static ulong Hash(ulong hash, ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            hash ^= char.ToLowerInvariant(c);
            hash *= FnvPrime;
        }

        return hash;
    }
}
