using System.Net;
using System.Text.RegularExpressions;
using BuildFarm.Api.Web;

namespace BuildFarm.Web.Tests;

/// <summary>The page's static files as the demo farm's API host serves them: no key needed, a strict Content-Security-Policy,
/// only the embedded files, nothing in the OpenAPI document. No browser (fast lane).</summary>
[Collection(WebFarmGroup.Name)]
public sealed partial class ServedFilesTests(WebFarmFixture farm)
{
    [Theory]
    [InlineData("ui/", "text/html")]
    [InlineData("ui/index.html", "text/html")]
    [InlineData("ui/app.js", "text/javascript")]
    [InlineData("ui/api.js", "text/javascript")]
    [InlineData("ui/graph.js", "text/javascript")]
    [InlineData("ui/app.css", "text/css")]
    [InlineData("ui/failure-reasons.json", "application/json")]
    public async Task File_IsServedWithoutAKey_WithTheStrictPolicy(string path, string mediaType)
    {
        using var response = await farm.Http().GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(mediaType, response.Content.Headers.ContentType?.MediaType);
        var policy = Assert.Single(response.Headers.GetValues("Content-Security-Policy"));
        Assert.Equal(WebUi.ContentSecurityPolicy, policy);
        Assert.Contains("script-src 'self'", policy, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-inline", policy, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-eval", policy, StringComparison.Ordinal);
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("no-referrer", Assert.Single(response.Headers.GetValues("Referrer-Policy")));
    }

    [Fact]
    public async Task UiWithoutSlash_RedirectsToThePage()
    {
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = farm.Api, Timeout = TimeSpan.FromSeconds(30) };
        using var response = await http.GetAsync("ui");

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/ui/", response.Headers.Location?.OriginalString);
    }

    [Theory]
    [InlineData("ui/nope.js")]
    [InlineData("ui/..%2Fappsettings.json")]
    [InlineData("ui/%2E%2E/%2E%2E/etc/passwd")]
    [InlineData("ui/App.js")]
    [InlineData("ui/WebUi.cs")]
    public async Task AnythingButTheEmbeddedFiles_Is404(string path)
    {
        using var response = await farm.Http().GetAsync(path);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task DataCalls_StillNeedAKey()
    {
        using var response = await farm.Http().GetAsync("v1/builds");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task OpenApiDocument_DoesNotListThePage()
    {
        var document = await farm.Http().GetStringAsync("openapi/v1.json");

        Assert.Contains("\"/v1/builds\"", document, StringComparison.Ordinal);
        Assert.DoesNotContain("/ui", document, StringComparison.Ordinal);
    }

    [Fact]
    public void Find_RefusesLongAndStrangeNames()
    {
        Assert.NotNull(WebUi.Find(""));
        Assert.NotNull(WebUi.Find("app.js"));
        Assert.Null(WebUi.Find(new string('a', WebUi.MaxPathLength + 1) + ".js"));
        Assert.Null(WebUi.Find("../app.js"));
        Assert.Null(WebUi.Find("app.js?x"));
        Assert.Null(WebUi.Find("APP.JS"));
    }

    [Fact]
    public void Markup_HasNoInlineScriptOrStyle_AndScriptsBuildNoHtmlFromStrings()
    {
        var html = Text("index.html");
        Assert.DoesNotMatch(InlineScript(), html);
        Assert.DoesNotContain("style=", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<style", html, StringComparison.Ordinal);
        Assert.DoesNotMatch(InlineHandler(), html);
        foreach (var script in WebUi.FileNames.Where(n => n.EndsWith(".js", StringComparison.Ordinal)))
        {
            var js = Text(script);
            // Data is shown as text nodes only: an id or a log line can never become markup.
            Assert.DoesNotContain("innerHTML", js, StringComparison.Ordinal);
            Assert.DoesNotContain("outerHTML", js, StringComparison.Ordinal);
            Assert.DoesNotContain("insertAdjacentHTML", js, StringComparison.Ordinal);
            Assert.DoesNotContain("eval(", js, StringComparison.Ordinal);
            // The key travels in the Authorization header, never in a URL or in localStorage.
            Assert.DoesNotContain("localStorage", js, StringComparison.Ordinal);
            Assert.DoesNotMatch(KeyInUrl(), js);
        }
    }

    private static string Text(string name) =>
        System.Text.Encoding.UTF8.GetString((WebUi.Find(name) ?? throw new InvalidOperationException($"{name} is not embedded")).Content);

    [GeneratedRegex(@"<script(?![^>]*\bsrc=)[^>]*>", RegexOptions.IgnoreCase)]
    private static partial Regex InlineScript();

    [GeneratedRegex(@"\son[a-z]+\s*=", RegexOptions.IgnoreCase)]
    private static partial Regex InlineHandler();

    [GeneratedRegex(@"[?&](api_?key|key|token)=", RegexOptions.IgnoreCase)]
    private static partial Regex KeyInUrl();
}
