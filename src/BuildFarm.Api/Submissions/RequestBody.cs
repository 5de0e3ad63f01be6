using System.Security.Cryptography;
using System.Text;

namespace BuildFarm.Api.Submissions;

/// <summary>A request body read whole (bounded), with the hash that identifies the request for idempotency.</summary>
public sealed record RequestBody(byte[] Bytes, string Hash)
{
    /// <summary>Reads at most <paramref name="maxBytes"/>; null when the body is larger (the caller answers 413).</summary>
    public static async Task<RequestBody?> ReadAsync(HttpRequest request, long maxBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.ContentLength > maxBytes)
        {
            return null;
        }
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > maxBytes)
            {
                return null;
            }
            buffer.Write(chunk, 0, read);
        }
        var bytes = buffer.ToArray();
        // What identifies the request: method, path, query (manifest options), media type and body.
        var identity = Encoding.UTF8.GetBytes($"{request.Method}\n{request.Path}\n{request.QueryString}\n{request.ContentType}\n");
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(identity);
        hash.AppendData(bytes);
        return new RequestBody(bytes, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }
}
