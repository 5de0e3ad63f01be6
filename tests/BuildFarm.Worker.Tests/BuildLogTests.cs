using BuildFarm.Contracts;
using BuildFarm.Coordination.Logs;
using BuildFarm.Kaniko.Pods;
using BuildFarm.Worker.Builds;
using k8s;
using Microsoft.Extensions.DependencyInjection;

namespace BuildFarm.Worker.Tests;

/// <summary>
/// Each attempt's log in the log store (issue 14), against the simulator and the real redis-server of ./test.sh: what
/// the store holds is exactly what Kubernetes serves for the pod (with timestamps), in order, once.
/// </summary>
[NeedsServer(Server.Redis)]
public sealed class BuildLogTests
{
    private static Dictionary<string, string?> RedisSettings(params (string Key, string Value)[] more)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Redis:ConnectionString"] = TestEnvironment.Redis,
            ["Redis:KeyPrefix"] = $"bfworkertest:{Guid.NewGuid():N}:",
            ["Logs:KeyPrefix"] = $"bflogtest:{Guid.NewGuid():N}:",
        };
        foreach (var (key, value) in more)
        {
            settings[key] = value;
        }
        return settings;
    }

    private static IBuildLogStore Store(WorkerHarness worker) => worker.Host.Services.GetRequiredService<IBuildLogStore>();

    private static async Task<IReadOnlyList<string>> StoredAsync(WorkerHarness worker, string buildId, int attempt) =>
        (await Store(worker).ReadAsync(buildId, attempt, 0, BuildLogArguments.MaxReadLines, CancellationToken.None)).Lines;

    private static async Task<IReadOnlyList<string>> PodLogAsync(WorkerHarness worker, string pod)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var stream = await worker.Kubernetes.CoreV1.ReadNamespacedPodLogAsync(pod, WorkerHarness.Namespace,
            container: KanikoPodFactory.ContainerName, timestamps: true, cancellationToken: deadline.Token);
        using var reader = new StreamReader(stream);
        var lines = new List<string>();
        while (await reader.ReadLineAsync(deadline.Token) is { } line)
        {
            lines.Add(line);
        }
        return lines;
    }

    [Fact]
    public async Task FailedInRun_StoredLogIsThePodsLog_InOrder_Ended_StillThereAfterThePodIsDeleted()
    {
        await using var worker = await WorkerHarness.StartAsync("faults: { runFailure: 1, runExitCode: 3 }", RedisSettings());
        await worker.PublishAsync(WorkerHarness.Command("logrun"));

        Assert.IsType<BuildFailed>(await worker.Events.WaitEndAsync("logrun"));
        var podLog = await PodLogAsync(worker, "bf-logrun-1");
        await worker.Kubernetes.CoreV1.DeleteNamespacedPodAsync("bf-logrun-1", WorkerHarness.Namespace, gracePeriodSeconds: 0);
        await Eventually.UntilAsync(() => worker.PodGoneAsync("bf-logrun-1"), "the failed pod to be deleted");

        var stored = await StoredAsync(worker, "logrun", 1);
        Assert.True(podLog.Count > 5, $"the simulator served {podLog.Count} lines");
        Assert.Equal(podLog, stored);
        Assert.Contains(stored, l => l.Contains("RUN", StringComparison.Ordinal));
        var state = await Store(worker).GetStateAsync("logrun", 1, CancellationToken.None);
        Assert.True(state!.Ended);
        Assert.Equal(0, state.CutLines);
    }

    [Fact]
    public async Task RetriedBuild_OneLogPerAttempt_EachItsPodsLog()
    {
        await using var worker = await WorkerHarness.StartAsync("faults: { pushReset: 1 }", RedisSettings(("Worker:MaxAttempts", "3")));
        await worker.PublishAsync(WorkerHarness.Command("logretry"));

        Assert.IsType<BuildFailed>(await worker.Events.WaitEndAsync("logretry"));

        for (var attempt = 1; attempt <= 3; attempt++)
        {
            var stored = await StoredAsync(worker, "logretry", attempt);
            Assert.Equal(await PodLogAsync(worker, $"bf-logretry-{attempt}"), stored);
            Assert.Contains(stored, l => l.Contains("connection reset by peer", StringComparison.Ordinal));
        }
        Assert.Null(await Store(worker).GetStateAsync("logretry", 4, CancellationToken.None));
    }

    [Fact]
    public async Task ArchiveDirectory_FinishedLogMovesToItsFile_RedisHoldsNone_ReadsThePodsLog()
    {
        var archive = Directory.CreateTempSubdirectory("bf-worker-log-archive-").FullName;
        try
        {
            var prefix = $"bflogtest:{Guid.NewGuid():N}:";
            await using var worker = await WorkerHarness.StartAsync("faults: { runFailure: 1, runExitCode: 3 }",
                RedisSettings(("Logs:KeyPrefix", prefix), ("Logs:ArchiveDirectory", archive)));
            await worker.PublishAsync(WorkerHarness.Command("logarchive"));

            Assert.IsType<BuildFailed>(await worker.Events.WaitEndAsync("logarchive"));

            Assert.True(File.Exists(Path.Combine(archive, "logarchive", "1.log")), "the attempt's archive file");
            var live = new RedisBuildLogStore(TestRedis.Multiplexer, prefix, TimeSpan.FromMinutes(1));
            Assert.Null(await live.GetStateAsync("logarchive", 1, CancellationToken.None));
            Assert.Equal(await PodLogAsync(worker, "bf-logarchive-1"), await StoredAsync(worker, "logarchive", 1));
            Assert.True((await Store(worker).GetStateAsync("logarchive", 1, CancellationToken.None))!.Ended);
        }
        finally
        {
            Directory.Delete(archive, recursive: true);
        }
    }

    [Fact]
    public async Task LogOverTheCap_HeadAndTailKept_WithAMarker()
    {
        await using var worker = await WorkerHarness.StartAsync("faults: { runFailure: 1, runExitCode: 3 }",
            RedisSettings(("Logs:MaxAttemptBytes", "1024")));
        await worker.PublishAsync(WorkerHarness.Command("logcap"));

        Assert.IsType<BuildFailed>(await worker.Events.WaitEndAsync("logcap"));

        var podLog = await PodLogAsync(worker, "bf-logcap-1");
        var stored = await StoredAsync(worker, "logcap", 1);
        Assert.True(podLog.Sum(l => l.Length + 1) > 1500, $"the simulator's log has {podLog.Sum(l => l.Length + 1)} bytes");
        var cut = stored.ToList().FindIndex(l => l.Contains("[buildfarm]", StringComparison.Ordinal));
        Assert.True(cut > 0, "a marker line says what was cut");
        Assert.Equal(podLog.Take(cut), stored.Take(cut));
        Assert.Equal(podLog.TakeLast(stored.Count - cut - 1), stored.Skip(cut + 1));
        var state = (await Store(worker).GetStateAsync("logcap", 1, CancellationToken.None))!;
        Assert.Equal(podLog.Count - (stored.Count - 1), state.CutLines);
        Assert.True(state.Bytes <= 1024, $"{state.Bytes} bytes stored");
    }

    [Fact]
    public async Task WorkerKilledMidAttempt_AdoptingRunResumesTheLog_NoLineLost_NoneTwice()
    {
        // RUN steps long enough (about 2 s of wall time each) that the attempt is still running when the worker dies; the
        // last one fails, so the pod stays to be compared with.
        await using var worker = await WorkerHarness.StartAsync("faults: { runFailure: 1, runExitCode: 3 }\ntimings: { run: { median: 800, p95: 900 } }",
            RedisSettings());
        var runner = worker.Host.Services.GetRequiredService<BuildRunner>();
        var command = WorkerHarness.Command("logkill");
        using var kill = new CancellationTokenSource();
        using (var cancellation = new RunningBuilds().Register(command.BuildId))
        {
            var run = runner.RunAsync(command, new NullPublisher(), cancellation, kill.Token);
            await Eventually.UntilAsync(async () => await Store(worker).GetStateAsync("logkill", 1, CancellationToken.None) is { Lines: > 0 },
                "the first lines stored");
            await kill.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(TimeSpan.FromSeconds(30)));
        }
        var before = await Store(worker).GetStateAsync("logkill", 1, CancellationToken.None);
        Assert.False(before!.Ended, "the killed worker did not end the log");

        using var second = new RunningBuilds().Register(command.BuildId);
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var outcome = await runner.RunAsync(command, new NullPublisher(), second, deadline.Token, redelivered: true).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal("failed", outcome.Outcome);
        var stored = await StoredAsync(worker, "logkill", 1);
        Assert.True(stored.Count > before.Lines, "the adopting run added the rest");
        Assert.Equal(await PodLogAsync(worker, "bf-logkill-1"), stored);
        Assert.True((await Store(worker).GetStateAsync("logkill", 1, CancellationToken.None))!.Ended);
    }

    private sealed class NullPublisher : IBuildEventPublisher
    {
        public Task PublishAsync<T>(T message, CancellationToken cancellationToken)
            where T : class => Task.CompletedTask;
    }
}
