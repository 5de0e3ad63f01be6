namespace BuildFarm.Kaniko.Dockerfiles;

/// <summary>The directories the Kaniko executor image owns (kaniko-facts §1) and why an image must leave them alone.</summary>
public static class KanikoPaths
{
    public const string Workspace = "/workspace";
    public const string Kaniko = "/kaniko";

    /// <summary><c>/workspace</c> or <c>/kaniko</c> when <paramref name="absolutePath"/> is that directory or inside it;
    /// null otherwise (<c>/workspaces</c>, <c>/opt/workspace</c>, <c>/kaniko-cache</c> are not).</summary>
    public static string? ProtectedRoot(string absolutePath)
    {
        ArgumentNullException.ThrowIfNull(absolutePath);
        foreach (var root in (ReadOnlySpan<string>)[Workspace, Kaniko])
        {
            if (absolutePath == root || absolutePath.StartsWith(root + "/", StringComparison.Ordinal))
            {
                return root;
            }
        }
        return null;
    }

    /// <summary>
    /// Whether the build context is <c>/workspace</c> or a directory inside it: <c>dir:///workspace</c>, or a bare
    /// absolute path as Kaniko's <c>--context</c> also takes it. Only then does an image that creates or writes into
    /// <c>/workspace</c> collide with the context (kaniko#1508). Null or any other context: false.
    /// </summary>
    public static bool IsWorkspaceContext(string? context)
    {
        if (string.IsNullOrWhiteSpace(context))
        {
            return false;
        }

        var path = context.StartsWith("dir://", StringComparison.OrdinalIgnoreCase) ? context["dir://".Length..] : context;
        return path.StartsWith('/') && ShellPaths.Resolve(path, "/") is { } resolved && ProtectedRoot(resolved) == Workspace;
    }

    /// <summary>Why creating or writing into <c>/workspace</c> is only a warning with a context elsewhere.</summary>
    public const string WhyWorkspaceWrite =
        "/workspace is the Kaniko executor's working directory and default build context. With this build's context (not a directory under /workspace) Kaniko builds it, but the same Dockerfile breaks with --context dir:///workspace, where it writes over the build context (kaniko#1508). Prefer another directory, e.g. /app or /opt/<name>.";

    /// <summary>Why touching <paramref name="root"/> breaks Kaniko, and what to do instead.</summary>
    public static string Why(string root) => root == Kaniko
        ? "/kaniko holds the Kaniko executor, the copied Dockerfile, the registry credentials (/kaniko/.docker) and the CA certificates (/kaniko/ssl), and Kaniko leaves it out of every snapshot: changing it breaks the executor and files put there never reach the image. Use another directory, e.g. /opt/<name>."
        : "Kaniko runs in /workspace (its WORKDIR and default build context) and unpacks the image into its own root, so an image that removes, moves, replaces or symlinks /workspace, creates it with mkdir without -p, or (when the build context is /workspace) creates or writes into it, breaks or corrupts the build. Use another directory, e.g. /app or /opt/<name>.";
}
