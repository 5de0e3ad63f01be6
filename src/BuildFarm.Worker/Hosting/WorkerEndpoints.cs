using BuildFarm.Hosting;

namespace BuildFarm.Worker.Hosting;

public static class WorkerEndpoints
{
    /// <summary><c>/healthz</c> (liveness: the process serves HTTP), <c>/readyz</c> (readiness: Redis answers, when
    /// configured, and the bus is connected) and <c>/metrics</c> (Prometheus).</summary>
    public static WebApplication MapBuildFarmWorkerEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapBuildFarmDefaults();
        return app;
    }
}
