using System.Diagnostics.Metrics;
using BuildFarm.Contracts;
using BuildFarm.Kaniko;
using BuildFarm.Kaniko.Pods;
using BuildFarm.Worker.Builds;
using k8s;
using Microsoft.Extensions.DependencyInjection;

namespace BuildFarm.Worker.Tests;

/// <summary>
/// Worker deaths timed at exact points of a build (issue 21): a hook on the event publisher throws where the worker
/// would have died, then the message is run again as the broker redelivers it.
/// </summary>
public sealed class CrashWindowTests
{
    [Fact]
    public async Task DeathBetweenCompletionAndPodDelete_RedeliveredMessage_DeletesTheSucceededPod_KeepsPhaseSeconds()
    {
        await using var worker = await WorkerHarness.StartAsync();
        var runner = worker.Host.Services.GetRequiredService<BuildRunner>();
        var command = WorkerHarness.Command("window1");
        // The dedupe key is completed just before BuildSucceeded is published and the pod deleted: die there.
        var dying = new HookPublisher { OnPublish = m => m is BuildSucceeded ? throw new WorkerKilledException() : Task.CompletedTask };
        using (var cancellation = new RunningBuilds().Register(command.BuildId))
        {
            await Assert.ThrowsAsync<WorkerKilledException>(() => runner.RunAsync(command, dying, cancellation, CancellationToken.None));
        }
        Assert.False(await worker.PodGoneAsync("bf-window1-1"), "the death left the succeeded pod");

        var again = new HookPublisher();
        using var second = new RunningBuilds().Register(command.BuildId);
        var outcome = await runner.RunAsync(command, again, second, CancellationToken.None, redelivered: true);

        Assert.Equal("succeeded", outcome.Outcome);
        var succeeded = Assert.Single(again.Messages.OfType<BuildSucceeded>());
        Assert.Equal(1, succeeded.Attempts);
        Assert.Contains(KanikoPhase.Push.ToWire(), succeeded.PhaseSeconds.Keys);
        Assert.Empty(again.Messages.OfType<BuildStarted>());
        await Eventually.UntilAsync(() => worker.PodGoneAsync("bf-window1-1"), "the redelivered message to delete the succeeded pod");
        Assert.Equal(["bf-window1-1"], await worker.PodsOfAsync("window1"));
    }

    [Fact]
    public async Task Janitor_DeletesASucceededPodLeftBehind_AfterKeepSucceededPodsFor_AndCountsIt()
    {
        await using var worker = await WorkerHarness.StartAsync(settings: new Dictionary<string, string?> { ["Worker:KeepSucceededPodsFor"] = "00:00:01" });
        using var meters = new MeterRecorder(worker.Host.Services.GetRequiredService<IMeterFactory>());
        // A pod whose build's worker died before deleting it, and whose message nobody runs again.
        var command = WorkerHarness.Command("orphan");
        var pod = KanikoPodFactory.Create(command.Spec, command.BuildId, 1, new KanikoPodOptions { Namespace = WorkerHarness.Namespace });
        await worker.Kubernetes.CoreV1.CreateNamespacedPodAsync(pod, WorkerHarness.Namespace);

        await Eventually.UntilAsync(() => worker.PodGoneAsync("bf-orphan-1"), "the janitor to delete the succeeded pod", TimeSpan.FromSeconds(15));
        await Eventually.UntilAsync(() => Task.FromResult(meters.Sum("buildfarm.janitor.pods_deleted", "phase=succeeded") == 1),
            "the janitor's delete counted");
        Assert.Equal(0, meters.Sum("buildfarm.janitor.pods_deleted", "phase=failed"));
    }

    [Fact]
    public async Task DeathDuringAttempt2_RedeliveredMessage_CountsTheResetsOfAttempt1()
    {
        await using var worker = await WorkerHarness.StartAsync("faults: { pushReset: 1 }");
        var runner = worker.Host.Services.GetRequiredService<BuildRunner>();
        var command = WorkerHarness.Command("window2");
        using var kill = new CancellationTokenSource();
        // Attempt 1 fails on connection resets; the next pod gets no fault; the worker dies once attempt 2 has started.
        var dying = new HookPublisher
        {
            OnPublish = m =>
            {
                switch (m)
                {
                    case BuildAttemptFailed { Attempt: 1 }:
                        worker.Sim.Reload(WorkerHarness.Scenario());
                        break;
                    case BuildStarted { Attempt: 2 }:
                        kill.Cancel();
                        break;
                }
                return Task.CompletedTask;
            },
        };
        using (var cancellation = new RunningBuilds().Register(command.BuildId))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => runner.RunAsync(command, dying, cancellation, kill.Token));
        }
        var attempt1 = Assert.Single(dying.Messages.OfType<BuildAttemptFailed>());
        Assert.Equal(FailureReasons.ConnectionReset, attempt1.Reason);
        Assert.True(attempt1.Resets > 0, "attempt 1's resets are on its BuildAttemptFailed");

        var again = new HookPublisher();
        using var second = new RunningBuilds().Register(command.BuildId);
        var outcome = await runner.RunAsync(command, again, second, CancellationToken.None, redelivered: true);

        Assert.Equal("succeeded", outcome.Outcome);
        var succeeded = Assert.Single(again.Messages.OfType<BuildSucceeded>());
        Assert.Equal(2, succeeded.Attempts);
        Assert.Equal(attempt1.Resets, succeeded.Resets);
        Assert.Equal(["bf-window2-2"], again.Messages.OfType<BuildStarted>().Select(s => s.Pod));
    }

    private sealed class WorkerKilledException() : Exception("killed here by the test");

    /// <summary>Records what a build publishes; <see cref="OnPublish"/> runs first (and may throw: the worker dies there).</summary>
    private sealed class HookPublisher : IBuildEventPublisher
    {
        private readonly List<object> _messages = [];

        public Func<object, Task>? OnPublish { get; init; }

        public IReadOnlyList<object> Messages
        {
            get
            {
                lock (_messages)
                {
                    return [.. _messages];
                }
            }
        }

        public async Task PublishAsync<T>(T message, CancellationToken cancellationToken)
            where T : class
        {
            if (OnPublish is { } onPublish)
            {
                await onPublish(message);
            }
            lock (_messages)
            {
                _messages.Add(message);
            }
        }
    }
}
