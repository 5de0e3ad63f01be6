using System.Net;
using System.Net.Sockets;
using BuildFarm.Coordination.Scheduling;
using BuildFarm.Messaging.Hosting;
using BuildFarm.Worker.Hosting;
using BuildFarm.Worker.Options;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace BuildFarm.Worker.Tests;

/// <summary>
/// The worker host process as an operator starts it: settings found wherever it is started from, and start-up problems
/// (no kubeconfig, a port in use) reported as one line naming the setting, exit code 2, no stack trace.
/// </summary>
public sealed class HostStartupTests
{
    private const string UnreachableKubeconfig = """
        apiVersion: v1
        kind: Config
        clusters: [{ name: c, cluster: { server: "http://127.0.0.1:1" } }]
        users: [{ name: u, user: { token: t } }]
        contexts: [{ name: x, context: { cluster: c, user: u } }]
        current-context: x
        """;

    [Fact]
    public async Task Worker_NoKubeconfigAnywhere_ExitsWithOneLineNamingTheSetting_NoStackTrace()
    {
        var home = Directory.CreateTempSubdirectory("worker-empty-home-");
        try
        {
            // docs/worker.md's first example: no setting at all, no ~/.kube/config, no $KUBECONFIG, not in a pod.
            await using var process = WorkerProcess.Start(new Dictionary<string, string?> { ["Kubernetes:KubeconfigPath"] = "" },
                workingDirectory: home.FullName,
                environment: new Dictionary<string, string?> { ["HOME"] = home.FullName, ["KUBECONFIG"] = null, ["KUBERNETES_SERVICE_HOST"] = null });
            Assert.True(await process.WaitForExitAsync(60), "the worker did not exit:\n" + process.Output);

            Assert.Equal(BuildFarmHost.StartupFailed, process.ExitCode);
            var line = Assert.Single(Lines(process.Output), l => l.Contains("Kubernetes:KubeconfigPath", StringComparison.Ordinal));
            Assert.StartsWith("buildfarm-worker: configuration: Kubernetes:KubeconfigPath: not set, and no kubeconfig at ~/.kube/config", line, StringComparison.Ordinal);
            Assert.Contains(Path.Combine(home.FullName, ".kube", "config"), line, StringComparison.Ordinal);
            AssertNoStackTrace(process.Output);
        }
        finally
        {
            home.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Worker_StartedFromAnotherDirectory_ReadsItsSettingsBesideTheProgram_ListensThere()
    {
        // An appsettings file of this test's own environment beside the program (the content root), naming a free port.
        var environment = $"HostTest{Guid.NewGuid():N}";
        var port = TestPorts.Free();
        var settingsFile = Path.Combine(AppContext.BaseDirectory, $"appsettings.{environment}.json");
        await File.WriteAllTextAsync(settingsFile, $$"""{ "Urls": "http://127.0.0.1:{{port}}" }""");
        var elsewhere = Directory.CreateTempSubdirectory("worker-cwd-");
        var kubeconfig = Path.Combine(elsewhere.FullName, "k.kubeconfig");
        await File.WriteAllTextAsync(kubeconfig, UnreachableKubeconfig);
        try
        {
            await using var process = WorkerProcess.Start(new Dictionary<string, string?> { ["Kubernetes:KubeconfigPath"] = kubeconfig },
                workingDirectory: elsewhere.FullName,
                environment: new Dictionary<string, string?> { ["Urls"] = null, ["DOTNET_ENVIRONMENT"] = environment, ["ASPNETCORE_ENVIRONMENT"] = environment });
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            try
            {
                await Eventually.UntilAsync(async () =>
                {
                    Assert.False(process.HasExited, "the worker exited:\n" + process.Output);
                    try
                    {
                        using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/metrics"));
                        return response.StatusCode == HttpStatusCode.OK;
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                    {
                        return false;
                    }
                }, $"the worker started in {elsewhere.FullName} to serve /metrics on port {port} from appsettings.{environment}.json", TimeSpan.FromSeconds(120));
            }
            catch (TimeoutException e)
            {
                Assert.Fail(e.Message + "\n" + process.Output);
            }
        }
        finally
        {
            File.Delete(settingsFile);
            elsewhere.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Worker_PortInUse_ExitsWithOneLineNamingUrls_NoStackTrace()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var port = ((IPEndPoint)holder.LocalEndpoint).Port;
        var kubeconfig = Path.Combine(Path.GetTempPath(), $"worker-port-{Guid.NewGuid():N}.kubeconfig");
        await File.WriteAllTextAsync(kubeconfig, UnreachableKubeconfig);
        try
        {
            await using var process = WorkerProcess.Start(new Dictionary<string, string?> { ["Kubernetes:KubeconfigPath"] = kubeconfig },
                environment: new Dictionary<string, string?> { ["Urls"] = $"http://127.0.0.1:{port}" });
            Assert.True(await process.WaitForExitAsync(60), "the worker did not exit:\n" + process.Output);

            Assert.Equal(BuildFarmHost.StartupFailed, process.ExitCode);
            var line = Assert.Single(Lines(process.Output), l => l.Contains("address already in use", StringComparison.Ordinal));
            Assert.StartsWith($"buildfarm-worker: Failed to bind to address http://127.0.0.1:{port}", line, StringComparison.Ordinal);
            Assert.Contains("set Urls", line, StringComparison.Ordinal);
            AssertNoStackTrace(process.Output);
        }
        finally
        {
            File.Delete(kubeconfig);
        }
    }

    [Fact]
    public async Task Worker_AdmissionWithoutRedis_ExitsWithOneLineNamingBothSettings_NoStackTrace()
    {
        var kubeconfig = Path.Combine(Path.GetTempPath(), $"worker-admission-{Guid.NewGuid():N}.kubeconfig");
        await File.WriteAllTextAsync(kubeconfig, UnreachableKubeconfig);
        try
        {
            // Its admission store would be in process: it would offer its slots to, and take builds from, nobody else.
            await using var process = WorkerProcess.Start(new Dictionary<string, string?>
            {
                ["Kubernetes:KubeconfigPath"] = kubeconfig,
                ["Scheduling:Admission"] = "true",
                ["Redis:ConnectionString"] = "",
            });
            Assert.True(await process.WaitForExitAsync(60), "the worker did not exit:\n" + process.Output);

            Assert.Equal(BuildFarmHost.StartupFailed, process.ExitCode);
            var line = Assert.Single(Lines(process.Output), l => l.Contains("Scheduling:Admission", StringComparison.Ordinal));
            Assert.StartsWith("buildfarm-worker: configuration: Scheduling:Admission: true needs Redis:ConnectionString (environment Redis__ConnectionString)",
                line, StringComparison.Ordinal);
            AssertNoStackTrace(process.Output);
        }
        finally
        {
            File.Delete(kubeconfig);
        }
    }

    [Fact]
    public async Task Worker_UnknownSection_WarnedAtStart_NamingIt()
    {
        var kubeconfig = Path.Combine(Path.GetTempPath(), $"worker-sections-{Guid.NewGuid():N}.kubeconfig");
        await File.WriteAllTextAsync(kubeconfig, UnreachableKubeconfig);
        try
        {
            await using var process = WorkerProcess.Start(new Dictionary<string, string?>
            {
                ["Kubernetes:KubeconfigPath"] = kubeconfig,
                ["Reddis:ConnectionString"] = "127.0.0.1:6379",
            });
            await Eventually.UntilAsync(() => Task.FromResult(process.Output.Contains("Reddis", StringComparison.Ordinal) || process.HasExited),
                "the warning about Reddis", TimeSpan.FromSeconds(60));
            Assert.False(process.HasExited, "the worker exited:\n" + process.Output);
            Assert.Contains("configuration section 'Reddis' (Reddis:ConnectionString) is not a BuildFarm setting and is ignored", process.Output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(kubeconfig);
        }
    }

    [Fact]
    public void KubernetesConfigSource_Resolve_EachCase()
    {
        static bool Exists(string path) => path is "/cfg/a" or "/home/u/.kube/config";
        var none = new KubernetesOptions();
        Assert.Equal(("/home/u/.kube/config", false, (string?)null), KubernetesConfigSource.Resolve(none, null, "/home/u", Exists, false));
        Assert.Equal(("/cfg/a", false, (string?)null), KubernetesConfigSource.Resolve(none, "/cfg/missing:/cfg/a", "/home/u", Exists, false));
        Assert.Equal(((string?)null, true, (string?)null), KubernetesConfigSource.Resolve(none, null, "/empty", Exists, runningInCluster: true));
        Assert.Equal(("/cfg/a", false, (string?)null), KubernetesConfigSource.Resolve(new KubernetesOptions { KubeconfigPath = "/cfg/a" }, null, "/empty", Exists, true));

        var missing = KubernetesConfigSource.Resolve(none, "/cfg/missing", "/home/u", Exists, false).Error;
        Assert.StartsWith("Kubernetes:KubeconfigPath: not set, and no kubeconfig at $KUBECONFIG (/cfg/missing)", missing, StringComparison.Ordinal);
        Assert.StartsWith("Kubernetes:KubeconfigPath: not set, and no kubeconfig at ~/.kube/config (/empty/.kube/config)",
            KubernetesConfigSource.Resolve(none, null, "/empty", Exists, false).Error, StringComparison.Ordinal);
        Assert.StartsWith("Kubernetes:KubeconfigPath: '/cfg/b' does not exist",
            KubernetesConfigSource.Resolve(new KubernetesOptions { KubeconfigPath = "/cfg/b" }, null, "/home/u", Exists, false).Error, StringComparison.Ordinal);
        Assert.StartsWith("Kubernetes:InCluster: true, but this process does not run in a Kubernetes pod",
            KubernetesConfigSource.Resolve(new KubernetesOptions { InCluster = true }, null, "/home/u", Exists, false).Error, StringComparison.Ordinal);
        Assert.Equal(((string?)null, true, (string?)null), KubernetesConfigSource.Resolve(new KubernetesOptions { InCluster = true }, null, "/home/u", Exists, true));
    }

    private static string[] Lines(string output) => output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static void AssertNoStackTrace(string output)
    {
        Assert.DoesNotContain(Lines(output), l => l.StartsWith("at ", StringComparison.Ordinal));
        Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception:", output, StringComparison.Ordinal);
    }
}

/// <summary>The start-up configuration check and the operator log rules (pure), and the logger factory applying them.</summary>
public sealed class OperatorLoggingTests
{
    [Theory]
    [InlineData("true", "", true)]
    [InlineData("True", "  ", true)]
    [InlineData("true", null, true)]
    [InlineData("true", "redis:6379", false)]
    [InlineData("false", "", false)]
    [InlineData(null, null, false)]
    public void AdmissionSharedStoreProblem_OnlyAdmissionWithoutRedis(string? admission, string? redis, bool problem)
    {
        var answer = AdmissionOptions.SharedStoreProblem(admission, redis);
        Assert.Equal(problem, answer is not null);
        if (answer is not null)
        {
            Assert.StartsWith("Scheduling:Admission: true needs Redis:ConnectionString", answer, StringComparison.Ordinal);
            Assert.Contains("Scheduling:Admission=false on all of them", answer, StringComparison.Ordinal);
        }
        // The host's form reads the two settings by name.
        var settings = new Dictionary<string, string?> { ["Scheduling:Admission"] = admission, ["Redis:ConnectionString"] = redis };
        Assert.Equal(answer, AdmissionOptions.SharedStoreProblem(settings.GetValueOrDefault));
    }

    [Fact]
    public async Task RunAsync_ARequirementNotMet_OneConfigurationLine_ExitCode2_HostNeverStarts()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Scheduling:Admission"] = "true" });
        var started = false;
        builder.Services.AddHostedService(_ => new StartMarker(() => started = true));
        using var host = builder.Build();
        var settings = new HostSettings(["Scheduling"], new Dictionary<string, string>(),
            [_ => null, c => AdmissionOptions.SharedStoreProblem(k => c[k]), _ => "Other:Setting: also wrong"]);
        Assert.Equal(2, ConfigurationCheck.Problems(host.Services.GetRequiredService<IConfiguration>(), settings).Count);
        using var error = new StringWriter();

        var code = await BuildFarmHost.RunAsync(host, "test-host", settings, error).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(BuildFarmHost.StartupFailed, code);
        var line = Assert.Single(error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("test-host: configuration: Scheduling:Admission: true needs Redis:ConnectionString", line, StringComparison.Ordinal);
        Assert.EndsWith("; Other:Setting: also wrong", line.TrimEnd(), StringComparison.Ordinal);
        Assert.False(started, "the host started despite the problem");
        // The shipped hosts carry the requirement.
        Assert.Single(WorkerServiceCollectionExtensions.ConfigurationSettings.Requirements!);
    }

    private sealed class StartMarker(Action onStart) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            onStart();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    [Fact]
    public void ConfigurationCheck_UnknownSectionWarned_OtherHostsAndStandardSectionsAndPlainKeysNot_RenamedSettingWarned()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Reddis:ConnectionString"] = "x",
            ["Api:Keys:me:Key"] = "k",            // another host's section (a shared ConfigMap): not warned
            ["Logging:LogLevel:Default"] = "Warning",
            ["Worker:Slots"] = "2",
            ["PATH"] = "/usr/bin",                // a plain environment variable
            ["Status:RedisConnectionString"] = "old:6379",
        }).Build();
        var settings = new HostSettings(["Worker", "Bus"], new Dictionary<string, string> { ["Status:RedisConnectionString"] = "Redis:ConnectionString" });

        var warnings = ConfigurationCheck.Check(configuration, "buildfarm-worker", settings);

        Assert.Equal(2, warnings.Count);
        Assert.Equal("configuration section 'Reddis' (Reddis:ConnectionString) is not a BuildFarm setting and is ignored; buildfarm-worker reads Worker, Bus", warnings[0]);
        Assert.Equal("Status:RedisConnectionString is deprecated: use Redis:ConnectionString (environment Redis__ConnectionString), the same setting on every "
            + "host; Status:RedisConnectionString is still honoured for now", warnings[1]);
    }

    [Fact]
    public void Rules_BrokerUnreachable_OneLineNamingTheBroker()
    {
        var error = new RabbitMQ.Client.Exceptions.BrokerUnreachableException(new SocketException((int)SocketError.ConnectionRefused));
        var line = OperatorLogRules.Rewrite("MassTransit", default, "Connection Failed: rabbitmq://127.0.0.1:5/", null, error);
        Assert.NotNull(line);
        Assert.Equal(LogLevel.Warning, line.Level);
        Assert.StartsWith("broker rabbitmq://127.0.0.1:5/ unreachable (", line.Line, StringComparison.Ordinal);
        Assert.EndsWith("): retrying", line.Line, StringComparison.Ordinal);
        // Stopping a bus that never reached its broker says nothing.
        var notStarted = OperatorLogRules.Rewrite("MassTransit", default, "Failed to stop bus: rabbitmq://127.0.0.1:5/x?temporary=true (Not Started)", null, null);
        Assert.NotNull(notStarted);
        Assert.Null(notStarted.Line);
    }

    [Theory]
    [InlineData("R-FAULT rabbitmq://h/buildfarm-build-image 0a1b BuildImage BuildImageConsumer(00:00:03)")]
    [InlineData("T-FAULT rabbitmq://h/buildfarm-build-image 0a1b")]
    public void Rules_FaultFromAClosedChannelOrAStop_HandedBackLine_OtherFaultsUnchanged(string message)
    {
        var closed = OperatorLogRules.Rewrite("MassTransit.Messages", default, message, null,
            new MassTransit.ConnectionException("The channel was closed: 320 CONNECTION_FORCED - broker forced connection closure"));
        Assert.Equal("message 0a1b on rabbitmq://h/buildfarm-build-image handed back to the broker (The channel was closed: 320 CONNECTION_FORCED - "
            + "broker forced connection closure): it will be delivered again", closed?.Line);
        var stopped = OperatorLogRules.Rewrite("MassTransit.Messages", default, message, null, new TaskCanceledException());
        Assert.Contains("handed back to the broker (consumer stopped", stopped?.Line, StringComparison.Ordinal);
        // A consumer's own bug keeps its stack trace.
        Assert.Null(OperatorLogRules.Rewrite("MassTransit.Messages", default, message, null, new InvalidOperationException("bug")));
        Assert.Null(OperatorLogRules.Rewrite("BuildFarm.Worker", default, message, null, new TaskCanceledException()));
    }

    [Fact]
    public void Factory_RewritesOncePerMessage_WithoutException_LeavesOtherEntriesAlone()
    {
        var collector = new FakeLogCollector();
        using var inner = LoggerFactory.Create(b => b.AddProvider(new FakeLoggerProvider(collector)).SetMinimumLevel(LogLevel.Trace));
        using var factory = new OperatorLoggerFactory(inner, TimeProvider.System);
        var logger = factory.CreateLogger("MassTransit.Messages");
        var closed = new MassTransit.ConnectionException("connection lost");
        // As MassTransit logs them: the same names as its R-FAULT and T-FAULT templates.
        logger.LogError(closed, "R-FAULT {InputAddress} {MessageId} {MessageType} {ConsumerType}({Duration})",
            new Uri("rabbitmq://h/buildfarm-build-image"), "m1", "BuildImage", "BuildImageConsumer", TimeSpan.FromSeconds(3));
        logger.LogError(closed, "T-FAULT {InputAddress} {MessageId}", new Uri("rabbitmq://h/buildfarm-build-image"), "m1");
        logger.LogError(new InvalidOperationException("bug"), "R-FAULT {InputAddress} {MessageId}", new Uri("rabbitmq://h/q"), "m2");

        var records = collector.GetSnapshot();
        Assert.Equal(2, records.Count);
        Assert.Equal(LogLevel.Warning, records[0].Level);
        Assert.Null(records[0].Exception);
        Assert.Equal("message m1 (BuildImage) on rabbitmq://h/buildfarm-build-image handed back to the broker (connection lost): it will be delivered again",
            records[0].Message);
        Assert.Equal(LogLevel.Error, records[1].Level);
        Assert.IsType<InvalidOperationException>(records[1].Exception);
    }
}
