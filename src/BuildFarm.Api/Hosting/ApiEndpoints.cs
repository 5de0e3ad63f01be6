using BuildFarm.Api.Auth;
using BuildFarm.Api.Options;
using BuildFarm.Api.Web;
using BuildFarm.Hosting;
using Microsoft.Extensions.Options;

namespace BuildFarm.Api.Hosting;

/// <summary>
/// The API's routes (docs/api.md): <c>/v1/builds</c> (<see cref="BuildEndpoints"/>), <c>/v1/batches</c>
/// (<see cref="BatchEndpoints"/>), their event streams (<see cref="EventEndpoints"/>), build logs (<see cref="LogEndpoints"/>), health, metrics, OpenAPI. The checks
/// the handlers share are in <see cref="RequestChecks"/>; the OpenAPI document's corrections in <c>BuildFarm.Api.OpenApi</c>.
/// </summary>
public static class ApiEndpoints
{
    public const string JsonMediaType = RequestChecks.JsonMediaType;
    public const string YamlMediaType = RequestChecks.YamlMediaType;

    public const string HealthPath = HostingDefaults.HealthPath;
    public const string ReadyPath = HostingDefaults.ReadyPath;
    public const string MetricsPath = HostingDefaults.MetricsPath;

    /// <summary>The detail of a 415: the Content-Type the request sent and the ones its route accepts.</summary>
    internal static string UnsupportedMediaTypeDetail(HttpRequest request) => RequestChecks.UnsupportedMediaTypeDetail(request);

    public static WebApplication MapBuildFarmApi(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var options = app.Services.GetRequiredService<IOptions<ApiOptions>>().Value;
        if (options.DisableAuth)
        {
            app.Logger.LogCritical(
                "AUTHENTICATION IS DISABLED (Api:DisableAuth=true): anyone who reaches this API can submit, read and cancel builds. Use this only for local development.");
        }
        else
        {
            // The keys are read and checked when the host starts, with the other settings (a key the API cannot use stops
            // it with one line naming the setting); they are reported once it has started.
            app.Lifetime.ApplicationStarted.Register(() =>
            {
                var keys = app.Services.GetRequiredService<ApiKeyRing>();
                if (keys.Count == 0)
                {
                    app.Logger.LogWarning("No API keys are configured (Api:Keys or Api:KeysDirectory): every /v1 request will be answered 401");
                }
                else
                {
                    app.Logger.LogInformation("API keys loaded: {Names}", string.Join(", ", keys.Names));
                }
            });
        }

        // Malformed HTTP framing met outside a handler's own body read (Kestrel's BadHttpRequestException) is the client's
        // fault: a 4xx problem, never a 500.
        app.Use(async (context, next) =>
        {
            try
            {
                await next(context);
            }
            catch (BadHttpRequestException e) when (!context.Response.HasStarted)
            {
                context.Response.Clear();
                var status = e.StatusCode is >= 400 and < 500 ? e.StatusCode : StatusCodes.Status400BadRequest;
                await RequestChecks.Problem(status, "Malformed request", e.Message).ExecuteAsync(context);
            }
        });
        app.UseStatusCodePages();
        app.UseAuthentication();
        app.UseAuthorization();

        // Health and metrics are not API-explorer endpoints: the document transformer describes them (OpenApi/ApiDocumentTransformer).
        app.MapBuildFarmDefaults();
        app.MapOpenApi("/openapi/{documentName}.json");
        // The web page's static files (docs/web.md): anonymous, not in the OpenAPI document; its data calls use /v1 with a key.
        app.MapBuildFarmWebUi();

        var v1 = app.MapGroup("/v1");
        BuildEndpoints.Map(v1);
        BatchEndpoints.Map(v1);
        EventEndpoints.Map(v1);
        LogEndpoints.Map(v1);
        return app;
    }
}
