namespace BuildFarm.Api.Auth;

/// <summary>What an API key may do. Each is also the name of the authorization policy that requires it.</summary>
public static class ApiScopes
{
    public const string Submit = "submit";
    public const string Read = "read";
    public const string Cancel = "cancel";

    /// <summary>
    /// Reach beyond the key's own tenant: with <see cref="Read"/> it reads, lists and streams every tenant's builds and
    /// batches, with <see cref="Cancel"/> it cancels any. Alone it allows nothing.
    /// </summary>
    public const string Admin = "admin";

    /// <summary>The claim type carrying a key's scopes.</summary>
    public const string ClaimType = "scope";

    /// <summary>The claim type carrying a key's tenant.</summary>
    public const string TenantClaimType = "tenant";

    public static IReadOnlyList<string> All { get; } = [Submit, Read, Cancel, Admin];
}
