using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace BuildFarm.Registry;

/// <summary>A blob to upload: its media type, digest and bytes.</summary>
public sealed record OciBlob(string MediaType, string Digest, byte[] Content)
{
    public static OciBlob Of(string mediaType, byte[] content) => new(mediaType, OciDigest.Compute(content), content);
}

/// <summary>
/// A small, genuine single-platform image: one gzipped tar layer holding <c>buildfarm/image.txt</c>, a config naming its
/// platform (<c>os</c>, <c>architecture</c>, <c>variant</c>) and the layer's diff id, and a schema 2 manifest
/// (Docker media types, as Kaniko pushes, or OCI). What the cluster simulator's Kaniko pushes to a real registry, and
/// what the tests join into indexes. <see cref="RegistryClient.PushImageAsync"/> pushes it.
/// </summary>
public sealed record MinimalImage(OciPlatform Platform, OciBlob Config, OciBlob Layer, string ManifestMediaType, byte[] Manifest)
{
    /// <summary>The manifest's digest: the image's digest, what Kaniko's <c>--digest-file</c> holds.</summary>
    public string Digest { get; } = OciDigest.Compute(Manifest);

    /// <summary>The descriptor an index names this image by.</summary>
    public ManifestDescriptor Descriptor => new(ManifestMediaType, Digest, Manifest.Length, Platform);

    /// <summary>An image for <paramref name="platform"/> whose one file holds <paramref name="text"/> (so two builds of
    /// different text have different digests). Deterministic: the same arguments give the same digest.</summary>
    public static MinimalImage Create(OciPlatform platform, string text, bool oci = false)
    {
        ArgumentNullException.ThrowIfNull(platform);
        ArgumentNullException.ThrowIfNull(text);
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            var data = Encoding.UTF8.GetBytes(text);
            var entry = new PaxTarEntry(TarEntryType.RegularFile, "buildfarm/image.txt")
            {
                DataStream = new MemoryStream(data),
                ModificationTime = DateTimeOffset.UnixEpoch,
                Mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
            };
            writer.WriteEntry(entry);
        }
        var uncompressed = tar.ToArray();
        var gz = new MemoryStream();
        using (var gzip = new GZipStream(gz, CompressionLevel.Optimal, leaveOpen: true))
        {
            gzip.Write(uncompressed);
        }
        var layer = OciBlob.Of(oci ? OciMediaTypes.OciLayerGzip : OciMediaTypes.DockerLayerGzip, gz.ToArray());

        var configJson = Json(json =>
        {
            json.WriteStartObject();
            json.WriteString("architecture", platform.Architecture);
            json.WriteString("os", platform.Os);
            if (platform.Variant is { } variant)
            {
                json.WriteString("variant", variant);
            }
            json.WriteString("created", "1970-01-01T00:00:00Z");
            json.WriteStartObject("config");
            json.WriteStartArray("Env");
            json.WriteStringValue("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteStartObject("rootfs");
            json.WriteString("type", "layers");
            json.WriteStartArray("diff_ids");
            json.WriteStringValue(OciDigest.Compute(uncompressed));
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteStartArray("history");
            json.WriteStartObject();
            json.WriteString("created", "1970-01-01T00:00:00Z");
            json.WriteString("created_by", "buildfarm: COPY image.txt /buildfarm/");
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
        });
        var config = OciBlob.Of(oci ? OciMediaTypes.OciConfig : OciMediaTypes.DockerConfig, configJson);

        var manifestMediaType = oci ? OciMediaTypes.OciManifest : OciMediaTypes.DockerManifest;
        var manifest = Json(json =>
        {
            json.WriteStartObject();
            json.WriteNumber("schemaVersion", 2);
            json.WriteString("mediaType", manifestMediaType);
            json.WriteStartObject("config");
            json.WriteString("mediaType", config.MediaType);
            json.WriteNumber("size", config.Content.Length);
            json.WriteString("digest", config.Digest);
            json.WriteEndObject();
            json.WriteStartArray("layers");
            json.WriteStartObject();
            json.WriteString("mediaType", layer.MediaType);
            json.WriteNumber("size", layer.Content.Length);
            json.WriteString("digest", layer.Digest);
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
        });
        return new MinimalImage(platform, config, layer, manifestMediaType, manifest);
    }

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream))
        {
            write(json);
        }
        return stream.ToArray();
    }
}
