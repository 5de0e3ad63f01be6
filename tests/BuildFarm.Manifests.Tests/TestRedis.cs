using StackExchange.Redis;

namespace BuildFarm.Manifests.Tests;

/// <summary>
/// The real redis-server that ./test.sh starts on 127.0.0.1 and names in BUILDFARM_TEST_REDIS.
/// Each test uses its own key prefix, so tests never see each other's keys.
/// </summary>
internal static class TestRedis
{
    public const string Variable = "BUILDFARM_TEST_REDIS";

    private static readonly Lazy<ConnectionMultiplexer> Connection = new(() => ConnectionMultiplexer.Connect(ConnectionString));

    public static string ConnectionString => Environment.GetEnvironmentVariable(Variable)
        ?? throw new InvalidOperationException($"{Variable} is not set: run the tests with ./test.sh, which starts redis-server");

    public static IConnectionMultiplexer Multiplexer => Connection.Value;

    public static string UniquePrefix() => $"bftest:{Guid.NewGuid():N}:";
}
