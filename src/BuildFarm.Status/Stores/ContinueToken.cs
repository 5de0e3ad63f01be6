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

    public static string Decode(string token)
    {
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
