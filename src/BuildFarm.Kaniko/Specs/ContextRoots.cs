using System.Diagnostics.CodeAnalysis;

namespace BuildFarm.Kaniko.Specs;

/// <summary>
/// The directories a <c>dir://</c> build context may name (docs/security.md "dir:// contexts"). A <c>dir://</c> context
/// is a path on the machines that run the build, so a request naming one asks the farm to read its own disk: it is
/// refused unless the operator listed allowed roots, and a path is allowed only when it lies under a root after
/// <c>..</c> and every symbolic link along it are resolved (so <c>/srv/contexts/x -&gt; /proc/self</c> is refused).
/// Reads only the file system's links, never a file's content.
/// </summary>
public static class ContextRoots
{
    /// <summary>Most symbolic links followed while resolving one path (as Linux' ELOOP limit).</summary>
    public const int MaxLinks = 40;

    /// <summary>
    /// Whether the directory of a <c>dir://</c> context and the Dockerfile inside it are under one of
    /// <paramref name="allowedRoots"/>. <paramref name="contextDirectory"/> is absolute; <paramref name="dockerfile"/> (may be
    /// null) is the Dockerfile's path, already joined to the context directory. Paths that do not exist here are checked as
    /// far as they exist (the rest is taken literally, as <c>realpath -m</c> does).
    /// </summary>
    public static bool IsAllowed(string contextDirectory, string? dockerfile, IEnumerable<string> allowedRoots, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(contextDirectory);
        ArgumentNullException.ThrowIfNull(allowedRoots);
        var roots = allowedRoots.Where(r => !string.IsNullOrWhiteSpace(r)).ToList();
        if (roots.Count == 0)
        {
            error = "dir:// contexts are not allowed on this farm (no allowed context roots are configured)";
            return false;
        }
        var resolvedRoots = new List<string>();
        foreach (var root in roots)
        {
            if (TryResolve(root, out var resolved))
            {
                resolvedRoots.Add(resolved);
            }
        }
        foreach (var (what, path) in new[] { ("the context directory", contextDirectory), ("the Dockerfile", dockerfile) })
        {
            if (path is null)
            {
                continue;
            }
            if (!TryResolve(path, out var resolved))
            {
                error = $"{what} cannot be resolved (too many symbolic links, or not an absolute path)";
                return false;
            }
            if (!resolvedRoots.Any(root => IsUnder(resolved, root)))
            {
                error = $"{what} is not under an allowed context root ({string.Join(", ", roots)}) once '..' and symbolic links are resolved";
                return false;
            }
        }
        error = null;
        return true;
    }

    /// <summary>True when <paramref name="path"/> is <paramref name="root"/> or inside it (both resolved, absolute).</summary>
    public static bool IsUnder(string path, string root)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(root);
        var trimmed = root.Length > 1 ? root.TrimEnd('/') : root;
        return path == trimmed || path.StartsWith(trimmed == "/" ? "/" : trimmed + "/", StringComparison.Ordinal);
    }

    /// <summary>
    /// The absolute path with <c>.</c>, <c>..</c> and every symbolic link of its existing part resolved (as
    /// <c>realpath -m</c>); false for a relative path or a link loop.
    /// </summary>
    public static bool TryResolve(string path, [NotNullWhen(true)] out string? resolved)
    {
        ArgumentNullException.ThrowIfNull(path);
        resolved = null;
        if (!path.StartsWith('/') || path.Contains('\0', StringComparison.Ordinal))
        {
            return false;
        }
        var pending = new Stack<string>(path.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse());
        var current = new List<string>();
        var links = 0;
        while (pending.TryPop(out var segment))
        {
            if (segment == ".")
            {
                continue;
            }
            if (segment == "..")
            {
                if (current.Count > 0)
                {
                    current.RemoveAt(current.Count - 1);
                }
                continue;
            }
            var candidate = "/" + string.Join('/', current.Append(segment));
            string? target = null;
            try
            {
                target = new FileInfo(candidate).LinkTarget;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                target = null;
            }
            if (target is null)
            {
                current.Add(segment);
                continue;
            }
            if (++links > MaxLinks)
            {
                return false;
            }
            // The link's target replaces it: absolute from the root, relative from the link's directory.
            if (target.StartsWith('/'))
            {
                current.Clear();
            }
            foreach (var part in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse())
            {
                pending.Push(part);
            }
        }
        resolved = "/" + string.Join('/', current);
        return true;
    }
}
