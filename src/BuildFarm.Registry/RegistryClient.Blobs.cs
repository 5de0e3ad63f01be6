using System.Net;
using System.Net.Http.Headers;

namespace BuildFarm.Registry;

/// <summary>Blob HEAD, GET and the monolithic upload.</summary>
public sealed partial class RegistryClient
{
    /// <summary>True when the repository holds the blob (HEAD 200), false on 404.</summary>
    public async Task<bool> BlobExistsAsync(RegistryReference repository, string digest, CancellationToken cancellationToken = default)
    {
        OciDigest.Require(digest, nameof(digest));
        using var response = await SendAsync(repository, push: false, () => Request(HttpMethod.Head, RepoUri(repository, $"blobs/{digest}"), null), 0, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }
        await EnsureSuccessAsync(response, $"HEAD blob {repository.Name}@{digest}", cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>GET of a blob (at most <see cref="RegistryClientOptions.MaxBlobBytes"/>), its digest checked. Null on 404.</summary>
    public async Task<byte[]?> GetBlobAsync(RegistryReference repository, string digest, CancellationToken cancellationToken = default)
    {
        OciDigest.Require(digest, nameof(digest));
        using var response = await SendAsync(repository, push: false, () => Request(HttpMethod.Get, RepoUri(repository, $"blobs/{digest}"), null), _options.MaxBlobBytes, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        await EnsureSuccessAsync(response, $"GET blob {repository.Name}@{digest}", cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        if (OciDigest.Compute(body) != digest)
        {
            throw new RegistryException($"GET blob {repository.Name}@{digest}: the content's digest differs");
        }
        return body;
    }

    /// <summary>Uploads a blob in one piece (<c>POST /blobs/uploads/</c>, then <c>PUT ?digest=</c>) unless the repository
    /// already holds it.</summary>
    public async Task UploadBlobAsync(RegistryReference repository, OciBlob blob, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(blob);
        if (OciDigest.Compute(blob.Content) != OciDigest.Require(blob.Digest, "blob.digest"))
        {
            throw new ArgumentException($"blob: digest {blob.Digest} is not its content's", nameof(blob));
        }
        if (await BlobExistsAsync(repository, blob.Digest, cancellationToken).ConfigureAwait(false))
        {
            return;
        }
        Uri location;
        using (var start = await SendAsync(repository, push: true, () => Request(HttpMethod.Post, RepoUri(repository, "blobs/uploads/"), null), 0, cancellationToken).ConfigureAwait(false))
        {
            await EnsureSuccessAsync(start, $"POST blob upload {repository.Name}", cancellationToken).ConfigureAwait(false);
            var header = start.Headers.Location ?? throw new RegistryException($"POST blob upload {repository.Name}: no Location header", (int)start.StatusCode);
            location = header.IsAbsoluteUri ? header : new Uri(EndpointOf(repository.Registry), header);
        }
        var separator = string.IsNullOrEmpty(location.Query) ? "?" : "&";
        var put = new Uri(location + separator + "digest=" + Uri.EscapeDataString(blob.Digest));
        using var response = await SendAsync(repository, push: true, () =>
        {
            var request = Request(HttpMethod.Put, put, null);
            request.Content = new ByteArrayContent(blob.Content);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            return request;
        }, 0, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound
            && await BlobExistsAsync(repository, blob.Digest, cancellationToken).ConfigureAwait(false))
        {
            return; // a retried PUT whose first try completed the upload: the session is gone, the blob is there
        }
        await EnsureSuccessAsync(response, $"PUT blob {repository.Name}@{blob.Digest}", cancellationToken).ConfigureAwait(false);
    }
}
