using System.Collections.Concurrent;

namespace BuildFarm.Registry.Tests;

/// <summary>Collects what the client reports to <see cref="IRegistryResetObserver"/>.</summary>
public sealed class RecordingResets : IRegistryResetObserver
{
    public ConcurrentQueue<(string Registry, string Phase)> Resets { get; } = new();

    public void ConnectionReset(string registry, string phase) => Resets.Enqueue((registry, phase));
}
