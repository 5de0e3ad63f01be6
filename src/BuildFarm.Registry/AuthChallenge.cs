using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace BuildFarm.Registry;

/// <summary>
/// One <c>WWW-Authenticate</c> challenge of a registry's 401: <c>Basic realm="…"</c> or
/// <c>Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:team/app:pull,push"</c>
/// (the distribution token authentication specification). Parameter names are matched case-insensitively.
/// </summary>
public sealed record AuthChallenge(string Scheme, IReadOnlyDictionary<string, string> Parameters)
{
    /// <summary>Longest challenge parsed; a longer header is refused rather than read.</summary>
    public const int MaxLength = 4096;

    public bool IsBearer => Scheme.Equals("Bearer", StringComparison.OrdinalIgnoreCase);

    public bool IsBasic => Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase);

    public string? Realm => Parameters.GetValueOrDefault("realm");

    public string? Service => Parameters.GetValueOrDefault("service");

    public string? Scope => Parameters.GetValueOrDefault("scope");

    /// <summary>Parses <c>scheme param="value", param=token, …</c>. Quoted values may hold commas and <c>\"</c>.</summary>
    public static bool TryParse(string? header, [NotNullWhen(true)] out AuthChallenge? challenge, [NotNullWhen(false)] out string? error)
    {
        challenge = null;
        if (string.IsNullOrWhiteSpace(header) || header.Length > MaxLength)
        {
            error = $"WWW-Authenticate must be 1-{MaxLength} characters";
            return false;
        }
        var text = header.Trim();
        var i = 0;
        while (i < text.Length && IsTokenChar(text[i]))
        {
            i++;
        }
        if (i == 0 || (i < text.Length && text[i] != ' '))
        {
            error = $"WWW-Authenticate '{OciDigest.Shown(header)}' does not start with an authentication scheme";
            return false;
        }
        var scheme = text[..i];
        var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        while (i < text.Length)
        {
            while (i < text.Length && (text[i] == ' ' || text[i] == ','))
            {
                i++;
            }
            if (i >= text.Length)
            {
                break;
            }
            var nameStart = i;
            while (i < text.Length && IsTokenChar(text[i]))
            {
                i++;
            }
            if (i == nameStart || i >= text.Length || text[i] != '=')
            {
                error = $"WWW-Authenticate '{OciDigest.Shown(header)}': expected name=value at character {nameStart}";
                return false;
            }
            var name = text[nameStart..i];
            i++;
            string value;
            if (i < text.Length && text[i] == '"')
            {
                i++;
                var builder = new StringBuilder();
                var closed = false;
                while (i < text.Length)
                {
                    var c = text[i++];
                    if (c == '\\' && i < text.Length)
                    {
                        builder.Append(text[i++]);
                    }
                    else if (c == '"')
                    {
                        closed = true;
                        break;
                    }
                    else
                    {
                        builder.Append(c);
                    }
                }
                if (!closed)
                {
                    error = $"WWW-Authenticate '{OciDigest.Shown(header)}': unterminated quoted value of '{name}'";
                    return false;
                }
                value = builder.ToString();
            }
            else
            {
                var valueStart = i;
                while (i < text.Length && text[i] != ',')
                {
                    i++;
                }
                value = text[valueStart..i].Trim();
            }
            parameters[name] = value;
        }
        challenge = new AuthChallenge(scheme, parameters);
        error = null;
        return true;
    }

    // RFC 9110 token characters.
    private static bool IsTokenChar(char c) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '!' or '#' or '$' or '%' or '&' or '\'' or '*' or '+' or '-' or '.' or '^' or '_' or '`' or '|' or '~';
}
