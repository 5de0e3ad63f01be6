
namespace BuildFarm.Registry;

/// <summary>One per-platform image of a multi-platform build: its platform and manifest digest (in the destination's repository).</summary>
public sealed record PlatformManifest(OciPlatform Platform, string Digest);

/// <summary>The outcome of <see cref="RegistryClient.PushIndexAsync"/>: the index's digest (the build's digest), its media
/// type, the descriptors it holds, and the destinations it was pushed to.</summary>
public sealed record IndexPushResult(string Digest, string MediaType, IReadOnlyList<ManifestDescriptor> Manifests, IReadOnlyList<string> Destinations);

/// <summary>Whole pushes: one image (blobs, then its manifest) and a multi-platform index to every destination tag.</summary>
public sealed partial class RegistryClient
{
    /// <summary>Pushes <paramref name="image"/> (layer, config, manifest) to <paramref name="destination"/>'s tag (or,
    /// with no tag, by digest only). Returns the manifest digest.</summary>
    public async Task<string> PushImageAsync(RegistryReference destination, MinimalImage image, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(image);
        await UploadBlobAsync(destination, image.Layer, cancellationToken).ConfigureAwait(false);
        await UploadBlobAsync(destination, image.Config, cancellationToken).ConfigureAwait(false);
        var target = destination.Tag is null ? destination.WithDigest(image.Digest) : destination with { Digest = null };
        return await PutManifestAsync(target, image.ManifestMediaType, image.Manifest, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Joins per-platform manifests into one index and pushes it to every destination tag. Each manifest must already be in
    /// each destination's repository (the per-platform pods push there): a HEAD by digest reads its media type and size, and
    /// a missing one fails naming its platform before any tag is written. The index is a Docker manifest list when every
    /// manifest is Docker schema 2, else an OCI index (<paramref name="format"/> overrides). The same bytes go to every
    /// destination, so there is one index digest: the build's digest.
    /// </summary>
    public async Task<IndexPushResult> PushIndexAsync(
        IReadOnlyList<string> destinations, IReadOnlyList<PlatformManifest> manifests, IndexFormat format = IndexFormat.Auto,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destinations);
        ArgumentNullException.ThrowIfNull(manifests);
        if (destinations.Count == 0)
        {
            throw new ArgumentException("destinations: at least one is required", nameof(destinations));
        }
        if (manifests.Count is 0 or > ImageIndex.MaxManifests)
        {
            throw new ArgumentException($"manifests: 1-{ImageIndex.MaxManifests} are required, not {manifests.Count}", nameof(manifests));
        }
        var targets = new List<RegistryReference>();
        for (var i = 0; i < destinations.Count; i++)
        {
            if (!RegistryReference.TryParse(destinations[i], out var reference, out var error))
            {
                throw new ArgumentException($"destinations[{i}]: {error}", nameof(destinations));
            }
            if (reference.Digest is not null)
            {
                throw new ArgumentException($"destinations[{i}]: '{destinations[i]}' has a digest; an index is pushed to a tag", nameof(destinations));
            }
            targets.Add(reference.Tag is null ? reference.WithTag("latest") : reference);
        }
        targets = [.. targets.DistinctBy(t => t.ToString())];

        // Resolve every manifest in every repository first: nothing is tagged unless all are there.
        var indexByRepository = new Dictionary<string, (string MediaType, byte[] Body, List<ManifestDescriptor> Descriptors)>(StringComparer.Ordinal);
        foreach (var repository in targets.DistinctBy(t => t.Name))
        {
            var descriptors = new List<ManifestDescriptor>();
            foreach (var manifest in manifests)
            {
                OciDigest.Require(manifest.Digest, $"manifests[{manifest.Platform}].digest");
                var info = await HeadManifestAsync(repository.WithDigest(manifest.Digest), cancellationToken).ConfigureAwait(false)
                    ?? throw new RegistryException($"platform {manifest.Platform}: manifest {manifest.Digest} is not in {repository.Name}", 404, "MANIFEST_UNKNOWN");
                if (!OciMediaTypes.IsImageManifest(info.MediaType))
                {
                    throw new RegistryException($"platform {manifest.Platform}: {repository.Name}@{manifest.Digest} is '{OciDigest.Shown(info.MediaType)}', not an image manifest");
                }
                if (info.Size <= 0)
                {
                    var body = await GetManifestAsync(repository.WithDigest(manifest.Digest), cancellationToken).ConfigureAwait(false)
                        ?? throw new RegistryException($"platform {manifest.Platform}: manifest {manifest.Digest} is not in {repository.Name}", 404, "MANIFEST_UNKNOWN");
                    info = info with { Size = body.Body.Length };
                }
                descriptors.Add(new ManifestDescriptor(info.MediaType, manifest.Digest, info.Size, manifest.Platform));
            }
            var (mediaType, indexBody) = ImageIndex.Build(descriptors, format);
            indexByRepository[repository.Name] = (mediaType, indexBody, descriptors);
        }
        string? digest = null;
        var pushed = new List<string>();
        foreach (var target in targets)
        {
            var index = indexByRepository[target.Name];
            var written = await PutManifestAsync(target, index.MediaType, index.Body, cancellationToken).ConfigureAwait(false);
            if (digest is not null && written != digest)
            {
                throw new RegistryException($"the index pushed to {target} has digest {written}, not {digest} as at {pushed[0]}: the platforms' manifests differ between repositories");
            }
            digest = written;
            pushed.Add(target.ToString());
        }
        var first = indexByRepository[targets[0].Name];
        return new IndexPushResult(digest!, first.MediaType, first.Descriptors, pushed);
    }
}
