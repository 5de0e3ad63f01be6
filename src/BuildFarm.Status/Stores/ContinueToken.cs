using System.Buffers.Text;
using System.Text;

namespace BuildFarm.Status.Stores;

/// <summary>
/// The opaque continue token of a list: the sort key of the last record returned, base64url. Stable: records added or
/// changed later do not shift the pages after it (the order is by submit time, fixed per record).
/// </summary>
internal static class ContinueToken
{
    public static string Encode(string sortKey) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(sortKey));

    /// <summary>Longest token the stores issue (a 15-digit time, '|' and a build id, base64url), with room to spare.</summary>
    public const int MaxLength = 400;

    /// <summary>True when <paramref name="token"/> is one a store issued (checked without touching the store).</summary>
    public static bool IsValid(string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Length > MaxLength)
        {
            return false;
        }
        try
        {
            Decode(token);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    public static string Decode(string token)
    {
        if (token.Length > MaxLength)
        {
            throw new ArgumentException("continue token is too long", nameof(token));
        }
        try
        {
            var key = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(token));
            var bar = key.IndexOf('|', StringComparison.Ordinal);
            if (bar == 15 && key[..bar].All(char.IsAsciiDigit))
            {
                return key;
            }
        }
        catch (FormatException)
        {
        }
        throw new ArgumentException($"continue token '{token}' is not one this store issued", nameof(token));
    }
}
