using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace BuildFarm.Registry;

/// <summary>Sending: the retry pipeline, one 401 answered per try, bounded bodies, connection resets told to the observer, registry errors.</summary>
public sealed partial class RegistryClient
{
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
