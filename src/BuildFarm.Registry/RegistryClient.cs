using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using Polly;

namespace BuildFarm.Registry;

/// <summary>
/// A small client of the OCI distribution API (<c>/v2/</c>): manifest HEAD, GET and PUT, blob HEAD, GET and monolithic
/// upload, the token authentication challenge (Bearer: realm, service, scope → token endpoint; Basic), credentials from a
/// Docker config.json, and <see cref="PushIndexAsync"/>, which joins per-platform manifests into one index pushed to
/// every destination tag. Every request goes through the retry pipeline (<see cref="RegistryResilience"/>); every
/// connection reset is told to the <see cref="IRegistryResetObserver"/>. Every body read from a registry is bounded.
/// Thread-safe; one instance per process.
/// </summary>
public sealed partial class RegistryClient : IDisposable
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

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    // Request URIs and messages (the partial files: .Manifests, .Blobs, .Push, .Transport, .Auth).
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
}
