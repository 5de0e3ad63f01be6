using Microsoft.Extensions.Hosting;

namespace BuildFarm.ClusterSim.Hosting;

/// <summary>
/// The simulator's web host is embedded (in the CLI, tests, the demo): it must not take over Ctrl+C and SIGTERM the way
/// the default console lifetime does, or the process that owns it never hears them.
/// </summary>
internal sealed class EmbeddedHostLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
