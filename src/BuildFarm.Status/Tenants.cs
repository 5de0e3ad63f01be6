namespace BuildFarm.Status;

/// <summary>
/// Tenant names: the team that owns a build or batch (docs/security.md "Tenants"). 1–63 characters, ASCII letters,
/// digits, <c>.</c>, <c>_</c>, <c>-</c>, starting with a letter or digit; compared ordinally (case matters). The charset
/// keeps a tenant safe inside the status store's Redis key names (no <c>:</c>) and in log lines.
/// </summary>
public static class Tenants
{
    public const int MaxLength = 63;

    public static bool IsValid(string? tenant) =>
        tenant is { Length: > 0 and <= MaxLength }
        && char.IsAsciiLetterOrDigit(tenant[0])
        && tenant.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    /// <summary>Why <paramref name="tenant"/> is not a tenant name, or null when it is one.</summary>
    public static string? Problem(string? tenant) => IsValid(tenant)
        ? null
        : $"'{tenant}' is not a tenant name: 1-{MaxLength} ASCII letters, digits, '.', '_' or '-', starting with a letter or digit";

    /// <summary>
    /// Whether a caller of <paramref name="callerTenant"/> may see a record owned by <paramref name="owner"/>: the same
    /// tenant, or any record for an admin. A record without a tenant (written before tenants existed) is an admin's only.
    /// </summary>
    public static bool CanSee(string? owner, string callerTenant, bool admin) =>
        admin || (owner is not null && string.Equals(owner, callerTenant, StringComparison.Ordinal));
}
