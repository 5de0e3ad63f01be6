using StackExchange.Redis;

namespace BuildFarm.TestSupport;

/// <summary>
/// The real redis-server that ./test.sh starts on 127.0.0.1 and names in BUILDFARM_TEST_REDIS: one multiplexer per test
/// process. Each test uses its own key prefix (<see cref="UniquePrefix"/>), so tests never see each other's keys.
/// </summary>
public static class TestRedis
{
    private static readonly Lazy<ConnectionMultiplexer> Connection = new(() => ConnectionMultiplexer.Connect(ConnectionString));

    public static string ConnectionString => TestEnvironment.Redis;

    public static IConnectionMultiplexer Multiplexer => Connection.Value;

    /// <summary>A fresh key prefix such as <c>bftest:3f2a…:</c>.</summary>
    public static string UniquePrefix(string stem = "bftest") => $"{stem}:{Guid.NewGuid():N}:";
}
