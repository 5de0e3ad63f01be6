using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace BuildFarm.Registry;

/// <summary>Content digests: only <c>sha256:</c> followed by 64 lower-case hex digits is produced or accepted.</summary>
public static class OciDigest
{
    public const string Sha256Prefix = "sha256:";

    /// <summary>The digest of <paramref name="content"/>: <c>sha256:&lt;hex&gt;</c>.</summary>
    public static string Compute(ReadOnlySpan<byte> content) =>
        Sha256Prefix + Convert.ToHexStringLower(SHA256.HashData(content));

    /// <summary>True when <paramref name="digest"/> is <c>sha256:</c> and 64 lower-case hex digits.</summary>
    public static bool IsWellFormed([NotNullWhen(true)] string? digest)
    {
        if (digest is null || digest.Length != Sha256Prefix.Length + 64 || !digest.StartsWith(Sha256Prefix, StringComparison.Ordinal))
        {
            return false;
        }
        foreach (var c in digest.AsSpan(Sha256Prefix.Length))
        {
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f')))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming <paramref name="field"/> unless the digest is well formed.</summary>
    public static string Require(string? digest, string field) =>
        IsWellFormed(digest) ? digest : throw new ArgumentException($"{field}: '{Shown(digest)}' is not a sha256 digest (sha256: and 64 lower-case hex digits)", field);

    internal static string Shown(string? value) => value is null ? "(null)" : value.Length <= 80 ? value : string.Concat(value.AsSpan(0, 80), "…");
}
