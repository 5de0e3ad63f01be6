using System.Net;
using System.Net.Http.Headers;

namespace BuildFarm.Registry;

/// <summary>What a manifest HEAD or GET told: the digest (<c>Docker-Content-Digest</c>, else computed), media type and size.</summary>
public sealed record ManifestInfo(string Digest, string MediaType, long Size);

/// <summary>A manifest read with <see cref="RegistryClient.GetManifestAsync"/>.</summary>
public sealed record RegistryManifest(string Digest, string MediaType, byte[] Body);

/// <summary>Manifest HEAD, GET and PUT by tag or digest.</summary>
public sealed partial class RegistryClient
{
    /// <summary>HEAD of a manifest by tag or digest; null when the registry says it does not exist (404).</summary>
    public async Task<ManifestInfo?> HeadManifestAsync(RegistryReference reference, CancellationToken cancellationToken = default)
    {
        var target = ManifestTarget(reference);
        using var response = await SendAsync(reference, push: false, () => Request(HttpMethod.Head, ManifestUri(reference, target), AcceptManifests()), 0, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        await EnsureSuccessAsync(response, $"HEAD manifest {reference}", cancellationToken).ConfigureAwait(false);
        var digest = response.Headers.TryGetValues("Docker-Content-Digest", out var values) ? values.FirstOrDefault() : null;
        if (!OciDigest.IsWellFormed(digest))
        {
            digest = reference.Digest ?? throw new RegistryException($"HEAD manifest {reference}: no valid Docker-Content-Digest header ('{OciDigest.Shown(digest)}')");
        }
        if (reference.Digest is { } expected && digest != expected)
        {
            throw new RegistryException($"HEAD manifest {reference}: the registry answered for {digest}");
        }
        var size = response.Content.Headers.ContentLength ?? 0;
        return new ManifestInfo(digest, response.Content.Headers.ContentType?.MediaType ?? "", size);
    }

    /// <summary>GET of a manifest (at most <see cref="RegistryClientOptions.MaxManifestBytes"/>); its digest is checked
    /// when asked for by digest. Null on 404.</summary>
    public async Task<RegistryManifest?> GetManifestAsync(RegistryReference reference, CancellationToken cancellationToken = default)
    {
        var target = ManifestTarget(reference);
        using var response = await SendAsync(reference, push: false, () => Request(HttpMethod.Get, ManifestUri(reference, target), AcceptManifests()), _options.MaxManifestBytes, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        await EnsureSuccessAsync(response, $"GET manifest {reference}", cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        var digest = OciDigest.Compute(body);
        if (reference.Digest is { } expected && digest != expected)
        {
            throw new RegistryException($"GET manifest {reference}: the body's digest is {digest}");
        }
        return new RegistryManifest(digest, response.Content.Headers.ContentType?.MediaType ?? "", body);
    }

    /// <summary>PUT of a manifest to a tag or digest. Returns its digest, checked against the registry's
    /// <c>Docker-Content-Digest</c> when it sends one.</summary>
    public async Task<string> PutManifestAsync(RegistryReference reference, string mediaType, byte[] body, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(mediaType);
        ArgumentNullException.ThrowIfNull(body);
        var target = ManifestTarget(reference);
        var digest = OciDigest.Compute(body);
        if (reference.Digest is { } wanted && wanted != digest)
        {
            throw new ArgumentException($"reference: {reference} names digest {wanted} but the manifest's is {digest}", nameof(reference));
        }
        using var response = await SendAsync(reference, push: true, () =>
        {
            var request = Request(HttpMethod.Put, ManifestUri(reference, target), null);
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
            return request;
        }, 0, cancellationToken).ConfigureAwait(false);
        await EnsureSuccessAsync(response, $"PUT manifest {reference}", cancellationToken).ConfigureAwait(false);
        if (response.Headers.TryGetValues("Docker-Content-Digest", out var values) && values.FirstOrDefault() is { } answered && answered != digest)
        {
            throw new RegistryException($"PUT manifest {reference}: the registry stored digest {OciDigest.Shown(answered)}, not {digest}");
        }
        return digest;
    }
}
