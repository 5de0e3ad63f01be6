using System.Security.Claims;
using System.Text.Encodings.Web;
using BuildFarm.Api.Metrics;
using BuildFarm.Api.Options;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;

namespace BuildFarm.Api.Auth;

/// <summary>
/// <c>Authorization: Bearer &lt;key&gt;</c> → a principal named after the key (its name becomes <c>RequestedBy</c>) with a
/// <c>scope</c> claim per scope and a <c>tenant</c> claim. No header or an unknown key → 401 with <c>WWW-Authenticate</c>;
/// a missing scope → 403. With <c>Api:DisableAuth</c> every request is <c>anonymous</c> (tenant <c>anonymous</c>) with
/// every scope, <c>admin</c> included.
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> schemeOptions,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    ApiKeyRing keys,
    IOptions<ApiOptions> apiOptions,
    IProblemDetailsService problems,
    ApiMetrics metrics)
    : AuthenticationHandler<AuthenticationSchemeOptions>(schemeOptions, loggerFactory, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string AnonymousName = "anonymous";

    private const string NoKey = "no_key";
    private const string UnknownKey = "unknown_key";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (apiOptions.Value.DisableAuth)
        {
            return Task.FromResult(AuthenticateResult.Success(Ticket(AnonymousName, ApiScopes.All, AnonymousName)));
        }
        var header = Request.Headers.Authorization.ToString();
        if (string.IsNullOrEmpty(header))
        {
            Context.Items[NoKey] = true;
            return Task.FromResult(AuthenticateResult.NoResult());
        }
        const string prefix = "Bearer ";
        if (!header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) || header.Length == prefix.Length)
        {
            Context.Items[UnknownKey] = true;
            return Task.FromResult(AuthenticateResult.Fail("the Authorization header must be 'Bearer <api key>'"));
        }
        var key = keys.Find(header[prefix.Length..].Trim());
        if (key is null)
        {
            Context.Items[UnknownKey] = true;
            return Task.FromResult(AuthenticateResult.Fail("unknown API key"));
        }
        return Task.FromResult(AuthenticateResult.Success(Ticket(key.Name, key.Scopes, key.Tenant)));
    }

    private static AuthenticationTicket Ticket(string name, IEnumerable<string> scopes, string tenant)
    {
        var claims = new List<Claim> { new(ClaimTypes.Name, name), new(ApiScopes.TenantClaimType, tenant) };
        claims.AddRange(scopes.Select(s => new Claim(ApiScopes.ClaimType, s)));
        return new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName)), SchemeName);
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var unknown = Context.Items.ContainsKey(UnknownKey);
        metrics.Rejected(unknown ? "unknown_key" : "no_key");
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = unknown
            ? "Bearer realm=\"buildfarm\", error=\"invalid_token\", error_description=\"unknown API key\""
            : "Bearer realm=\"buildfarm\"";
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails =
            {
                Status = StatusCodes.Status401Unauthorized,
                Title = "Unauthorized",
                Detail = unknown
                    ? "The API key is not known (send 'Authorization: Bearer <api key>')."
                    : "An API key is required: send 'Authorization: Bearer <api key>'.",
            },
        });
    }

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        metrics.Rejected("missing_scope");
        Response.StatusCode = StatusCodes.Status403Forbidden;
        // Each endpoint requires one policy named after its scope.
        var scope = Context.GetEndpoint()?.Metadata.GetOrderedMetadata<IAuthorizeData>().Select(a => a.Policy).LastOrDefault(p => p is not null);
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails =
            {
                Status = StatusCodes.Status403Forbidden,
                Title = "Forbidden",
                Detail = scope is null
                    ? $"The API key '{Context.User.Identity?.Name}' lacks the scope this endpoint needs."
                    : $"The API key '{Context.User.Identity?.Name}' lacks the '{scope}' scope.",
            },
        });
    }
}
