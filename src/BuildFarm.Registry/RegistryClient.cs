using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Polly;

namespace BuildFarm.Registry;

/// <summary>What a manifest HEAD or GET told: the digest (<c>Docker-Content-Digest</c>, else computed), media type and size.</summary>
public sealed record ManifestInfo(string Digest, string MediaType, long Size);

/// <summary>A manifest read with <see cref="RegistryClient.GetManifestAsync"/>.</summary>
public sealed record RegistryManifest(string Digest, string MediaType, byte[] Body);

/// <summary>One per-platform image of a multi-platform build: its platform and manifest digest (in the destination's repository).</summary>
public sealed record PlatformManifest(OciPlatform Platform, string Digest);

/// <summary>The outcome of <see cref="RegistryClient.PushIndexAsync"/>: the index's digest (the build's digest), its media
/// type, the descriptors it holds, and the destinations it was pushed to.</summary>
public sealed record IndexPushResult(string Digest, string MediaType, IReadOnlyList<ManifestDescriptor> Manifests, IReadOnlyList<string> Destinations);

/// <summary>
/// A small client of the OCI distribution API (<c>/v2/</c>): manifest HEAD, GET and PUT, blob HEAD, GET and monolithic
/// upload, the token authentication challenge (Bearer: realm, service, scope → token endpoint; Basic), credentials from a
/// Docker config.json, and <see cref="PushIndexAsync"/>, which joins per-platform manifests into one index pushed to
/// every destination tag. Every request goes through the retry pipeline (<see cref="RegistryResilience"/>); every
/// connection reset is told to the <see cref="IRegistryResetObserver"/>. Every body read from a registry is bounded.
/// Thread-safe; one instance per process.
/// </summary>
public sealed class RegistryClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly DockerConfig _credentials;
    private readonly RegistryClientOptions _options;
    private readonly ResiliencePipeline<HttpResponseMessage> _pipeline;
    private readonly IRegistryResetObserver? _resets;

    // "registry" → "Basic …"; "registry|scope" → "Bearer …".
    private readonly ConcurrentDictionary<string, string> _authorization = new(StringComparer.Ordinal);

    public RegistryClient(
        RegistryClientOptions options, DockerConfig? credentials = null, ResiliencePipeline<HttpResponseMessage>? pipeline = null,
        IRegistryResetObserver? resets = null, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("registry client options are invalid: " + string.Join("; ", errors), nameof(options));
        }
        _options = options;
        _credentials = credentials ?? (options.DockerConfigPath is { } path ? DockerConfig.Load(path) : DockerConfig.Empty);
        _pipeline = pipeline ?? RegistryResilience.Create(options);
        _resets = resets;
        _ownsHttp = true;
        _http = new HttpClient(handler ?? new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            ConnectTimeout = TimeSpan.FromSeconds(10),
            AutomaticDecompression = DecompressionMethods.None,
        }, disposeHandler: true)
        {
            Timeout = options.RequestTimeout,
        };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("buildfarm", "1"));
    }

    /// <summary>The base URL requests for <paramref name="registry"/> go to.</summary>
    public Uri EndpointOf(string registry)
    {
        if (_options.Endpoints.TryGetValue(registry, out var mapped))
        {
            return mapped;
        }
        if (registry == RegistryReference.DockerHub)
        {
            return new Uri("https://registry-1.docker.io/");
        }
        return new Uri($"{(_options.PlainHttpRegistries.Contains(registry) ? "http" : "https")}://{registry}/");
    }

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

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Requests, auth, bounded bodies.
    // ---------------------------------------------------------------------------------------------------------------

    private static string ManifestTarget(RegistryReference reference) =>
        reference.ManifestReference ?? throw new ArgumentException($"reference: {reference} has neither tag nor digest", nameof(reference));

    private Uri ManifestUri(RegistryReference reference, string target) => RepoUri(reference, $"manifests/{target}");

    private Uri RepoUri(RegistryReference reference, string path) => new(EndpointOf(reference.Registry), $"v2/{reference.Repository}/{path}");

    private static HttpRequestMessage Request(HttpMethod method, Uri uri, IEnumerable<string>? accept)
    {
        var request = new HttpRequestMessage(method, uri);
        foreach (var type in accept ?? [])
        {
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
        }
        return request;
    }

    private static IEnumerable<string> AcceptManifests() => OciMediaTypes.Manifests;

    /// <summary>
    /// Sends through the retry pipeline. Each try authorises from the cache, answers one 401 challenge and sends again,
    /// and buffers the body: up to <paramref name="maxBody"/> bytes for a success (0: none), up to the error limit otherwise.
    /// </summary>
    private async Task<HttpResponseMessage> SendAsync(
        RegistryReference repository, bool push, Func<HttpRequestMessage> create, int maxBody, CancellationToken cancellationToken) =>
        await _pipeline.ExecuteAsync(
            async ct =>
            {
                var scope = $"repository:{repository.Repository}:{(push ? "pull,push" : "pull")}";
                var response = await SendOnceAsync(repository, create, scope, maxBody, ct).ConfigureAwait(false);
                if (response.StatusCode != HttpStatusCode.Unauthorized)
                {
                    return response;
                }
                var challenge = response.Headers.WwwAuthenticate.Select(h => h.ToString()).FirstOrDefault();
                response.Dispose();
                await AuthorizeAsync(repository, challenge, scope, ct).ConfigureAwait(false);
                return await SendOnceAsync(repository, create, scope, maxBody, ct).ConfigureAwait(false);
            },
            cancellationToken).ConfigureAwait(false);

    private async Task<HttpResponseMessage> SendOnceAsync(
        RegistryReference repository, Func<HttpRequestMessage> create, string scope, int maxBody, CancellationToken cancellationToken)
    {
        using var request = create();
        if (_authorization.TryGetValue($"{repository.Registry}|{scope}", out var bearer))
        {
            request.Headers.TryAddWithoutValidation("Authorization", bearer);
        }
        else if (_authorization.TryGetValue(repository.Registry, out var basic))
        {
            request.Headers.TryAddWithoutValidation("Authorization", basic);
        }
        return await SendCountedAsync(repository.Registry, request, maxBody, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends one request and buffers its bounded body; a connection reset is told to the observer and rethrown.</summary>
    private async Task<HttpResponseMessage> SendCountedAsync(string registry, HttpRequestMessage request, int maxBody, CancellationToken cancellationToken)
    {
        HttpResponseMessage? response = null;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            var limit = response.IsSuccessStatusCode ? maxBody : _options.MaxErrorBodyBytes;
            var body = request.Method == HttpMethod.Head ? [] : await ReadBoundedAsync(response.Content, limit, response.IsSuccessStatusCode, cancellationToken).ConfigureAwait(false);
            var buffered = new ByteArrayContent(body);
            foreach (var header in response.Content.Headers)
            {
                buffered.Headers.TryAddWithoutValidation(header.Key, header.Value);
            }
            if (request.Method != HttpMethod.Head)
            {
                buffered.Headers.ContentLength = body.Length;
            }
            response.Content.Dispose();
            response.Content = buffered;
            return response;
        }
        catch (Exception e) when (IsConnectionReset(e))
        {
            response?.Dispose();
            _resets?.ConnectionReset(registry, _options.ResetPhase);
            throw;
        }
        catch
        {
            response?.Dispose();
            throw;
        }
    }

    /// <summary>Reads at most <paramref name="limit"/> bytes. Past the limit: a success throws; an error body is cut.</summary>
    private static async Task<byte[]> ReadBoundedAsync(HttpContent content, int limit, bool strict, CancellationToken cancellationToken)
    {
        if (strict && content.Headers.ContentLength is { } declared && declared > limit)
        {
            throw new RegistryException($"the registry's answer is {declared} bytes, over the limit of {limit}");
        }
        await using var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var buffer = new byte[Math.Min(limit + 1, 64 * 1024)];
        using var collected = new MemoryStream();
        while (true)
        {
            var read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }
            collected.Write(buffer, 0, read);
            if (collected.Length > limit)
            {
                if (strict)
                {
                    throw new RegistryException($"the registry's answer is over the limit of {limit} bytes");
                }
                collected.SetLength(limit);
                break;
            }
        }
        return collected.ToArray();
    }

    /// <summary>True when a connection reset (<c>ECONNRESET</c>) is anywhere in the exception's causes.</summary>
    public static bool IsConnectionReset(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is SocketException { SocketErrorCode: SocketError.ConnectionReset })
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Answers a 401 challenge: Basic caches the credentials' header for the registry; Bearer fetches a token for
    /// the scope from the realm (with the credentials when there are some) and caches it for the scope.</summary>
    private async Task AuthorizeAsync(RegistryReference repository, string? header, string scope, CancellationToken cancellationToken)
    {
        if (!AuthChallenge.TryParse(header, out var challenge, out var error))
        {
            throw new RegistryException($"{repository.Registry} answered 401 with an unusable challenge: {error}", 401, "UNAUTHORIZED");
        }
        var credential = _credentials.Find(repository.Registry) ?? _credentials.Find(EndpointOf(repository.Registry).Authority);
        if (challenge.IsBasic)
        {
            if (credential is null)
            {
                throw new RegistryException($"{repository.Registry} asks for Basic authentication and the Docker config has no credentials for it", 401, "UNAUTHORIZED");
            }
            _authorization[repository.Registry] = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credential.Username}:{credential.Password}"));
            return;
        }
        if (!challenge.IsBearer)
        {
            throw new RegistryException($"{repository.Registry} asks for '{OciDigest.Shown(challenge.Scheme)}' authentication, which the client does not speak (Basic, Bearer)", 401, "UNAUTHORIZED");
        }
        if (!Uri.TryCreate(challenge.Realm, UriKind.Absolute, out var realm) || realm.Scheme is not ("http" or "https"))
        {
            throw new RegistryException($"{repository.Registry}: Bearer realm '{OciDigest.Shown(challenge.Realm)}' is not an http(s) URL", 401, "UNAUTHORIZED");
        }
        var token = await FetchTokenAsync(repository.Registry, realm, challenge.Service, challenge.Scope ?? scope, credential, cancellationToken).ConfigureAwait(false);
        _authorization[$"{repository.Registry}|{scope}"] = "Bearer " + token;
    }

    private async Task<string> FetchTokenAsync(string registry, Uri realm, string? service, string scope, RegistryCredential? credential, CancellationToken cancellationToken)
    {
        HttpRequestMessage request;
        if (credential?.IdentityToken is { } refreshToken)
        {
            // OAuth2 refresh-token grant (the distribution spec's "oauth" token endpoint), as Docker does with an identity token.
            request = new HttpRequestMessage(HttpMethod.Post, realm)
            {
                Content = new FormUrlEncodedContent(new Dictionary<string, string>
                {
                    ["grant_type"] = "refresh_token",
                    ["service"] = service ?? "",
                    ["scope"] = scope,
                    ["client_id"] = "buildfarm",
                    ["refresh_token"] = refreshToken,
                }),
            };
        }
        else
        {
            var query = new StringBuilder();
            if (!string.IsNullOrEmpty(service))
            {
                query.Append("service=").Append(Uri.EscapeDataString(service));
            }
            query.Append(query.Length > 0 ? "&" : "").Append("scope=").Append(Uri.EscapeDataString(scope));
            var builder = new UriBuilder(realm) { Query = string.IsNullOrEmpty(realm.Query) ? query.ToString() : realm.Query.TrimStart('?') + "&" + query };
            request = new HttpRequestMessage(HttpMethod.Get, builder.Uri);
            if (credential is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{credential.Username}:{credential.Password}")));
            }
        }
        using (request)
        {
            using var response = await SendCountedAsync(registry, request, _options.MaxTokenResponseBytes, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new RegistryException($"{registry}: the token endpoint {realm.GetLeftPart(UriPartial.Path)} answered {(int)response.StatusCode}", (int)response.StatusCode, "UNAUTHORIZED");
            }
            var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                using var document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 8 });
                foreach (var name in new[] { "token", "access_token" })
                {
                    if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty(name, out var value)
                        && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } token)
                    {
                        return token.Any(c => c is < '!' or > '~')
                            ? throw new RegistryException($"{registry}: the token endpoint returned a token with characters a header cannot carry")
                            : token;
                    }
                }
            }
            catch (JsonException e)
            {
                throw new RegistryException($"{registry}: the token endpoint's answer is not JSON: {e.Message}", e);
            }
            throw new RegistryException($"{registry}: the token endpoint's answer has no 'token' or 'access_token'");
        }
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }
        string? code = null;
        string? message = null;
        try
        {
            var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            if (body.Length > 0)
            {
                using var document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 8 });
                if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("errors", out var errors)
                    && errors.ValueKind == JsonValueKind.Array && errors.GetArrayLength() > 0 && errors[0].ValueKind == JsonValueKind.Object)
                {
                    code = errors[0].TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
                    message = errors[0].TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
                }
            }
        }
        catch (JsonException)
        {
            // not a distribution error body: the status alone is reported
        }
        var status = (int)response.StatusCode;
        throw new RegistryException(
            $"{what}: {status} {response.ReasonPhrase}{(code is null ? "" : $" {OciDigest.Shown(code)}")}{(message is null ? "" : $": {OciDigest.Shown(message)}")}",
            status, code);
    }
}
