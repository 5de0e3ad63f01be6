using System.Collections.Frozen;

namespace BuildFarm.Api.Web;

/// <summary>
/// The web page for batches and builds (docs/web.md): static files embedded in this assembly (folder <c>Web/ui</c>),
/// served under <see cref="Prefix"/> without a key. Only the data calls the page makes to <c>/v1</c> carry one. Every
/// answer has a strict Content-Security-Policy (scripts and styles from this origin only, no inline script, no frames),
/// <c>nosniff</c> and <c>no-referrer</c>. The routes are left out of the OpenAPI document.
/// </summary>
public static class WebUi
{
    /// <summary>Where the page is served: <c>/ui/</c>; a build is <c>/ui/#/builds/{id}</c>, a batch <c>/ui/#/batches/{id}</c>.</summary>
    public const string Prefix = "/ui/";

    /// <summary>The policy every answer under <see cref="Prefix"/> carries.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    /// <summary>The longest file path the route looks up (longer ones are 404 without a look-up).</summary>
    public const int MaxPathLength = 128;

    private const string ResourcePrefix = "BuildFarm.Api.Web.ui/";

    private static readonly FrozenDictionary<string, string> MediaTypes = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".json"] = "application/json; charset=utf-8",
        [".svg"] = "image/svg+xml",
    }.ToFrozenDictionary(StringComparer.Ordinal);

    private static readonly Lazy<FrozenDictionary<string, byte[]>> Files = new(LoadFiles);

    /// <summary>The page for one build.</summary>
    public static string BuildPath(string buildId) => $"{Prefix}#/builds/{Uri.EscapeDataString(buildId)}";

    /// <summary>The page for one batch.</summary>
    public static string BatchPath(string batchId) => $"{Prefix}#/batches/{Uri.EscapeDataString(batchId)}";

    /// <summary>The embedded files by path under <see cref="Prefix"/> (<c>index.html</c>, <c>app.js</c>, …).</summary>
    public static IReadOnlyCollection<string> FileNames => Files.Value.Keys;

    /// <summary>
    /// The file a request path under <see cref="Prefix"/> names (empty = <c>index.html</c>), with its media type; null when
    /// there is none. Only names of lower-case letters, digits, <c>-</c>, <c>_</c>, <c>.</c> and <c>/</c> are looked up.
    /// </summary>
    public static (byte[] Content, string MediaType)? Find(string? path)
    {
        var name = string.IsNullOrEmpty(path) ? "index.html" : path;
        if (name.Length > MaxPathLength || name.Contains("..", StringComparison.Ordinal)
            || !name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_' or '.' or '/'))
        {
            return null;
        }
        return Files.Value.TryGetValue(name, out var content) && MediaTypes.TryGetValue(Path.GetExtension(name), out var type)
            ? (content, type)
            : null;
    }

    /// <summary>Maps <c>/ui/{path}</c> (and <c>/ui</c>, a redirect to <c>/ui/</c>), anonymous and outside the OpenAPI document.</summary>
    public static IEndpointRouteBuilder MapBuildFarmWebUi(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        // The catch-all also matches "/ui" and "/ui/" (routing ignores a trailing slash): only the one without is redirected,
        // so that the page's relative links (app.js, app.css) resolve under /ui/.
        app.MapGet(Prefix + "{**path}", (string? path, HttpContext context) =>
        {
            if (string.IsNullOrEmpty(path) && !context.Request.Path.Value!.EndsWith('/'))
            {
                return Results.Redirect(Prefix);
            }
            var headers = context.Response.Headers;
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            headers.XFrameOptions = "DENY";
            // Small files that change with each release: always revalidate (no stale page after an upgrade).
            headers.CacheControl = "no-cache";
            return Find(path) is { } file
                ? Results.Bytes(file.Content, file.MediaType)
                : Results.Text($"no file '{path}' under {Prefix}", "text/plain; charset=utf-8", statusCode: StatusCodes.Status404NotFound);
        }).AllowAnonymous().ExcludeFromDescription();
        return app;
    }

    private static FrozenDictionary<string, byte[]> LoadFiles()
    {
        var assembly = typeof(WebUi).Assembly;
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)
                ?? throw new InvalidOperationException($"embedded resource {resource} cannot be read");
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            files[resource[ResourcePrefix.Length..]] = copy.ToArray();
        }
        return files.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
