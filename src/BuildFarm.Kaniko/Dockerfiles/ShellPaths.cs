namespace BuildFarm.Kaniko.Dockerfiles;

/// <summary>Absolute POSIX path arithmetic (no file system access).</summary>
public static class ShellPaths
{
    /// <summary>The absolute, normalised form of <paramref name="path"/> (<c>.</c>, <c>..</c>, duplicate and trailing
    /// slashes removed), relative paths taken from <paramref name="cwd"/>; null when a relative path meets an unknown cwd.</summary>
    public static string? Resolve(string path, string? cwd)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.Length == 0)
        {
            return cwd;
        }
        if (!path.StartsWith('/'))
        {
            if (cwd is null)
            {
                return null;
            }
            path = cwd + "/" + path;
        }
        var parts = new List<string>();
        foreach (var part in path.Split('/'))
        {
            if (part.Length == 0 || part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                if (parts.Count > 0)
                {
                    parts.RemoveAt(parts.Count - 1);
                }
                continue;
            }
            parts.Add(part);
        }
        return "/" + string.Join('/', parts);
    }

    /// <summary>The last path segment (<c>/a/b/</c> → <c>b</c>).</summary>
    public static string BaseName(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var trimmed = path.TrimEnd('/');
        var slash = trimmed.LastIndexOf('/');
        return slash < 0 ? trimmed : trimmed[(slash + 1)..];
    }
}
