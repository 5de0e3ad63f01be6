using Microsoft.AspNetCore.Diagnostics.HealthChecks;

namespace BuildFarm.Worker.Hosting;

public static class WorkerEndpoints
{
    /// <summary><c>/healthz</c> (liveness and readiness: unhealthy while Redis is unreachable) and <c>/metrics</c> (Prometheus).</summary>
    public static WebApplication MapBuildFarmWorkerEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapHealthChecks("/healthz", new HealthCheckOptions());
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }
}
