using BuildFarm.Coordination.Redis;
using StackExchange.Redis;

namespace BuildFarm.Coordination.Tests;

/// <summary>
/// The real redis-server that ./test.sh starts on 127.0.0.1 and names in BUILDFARM_TEST_REDIS.
/// Each test gets its own key prefix, so tests never see each other's keys.
/// </summary>
public static class TestRedis
{
    public const string Variable = "BUILDFARM_TEST_REDIS";

    private static readonly Lazy<ConnectionMultiplexer> Connection = new(() =>
        ConnectionMultiplexer.Connect(Environment.GetEnvironmentVariable(Variable)
            ?? throw new InvalidOperationException($"{Variable} is not set: run the tests with ./test.sh, which starts redis-server")));

    public static IConnectionMultiplexer Multiplexer => Connection.Value;

    public static RedisKeys UniqueKeys() => new($"bftest:{Guid.NewGuid():N}:");
}
