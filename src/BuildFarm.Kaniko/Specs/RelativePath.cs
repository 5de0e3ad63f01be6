using System.Diagnostics.CodeAnalysis;

namespace BuildFarm.Kaniko.Specs;

/// <summary>
/// Relative paths inside a build context (dockerfile, context sub-path): checked and normalised so
/// that <c>./Dockerfile</c>, <c>Dockerfile</c> and <c>a/../Dockerfile</c> are the same path.
/// </summary>
public static class RelativePath
{
    /// <summary>
    /// Normalises <paramref name="path"/> (drops <c>.</c> and empty segments, resolves <c>..</c>) or says why
    /// it is not a safe relative path: absolute, a URL, a backslash, a control character, or a <c>..</c> that
    /// climbs out of the context. The root itself normalises to the empty string.
    /// </summary>
    public static bool TryNormalize(string path, [NotNullWhen(true)] out string? normalized, [NotNullWhen(false)] out string? error)
    {
        normalized = null;
        if (path.Any(char.IsControl))
        {
            error = "must not contain control characters";
            return false;
        }
        if (path.Contains("://", StringComparison.Ordinal))
        {
            error = $"'{path}' is a URL; give a path relative to the context";
            return false;
        }
        if (path.Contains('\\', StringComparison.Ordinal))
        {
            error = $"'{path}' contains a backslash; use '/' as the separator";
            return false;
        }
        if (path.StartsWith('/'))
        {
            error = $"'{path}' is absolute; give a path relative to the context";
            return false;
        }
        var segments = new List<string>();
        foreach (var segment in path.Split('/'))
        {
            if (segment.Length == 0 || segment == ".")
            {
                continue;
            }
            if (segment == "..")
            {
                if (segments.Count == 0)
                {
                    error = $"'{path}' climbs out of the context with '..'";
                    return false;
                }
                segments.RemoveAt(segments.Count - 1);
                continue;
            }
            segments.Add(segment);
        }
        normalized = string.Join('/', segments);
        error = null;
        return true;
    }
}
