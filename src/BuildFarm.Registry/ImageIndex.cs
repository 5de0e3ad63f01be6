using System.Text.Json;

namespace BuildFarm.Registry;

/// <summary>A manifest as an index names it: media type, digest, size and (for a per-platform manifest) its platform.</summary>
public sealed record ManifestDescriptor(string MediaType, string Digest, long Size, OciPlatform? Platform = null);

/// <summary>Which kind of index to write.</summary>
public enum IndexFormat
{
    /// <summary>A Docker manifest list when every child is a Docker schema 2 manifest (what Kaniko pushes by
    /// default, and what registries that refuse an OCI index over Docker manifests need), else an OCI image index.</summary>
    Auto,

    /// <summary><c>application/vnd.oci.image.index.v1+json</c>.</summary>
    Oci,

    /// <summary><c>application/vnd.docker.distribution.manifest.list.v2+json</c>.</summary>
    DockerManifestList,
}

/// <summary>
/// Builds and reads image indexes (OCI image index, Docker manifest list): the one manifest that joins the per-platform
/// manifests of a multi-platform build. Pure. The bytes built are the bytes pushed, so their digest is the index digest.
/// </summary>
public static class ImageIndex
{
    /// <summary>Most manifests an index may join (and that <see cref="Parse"/> reads).</summary>
    public const int MaxManifests = 64;

    /// <summary>The index of <paramref name="manifests"/>, in their order. Each must be an image manifest with a platform,
    /// platforms distinct.</summary>
    public static (string MediaType, byte[] Body) Build(IReadOnlyList<ManifestDescriptor> manifests, IndexFormat format = IndexFormat.Auto)
    {
        ArgumentNullException.ThrowIfNull(manifests);
        if (manifests.Count is 0 or > MaxManifests)
        {
            throw new ArgumentException($"manifests: an index joins 1-{MaxManifests} manifests, not {manifests.Count}", nameof(manifests));
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < manifests.Count; i++)
        {
            var m = manifests[i];
            if (!OciMediaTypes.IsImageManifest(m.MediaType))
            {
                throw new ArgumentException($"manifests[{i}]: media type '{OciDigest.Shown(m.MediaType)}' is not an image manifest", nameof(manifests));
            }
            OciDigest.Require(m.Digest, $"manifests[{i}].digest");
            if (m.Size <= 0)
            {
                throw new ArgumentException($"manifests[{i}]: size {m.Size} must be positive", nameof(manifests));
            }
            if (m.Platform is null)
            {
                throw new ArgumentException($"manifests[{i}]: a platform is required", nameof(manifests));
            }
            if (!seen.Add(m.Platform.ToString()))
            {
                throw new ArgumentException($"manifests[{i}]: platform {m.Platform} appears twice", nameof(manifests));
            }
        }
        var mediaType = format switch
        {
            IndexFormat.Oci => OciMediaTypes.OciIndex,
            IndexFormat.DockerManifestList => OciMediaTypes.DockerManifestList,
            _ => manifests.All(m => m.MediaType == OciMediaTypes.DockerManifest) ? OciMediaTypes.DockerManifestList : OciMediaTypes.OciIndex,
        };
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false }))
        {
            json.WriteStartObject();
            json.WriteNumber("schemaVersion", 2);
            json.WriteString("mediaType", mediaType);
            json.WriteStartArray("manifests");
            foreach (var m in manifests)
            {
                json.WriteStartObject();
                json.WriteString("mediaType", m.MediaType);
                json.WriteString("digest", m.Digest);
                json.WriteNumber("size", m.Size);
                json.WriteStartObject("platform");
                json.WriteString("architecture", m.Platform!.Architecture);
                json.WriteString("os", m.Platform.Os);
                if (m.Platform.Variant is { } variant)
                {
                    json.WriteString("variant", variant);
                }
                json.WriteEndObject();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return (mediaType, stream.ToArray());
    }

    /// <summary>The manifests an index names (at most <see cref="MaxManifests"/>); throws <see cref="FormatException"/>
    /// on anything that is not an index.</summary>
    public static IReadOnlyList<ManifestDescriptor> Parse(ReadOnlySpan<byte> body)
    {
        try
        {
            using var document = JsonDocument.Parse(body.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("manifests", out var manifests) || manifests.ValueKind != JsonValueKind.Array)
            {
                throw new FormatException("an index is an object with a 'manifests' array");
            }
            if (manifests.GetArrayLength() > MaxManifests)
            {
                throw new FormatException($"the index names {manifests.GetArrayLength()} manifests, over the limit of {MaxManifests}");
            }
            var result = new List<ManifestDescriptor>();
            foreach (var m in manifests.EnumerateArray())
            {
                var mediaType = m.TryGetProperty("mediaType", out var t) ? t.GetString() ?? "" : "";
                var digest = m.TryGetProperty("digest", out var d) ? d.GetString() : null;
                var size = m.TryGetProperty("size", out var s) && s.TryGetInt64(out var n) ? n : 0;
                OciPlatform? platform = null;
                if (m.TryGetProperty("platform", out var p) && p.ValueKind == JsonValueKind.Object)
                {
                    platform = new OciPlatform(
                        p.TryGetProperty("os", out var os) ? os.GetString() ?? "" : "",
                        p.TryGetProperty("architecture", out var arch) ? arch.GetString() ?? "" : "",
                        p.TryGetProperty("variant", out var variant) ? variant.GetString() : null);
                }
                result.Add(new ManifestDescriptor(mediaType, OciDigest.IsWellFormed(digest) ? digest : throw new FormatException($"'{OciDigest.Shown(digest)}' is not a sha256 digest"), size, platform));
            }
            return result;
        }
        catch (JsonException e)
        {
            throw new FormatException($"the index is not valid JSON: {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            throw new FormatException($"the index has a field of the wrong type: {e.Message}", e);
        }
    }
}
