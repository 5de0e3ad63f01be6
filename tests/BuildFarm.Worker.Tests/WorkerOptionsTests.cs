using BuildFarm.Coordination.Scheduling;
using BuildFarm.Worker.Builds;
using BuildFarm.Worker.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BuildFarm.Worker.Tests;

public sealed class WorkerOptionsTests
{
    [Theory]
    [InlineData("Worker:Slots", "0", "Worker:Slots")]
    [InlineData("Worker:MaxAttempts", "0", "Worker:MaxAttempts")]
    [InlineData("Worker:LeaseRenewInterval", "00:00:20", "Worker:LeaseRenewInterval")]
    [InlineData("Worker:MaxBackoff", "00:00:00.010", "Worker:MaxBackoff")]
    [InlineData("Kaniko:ExecutorImage", "gcr.io/kaniko-project/executor:latest", "Kaniko:ExecutorImage")]
    [InlineData("Bus:Transport", "Kafka", "Bus:Transport")]
    [InlineData("Kubernetes:KubeconfigPath", "/nonexistent/kubeconfig", "Kubernetes:KubeconfigPath")]
    [InlineData("Kubernetes:MaxRetries", "-1", "Kubernetes:MaxRetries")]
    [InlineData("Kubernetes:RetryBaseDelay", "00:00:00", "Kubernetes:RetryBaseDelay")]
    [InlineData("Worker:UnavailableRetries", "-1", "Worker:UnavailableRetries")]
    [InlineData("Worker:UnavailableRetryMaxDelay", "00:00:00.001", "Worker:UnavailableRetryDelay/UnavailableRetryMaxDelay")]
    [InlineData("Worker:CancelMarkerTtl", "00:00:00", "Worker:CancelMarkerTtl")]
    [InlineData("Worker:RedisProbeInterval", "00:00:00", "Worker:RedisProbeInterval")]
    [InlineData("Worker:MaxMessageHold", "00:00:00", "Worker:MaxMessageHold")]
    [InlineData("Worker:RegistryLimitCongestionWeight", "0", "Worker:RegistryLimitCongestionWeight")]
    [InlineData("Worker:RegistryLimitCongestionWeight", "1.5", "Worker:RegistryLimitCongestionWeight")]
    [InlineData("Scheduling:Policy", "Random", "Scheduling:Policy")]
    [InlineData("Scheduling:FairShare:DefaultWeight", "0", "Scheduling:FairShare:DefaultWeight")]
    [InlineData("Scheduling:FairShare:TenantWeights:team-a", "-2", "Scheduling:FairShare:TenantWeights:team-a")]
    public async Task Start_InvalidSetting_FailsNamingTheSetting(string key, string value, string named)
    {
        var kubeconfig = Path.Combine(Path.GetTempPath(), $"worker-options-{Guid.NewGuid():N}.kubeconfig");
        // A valid kubeconfig (nothing listens there): only the setting under test is wrong.
        await File.WriteAllTextAsync(kubeconfig, """
            apiVersion: v1
            kind: Config
            clusters: [{ name: c, cluster: { server: "http://127.0.0.1:1" } }]
            users: [{ name: u, user: { token: t } }]
            contexts: [{ name: x, context: { cluster: c, user: u } }]
            current-context: x
            """);
        try
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.ClearProviders();
            builder.Configuration.AddInMemoryCollection(WorkerHarness.Settings(kubeconfig, new Dictionary<string, string?> { [key] = value }));
            builder.Services.AddBuildFarmWorkerCore();
            using var host = builder.Build();
            var error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());
            var messages = error is OptionsValidationException o ? string.Join("\n", o.Failures) : error.Message;
            Assert.Contains(named, messages, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(kubeconfig);
        }
    }

    [Theory]
    [InlineData(null, typeof(WeightedFairSchedulingPolicy))]
    [InlineData("Fair", typeof(WeightedFairSchedulingPolicy))]
    [InlineData("Fifo", typeof(FifoSchedulingPolicy))]
    public void SchedulingPolicy_FromSchedulingPolicySetting(string? setting, Type expected)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(WorkerHarness.Settings("/nonexistent/kubeconfig",
            setting is null ? null : new Dictionary<string, string?> { ["Scheduling:Policy"] = setting }));
        builder.Services.AddBuildFarmWorkerCore();
        using var host = builder.Build();
        Assert.IsType(expected, host.Services.GetRequiredService<ISchedulingPolicy>());
    }

    [Fact]
    public void RunningBuilds_CancelRunningBuild_TrueAndTokenFires_UnknownFalse()
    {
        var running = new RunningBuilds();
        using (var build = running.Register("b1"))
        {
            Assert.True(running.Cancel("b1", "me"));
            Assert.True(build.Token.IsCancellationRequested);
            Assert.Equal("me", build.RequestedBy);
            Assert.False(running.Cancel("b2", "me"));
        }
        Assert.False(running.IsRunning("b1"));
    }
}
