using BuildFarm.Status.Hosting;
using BuildFarm.Status.Stores;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace BuildFarm.Status.Tests;

public sealed class RegistrationTests
{
    private static ServiceProvider Build(Dictionary<string, string?> settings)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        services.AddBuildFarmStatusStore();
        return services.BuildServiceProvider();
    }

    [Fact]
    public void AddBuildFarmStatusStore_NoRedis_InProcessStore()
    {
        using var provider = Build([]);

        Assert.IsType<InMemoryBuildStatusStore>(provider.GetRequiredService<IBuildStatusStore>());
        Assert.IsType<InMemoryIdempotencyStore>(provider.GetRequiredService<IIdempotencyStore>());
        Assert.Equal(TimeSpan.FromDays(7), provider.GetRequiredService<IOptions<BuildStatusStoreOptions>>().Value.RecordTtl);
    }

    [NeedsServer(Server.Redis)]
    [Fact]
    public void AddBuildFarmStatusStore_RedisConfigured_RedisStoreWithThePrefix()
    {
        using var provider = Build(new()
        {
            ["Status:RedisConnectionString"] = TestRedis.ConnectionString,
            ["Status:KeyPrefix"] = "custom:",
            ["Status:RecordTtl"] = "1.00:00:00",
        });

        Assert.IsType<RedisBuildStatusStore>(provider.GetRequiredService<IBuildStatusStore>());
        Assert.IsType<RedisIdempotencyStore>(provider.GetRequiredService<IIdempotencyStore>());
        Assert.Equal(("custom:", TimeSpan.FromDays(1)),
            (provider.GetRequiredService<IOptions<BuildStatusStoreOptions>>().Value.KeyPrefix, provider.GetRequiredService<IOptions<BuildStatusStoreOptions>>().Value.RecordTtl));
    }

    [NeedsServer(Server.Redis)]
    [Fact]
    public void AddBuildFarmStatusStore_RedisConnectionString_TheFarmsOneRedisSetting_RedisStore_AndWinsOverTheOldName()
    {
        using var provider = Build(new() { ["Redis:ConnectionString"] = TestRedis.ConnectionString });

        Assert.IsType<RedisBuildStatusStore>(provider.GetRequiredService<IBuildStatusStore>());
        Assert.Equal(TestRedis.ConnectionString, provider.GetRequiredService<IOptions<BuildStatusStoreOptions>>().Value.RedisConnectionString);

        using var both = Build(new() { ["Redis:ConnectionString"] = "new:6379", ["Status:RedisConnectionString"] = "old:6379" });
        Assert.Equal("new:6379", both.GetRequiredService<IOptions<BuildStatusStoreOptions>>().Value.RedisConnectionString);
    }

    [Fact]
    public void AddBuildFarmStatusStore_BadSettings_ErrorsNameEachSetting()
    {
        using var provider = Build(new()
        {
            ["Status:KeyPrefix"] = "",
            ["Status:RecordTtl"] = "-00:00:01",
        });

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<BuildStatusStoreOptions>>().Value);

        Assert.Contains(error.Failures, f => f.StartsWith("Status:KeyPrefix: is required", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("Status:RecordTtl: must be positive", StringComparison.Ordinal));
    }
}
