namespace BuildFarm.Registry;

/// <summary>The manifest and config media types the client reads and writes (OCI image spec v1, Docker schema 2).</summary>
public static class OciMediaTypes
{
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";

    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string DockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";

    /// <summary>Every manifest type the client accepts, for the <c>Accept</c> header of manifest requests.</summary>
    public static IReadOnlyList<string> Manifests { get; } = [OciManifest, OciIndex, DockerManifest, DockerManifestList];

    /// <summary>True for an image manifest (one platform), OCI or Docker.</summary>
    public static bool IsImageManifest(string? mediaType) => mediaType is OciManifest or DockerManifest;

    /// <summary>True for an index or manifest list (several platforms).</summary>
    public static bool IsIndex(string? mediaType) => mediaType is OciIndex or DockerManifestList;
}
