using System.Text.Json;
using BuildFarm.Contracts;
using BuildFarm.Kaniko.Specs;
using BuildFarm.Worker.Builds;

namespace BuildFarm.Worker.Tests;

/// <summary>
/// Issue 12 §1: a build request must not make the worker read and publish its own files. Before the fix,
/// <c>{"context":"dir:///proc/self","dockerfile":"environ"}</c> failed the build with the worker's environment quoted in
/// <c>BuildFailed.Detail</c>.
/// </summary>
public sealed class ContextLeakTests
{
    /// <summary>Strings of this process' environment that must never appear in an event.</summary>
    private static readonly string[] Secrets =
    [
        .. new[] { "PATH", "HOME" }.Select(Environment.GetEnvironmentVariable).OfType<string>().Where(v => v.Length > 3),
        "PATH=", "HOME=",
    ];

    private static void AssertNothingQuoted(IEnumerable<object> events, params string[] more)
    {
        foreach (var e in events)
        {
            var json = JsonSerializer.Serialize(e, e.GetType());
            foreach (var secret in Secrets.Concat(more))
            {
                Assert.DoesNotContain(secret, json, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task ProcSelfEnviron_WithoutAllowedRoots_FailsWithoutReadingIt()
    {
        await using var worker = await WorkerHarness.StartAsync();
        var spec = WorkerHarness.Spec() with { Context = "dir:///proc/self", Dockerfile = "environ" };
        await worker.PublishAsync(WorkerHarness.Command("leak", spec));

        var failed = Assert.IsType<BuildFailed>(await worker.Events.WaitEndAsync("leak"));
        Assert.Equal(FailureReasons.DockerfileInvalid, failed.Reason);
        Assert.Contains("dir:// contexts are not allowed", failed.Detail, StringComparison.Ordinal);
        Assert.Empty(await worker.PodsOfAsync("leak"));
        AssertNothingQuoted(worker.Events.For("leak"));
    }

    [Fact]
    public async Task SymlinkOutOfAnAllowedRoot_IsRefused_AndAFileInsideIsNeverQuoted()
    {
        var root = Directory.CreateTempSubdirectory("bf-roots-");
        try
        {
            // escape/Dockerfile -> /proc/self/environ: under the root as written, outside it once resolved.
            Directory.CreateDirectory(Path.Combine(root.FullName, "escape"));
            File.CreateSymbolicLink(Path.Combine(root.FullName, "escape", "Dockerfile"), "/proc/self/environ");
            // inside/Dockerfile: a file under the root whose lines are not Dockerfile instructions.
            Directory.CreateDirectory(Path.Combine(root.FullName, "inside"));
            await File.WriteAllTextAsync(Path.Combine(root.FullName, "inside", "Dockerfile"), "REDIS_PASSWORD=canary-5e1f9a\n");
            await using var worker = await WorkerHarness.StartAsync(settings: new Dictionary<string, string?> { ["Worker:AllowedContextRoots:0"] = root.FullName });

            await worker.PublishAsync(WorkerHarness.Command("escape", WorkerHarness.Spec() with { Context = $"dir://{root.FullName}/escape" }));
            await worker.PublishAsync(WorkerHarness.Command("inside", WorkerHarness.Spec() with { Context = $"dir://{root.FullName}/inside" }));

            var escape = Assert.IsType<BuildFailed>(await worker.Events.WaitEndAsync("escape"));
            Assert.Contains("not under an allowed context root", escape.Detail, StringComparison.Ordinal);
            var inside = Assert.IsType<BuildFailed>(await worker.Events.WaitEndAsync("inside"));
            Assert.Equal(FailureReasons.DockerfileInvalid, inside.Reason);
            Assert.Contains("line 1", inside.Detail, StringComparison.Ordinal);
            AssertNothingQuoted(worker.Events.For("escape"));
            AssertNothingQuoted(worker.Events.For("inside"), "canary-5e1f9a", "REDIS_PASSWORD");
            Assert.Empty(await worker.PodsOfAsync("escape"));
            Assert.Empty(await worker.PodsOfAsync("inside"));
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task CheckAsync_AProcFileUnderAnAllowedRoot_IsNeverRead()
    {
        // An operator who (wrongly) allows /proc still leaks nothing: /proc files have no size and are not opened.
        var rejection = await WorkerPreflight.CheckAsync(WorkerHarness.Spec() with { Context = "dir:///proc/self", Dockerfile = "environ" }, ["/proc"], 1024 * 1024, default);
        Assert.NotNull(rejection);
        Assert.DoesNotContain("PATH=", rejection.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckAsync_ADockerfileOverTheLimit_IsRefusedUnread()
    {
        var root = Directory.CreateTempSubdirectory("bf-roots-");
        try
        {
            await File.WriteAllTextAsync(Path.Combine(root.FullName, "Dockerfile"), "FROM alpine:3.19\n" + new string('#', 5000));
            var rejection = await WorkerPreflight.CheckAsync(WorkerHarness.Spec() with { Context = "dir://" + root.FullName }, [root.FullName], 1000, default);
            Assert.NotNull(rejection);
            Assert.Contains("over the limit of 1000", rejection.Detail, StringComparison.Ordinal);
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    [Fact]
    public void DeadlineSource_BeyondTheTimerLimit_CreatesNoTimer()
    {
        var time = TimeProvider.System;
        using var far = BuildRunner.DeadlineSource(new DateTimeOffset(2099, 1, 1, 0, 0, 0, TimeSpan.Zero), time);
        Assert.False(far.IsCancellationRequested);
        using var past = BuildRunner.DeadlineSource(DateTimeOffset.UtcNow.AddSeconds(-1), time);
        Assert.True(SpinWait.SpinUntil(() => past.IsCancellationRequested, TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void ContextRoots_ResolveDotDotAndLinks()
    {
        Assert.True(ContextRoots.TryResolve("/a/b/../c/./d", out var resolved));
        Assert.Equal("/a/c/d", resolved);
        Assert.True(ContextRoots.TryResolve("/proc/self/environ", out var proc));
        Assert.Matches(@"^/proc/[0-9]+/environ$", proc);
        Assert.False(ContextRoots.IsAllowed("/srv/ctx/../../etc", "/etc/passwd", ["/srv/ctx"], out var error));
        Assert.Contains("not under an allowed context root", error, StringComparison.Ordinal);
        Assert.False(ContextRoots.IsAllowed("/srv/ctx", "/srv/ctx/Dockerfile", [], out var none));
        Assert.Contains("not allowed", none, StringComparison.Ordinal);
        Assert.True(ContextRoots.IsAllowed("/srv/ctx/app", "/srv/ctx/app/Dockerfile", ["/srv/ctx/"], out _));
        Assert.False(ContextRoots.IsAllowed("/srv/ctx2", "/srv/ctx2/Dockerfile", ["/srv/ctx"], out _));
    }
}
