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

    /// <summary>Why touching <paramref name="root"/> breaks Kaniko, and what to do instead.</summary>
    public static string Why(string root) => root == Kaniko
        ? "/kaniko holds the Kaniko executor, the copied Dockerfile, the registry credentials (/kaniko/.docker) and the CA certificates (/kaniko/ssl), and Kaniko leaves it out of every snapshot: changing it breaks the executor and files put there never reach the image. Use another directory, e.g. /opt/<name>."
        : "Kaniko runs in /workspace (its WORKDIR and default build context) and unpacks the image into its own root, so an image that creates, replaces, symlinks or removes /workspace, or writes into it, breaks or corrupts the build. Use another directory, e.g. /app or /opt/<name>.";
}
