using System.Security.Claims;
using BuildFarm.Status;

namespace BuildFarm.Api.Auth;

/// <summary>
/// Who is calling, from the authenticated principal: the key's name (<c>RequestedBy</c>), its tenant and whether it holds
/// the <c>admin</c> scope. Every read, list, stream and cancel goes through <see cref="CanSee(string?)"/> or
/// <see cref="ListTenant"/>, so a key of one tenant never learns of another tenant's builds (they answer 404).
/// </summary>
public sealed record ApiCaller(string Name, string Tenant, bool IsAdmin)
{
    public static ApiCaller From(ClaimsPrincipal user)
    {
        ArgumentNullException.ThrowIfNull(user);
        var name = user.Identity?.Name ?? ApiKeyAuthenticationHandler.AnonymousName;
        // Every principal this API authenticates carries a tenant claim; the fallback is the key ring's own default.
        var tenant = user.FindFirst(ApiScopes.TenantClaimType)?.Value ?? name;
        return new ApiCaller(name, tenant, user.HasClaim(ApiScopes.ClaimType, ApiScopes.Admin));
    }

    /// <summary>Whether this caller may see (read, stream, cancel) a record owned by <paramref name="owner"/>.</summary>
    public bool CanSee(string? owner) => Tenants.CanSee(owner, Tenant, IsAdmin);

    /// <summary>The tenant a list is restricted to: the caller's own, or none (every tenant) for an admin.</summary>
    public string? ListTenant => IsAdmin ? null : Tenant;
}
