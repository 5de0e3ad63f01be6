using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace BuildFarm.Registry;

/// <summary>The authentication challenge: Basic credentials, or a Bearer token for the scope from the realm.</summary>
public sealed partial class RegistryClient
{
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
}
