namespace BuildFarm.Kaniko.Dockerfiles;

/// <summary>Tag and digest of an image reference <c>[registry[:port]/]path[:tag][@digest]</c>.</summary>
public static class ImageReferences
{
    /// <summary>The tag, or null when the reference has none (a <c>:port</c> in the registry is not a tag).</summary>
    public static string? Tag(string reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        var at = reference.IndexOf('@', StringComparison.Ordinal);
        var name = at < 0 ? reference : reference[..at];
        var lastSlash = name.LastIndexOf('/');
        var colon = name.IndexOf(':', lastSlash + 1);
        return colon < 0 ? null : name[(colon + 1)..];
    }

    /// <summary>False for what an unset ARG leaves behind: empty, a trailing <c>:</c>, <c>@</c> or <c>/</c>, blanks.</summary>
    public static bool IsComplete(string reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        return reference.Length > 0 && reference[^1] is not (':' or '@' or '/') && reference[0] is not (':' or '@' or '/')
            && !reference.Any(char.IsWhiteSpace) && !reference.Contains("/:", StringComparison.Ordinal) && !reference.Contains("//", StringComparison.Ordinal);
    }

    /// <summary>True when the reference carries a digest (<c>@sha256:…</c>).</summary>
    public static bool HasDigest(string reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        return reference.Contains('@', StringComparison.Ordinal);
    }

    /// <summary>Why the reference floats (no tag, or <c>latest</c>), or null when it is pinned by a version tag or digest.</summary>
    public static string? FloatingReason(string reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        if (HasDigest(reference) || string.Equals(reference, "scratch", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        var tag = Tag(reference);
        if (tag is null)
        {
            return $"'{reference}' has no tag, so it means '{reference}:latest'";
        }
        return string.Equals(tag, "latest", StringComparison.Ordinal) ? $"'{reference}' uses the floating tag 'latest'" : null;
    }

    /// <summary>The reference without its tag and digest (<c>localhost:5000/app:1@sha256:…</c> → <c>localhost:5000/app</c>).</summary>
    public static string WithoutTag(string reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        var at = reference.IndexOf('@', StringComparison.Ordinal);
        var name = at < 0 ? reference : reference[..at];
        var lastSlash = name.LastIndexOf('/');
        var colon = name.IndexOf(':', lastSlash + 1);
        return colon < 0 ? name : name[..colon];
    }
}
