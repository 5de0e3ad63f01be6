namespace BuildFarm.ClusterSim.Kaniko;

/// <summary>A docker image reference split the way go-containerregistry does: registry, repository, tag.</summary>
public sealed record ImageRef(string Registry, string Repository, string Tag)
{
    /// <summary>Docker Hub's registry host as go-containerregistry names it.</summary>
    public const string DockerHub = "index.docker.io";

    /// <summary>The repository with its registry, as Kaniko prints it in <c>Pushed &lt;repo&gt;@sha256:…</c>.</summary>
    public string FullRepository => $"{Registry}/{Repository}";

    public static ImageRef Parse(string reference)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reference);
        var rest = reference;
        var at = rest.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            rest = rest[..at];
        }
        var tag = "latest";
        var slash = rest.LastIndexOf('/');
        var colon = rest.LastIndexOf(':');
        if (colon > slash)
        {
            tag = rest[(colon + 1)..];
            rest = rest[..colon];
        }
        var firstSlash = rest.IndexOf('/', StringComparison.Ordinal);
        string registry;
        string repository;
        if (firstSlash > 0 && IsRegistry(rest[..firstSlash]))
        {
            registry = rest[..firstSlash];
            repository = rest[(firstSlash + 1)..];
        }
        else
        {
            registry = DockerHub;
            repository = firstSlash > 0 ? rest : "library/" + rest;
        }
        if (registry is "docker.io" or "registry-1.docker.io")
        {
            registry = DockerHub;
        }
        return new ImageRef(registry, repository, tag);
    }

    private static bool IsRegistry(string part) =>
        part.Contains('.', StringComparison.Ordinal) || part.Contains(':', StringComparison.Ordinal) || part == "localhost";
}
