namespace BuildFarm.Api.Auth;

/// <summary>What an API key may do. Each is also the name of the authorization policy that requires it.</summary>
public static class ApiScopes
{
    public const string Submit = "submit";
    public const string Read = "read";
    public const string Cancel = "cancel";

    /// <summary>The claim type carrying a key's scopes.</summary>
    public const string ClaimType = "scope";

    public static IReadOnlyList<string> All { get; } = [Submit, Read, Cancel];
}
