using System.Diagnostics;
using BuildFarm.Contracts;
using StackExchange.Redis;

namespace BuildFarm.Status.Tests;

/// <summary>The real redis-server that ./test.sh starts (BUILDFARM_TEST_REDIS); each test uses its own key prefix.</summary>
public static class TestRedis
{
    public const string Variable = "BUILDFARM_TEST_REDIS";

    private static readonly Lazy<ConnectionMultiplexer> Connection = new(() => ConnectionMultiplexer.Connect(ConnectionString));

    public static string ConnectionString => Environment.GetEnvironmentVariable(Variable)
        ?? throw new InvalidOperationException($"{Variable} is not set: run the tests with ./test.sh, which starts redis-server");

    public static IConnectionMultiplexer Multiplexer => Connection.Value;

    public static string UniquePrefix() => $"bfstatustest:{Guid.NewGuid():N}:";
}

public static class Eventually
{
    /// <summary>Polls <paramref name="probe"/> until true or the deadline passes, then fails naming <paramref name="what"/>.</summary>
    public static async Task TrueAsync(Func<Task<bool>> probe, string what, double seconds = 10)
    {
        var clock = Stopwatch.StartNew();
        while (!await probe())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(seconds))
            {
                throw new TimeoutException($"timed out after {seconds}s waiting for {what}");
            }
            await Task.Delay(20);
        }
    }
}

public static class Records
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    public static BuildSpec Spec(string name) => new()
    {
        Context = "s3://ctx-bucket/mono.tar.gz",
        ContextSubPath = name,
        Destinations = [$"registry.example.com/team/{name}:1"],
    };

    public static BuildRecord Build(string id, BuildState state = BuildState.Queued, string? batch = null, DateTimeOffset? submitted = null,
        IReadOnlyList<string>? dependsOn = null, string? tenant = null) => new()
    {
        BuildId = id,
        BatchId = batch,
        Tenant = tenant,
        Name = id,
        Spec = Spec(id),
        State = state,
        SubmittedAt = submitted ?? T0,
        DependsOn = dependsOn ?? [],
    };
}
