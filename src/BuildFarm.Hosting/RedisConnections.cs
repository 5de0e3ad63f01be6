using System.Collections.Concurrent;
using StackExchange.Redis;

namespace BuildFarm.Hosting;

/// <summary>
/// The process's Redis multiplexers: one per connection string, made on first use (without failing when Redis is down:
/// the library reconnects) and closed with the container. Every component that talks to Redis takes its connection
/// here, so a host configured with <c>Redis:ConnectionString</c> alone opens one multiplexer, as StackExchange.Redis
/// advises. A component still configured with an old, different setting gets its own.
/// </summary>
public sealed class RedisConnections : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<ConnectionMultiplexer>> _connections = new(StringComparer.Ordinal);
    private bool _disposed;

    /// <summary>The multiplexer for <paramref name="connectionString"/> (StackExchange.Redis configuration syntax).</summary>
    public IConnectionMultiplexer Get(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _connections.GetOrAdd(connectionString.Trim(), static s => new Lazy<ConnectionMultiplexer>(() =>
        {
            var config = ConfigurationOptions.Parse(s);
            config.AbortOnConnectFail = false;
            return ConnectionMultiplexer.Connect(config);
        })).Value;
    }

    /// <summary>
    /// Why <paramref name="connectionString"/> is not a StackExchange.Redis configuration, naming <paramref name="setting"/>;
    /// null when it is one, or when it is empty (no Redis: in-process coordination).
    /// </summary>
    public static string? ConfigurationProblem(string setting, string? connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            return null;
        }
        try
        {
            ConfigurationOptions.Parse(connectionString);
            return null;
        }
        catch (ArgumentException e)
        {
            return $"{setting}: not a valid StackExchange.Redis configuration: {e.Message}";
        }
    }

    /// <summary>How many multiplexers are open (one per distinct connection string asked for).</summary>
    public int Count => _connections.Values.Count(c => c.IsValueCreated);

    public void Dispose()
    {
        _disposed = true;
        foreach (var connection in _connections.Values)
        {
            if (connection.IsValueCreated)
            {
                connection.Value.Dispose();
            }
        }
        _connections.Clear();
    }
}
