using System.Text.RegularExpressions;
using BuildFarm.ClusterSim.Kaniko;
using BuildFarm.ClusterSim.Scenarios;

namespace BuildFarm.ClusterSim.Tests;

public sealed partial class KanikoScriptTests
{
    private static readonly DateTimeOffset s_start = new(2026, 11, 28, 19, 42, 1, TimeSpan.Zero);

    [GeneratedRegex(@"^\x1b\[\d+m(?:INFO|WARN)\x1b\[0m\[[^\]]+\] (.*?) *$")]
    private static partial Regex Color();

    private static KanikoRun Plan(Scenario scenario, params string[] args) =>
        KanikoScript.Plan(KanikoArgs.Parse(args), scenario, new Random(42), "default/p", 7, o => s_start.AddSeconds(o), "10.244.0.5");

    /// <summary>The Kaniko message of each line (plain lines as they are).</summary>
    private static List<string> Messages(KanikoRun run) =>
        run.Lines.Select(l => Color().Match(l.Text) is { Success: true } m ? m.Groups[1].Value : l.Text).ToList();

    private static Scenario BusyboxLike(string extra = "") => ScenarioLoader.Parse($"""
        dockerfile:
          base: 127.0.0.1:5000/base/busybox:1.35
          steps:
            - ENV APP_HOME=/opt/app GREETING="hello from kaniko"
            - WORKDIR /opt/app
            - COPY app.sh config.txt ./
            - RUN chmod +x app.sh && echo "$GREETING" > greeting.txt && ls -la /opt/app
          runOutput: ["total 20"]
        {extra}
        """);

    [Fact]
    public void Plan_SuccessColor_PrintsTheRealRunMessagesInOrder()
    {
        var run = Plan(BusyboxLike(), "--context=dir:///workspace", "--destination=127.0.0.1:5000/app:1", "--log-timestamp", "--digest-file=/dev/termination-log");

        // The real run's Kaniko messages, except the digest (different image) and its own RUN output.
        var real = Sim.RealRun("a-success-color-timestamp.exit0.log")
            .Select(l => Color().Match(l) is { Success: true } m ? m.Groups[1].Value : null)
            .Where(m => m is not null)
            .ToList();
        var ours = Messages(run).Where(m => m != "total 20").ToList();
        Assert.Equal(real.Count, ours.Count);
        for (var i = 0; i < real.Count - 1; i++)
        {
            Assert.Equal(real[i], ours[i]);
        }
        Assert.Matches("^Pushed 127.0.0.1:5000/app@sha256:[0-9a-f]{64}$", ours[^1]);
        Assert.Equal(PodFate.Succeeded, run.Fate);
        Assert.Equal(0, run.ExitCode);
        Assert.Equal(ours[^1][(ours[^1].IndexOf('@', StringComparison.Ordinal) + 1)..], run.Digest);
    }

    [Fact]
    public void Plan_TextAndJson_UseThoseFormats()
    {
        var text = Plan(BusyboxLike(), "--destination=r.io/a:1", "--log-format=text");
        Assert.StartsWith("time=\"2026-11-28T19:42:01Z\" level=info msg=\"Retrieving image manifest 127.0.0.1:5000/base/busybox:1.35\"", text.Lines[0].Text, StringComparison.Ordinal);
        var json = Plan(BusyboxLike(), "--destination=r.io/a:1", "--log-format=json");
        Assert.Contains(json.Lines, l => l.Text.Contains("\"msg\":\"RUN chmod +x app.sh \\u0026\\u0026 echo \\\"$GREETING\\\" \\u003e greeting.txt", StringComparison.Ordinal));
    }

    [Fact]
    public void Plan_SameSeedAndPod_GivesIdenticalRun()
    {
        var a = Plan(Scenarios(), "--destination=r.io/a:1", "--push-retry=3");
        var b = Plan(Scenarios(), "--destination=r.io/a:1", "--push-retry=3");
        Assert.Equal(a.Lines, b.Lines);
        Assert.Equal(a.Digest, b.Digest);
        var other = KanikoScript.Plan(KanikoArgs.Parse(["--destination=r.io/a:1"]), Scenarios(), new Random(42), "default/other", 7, o => s_start.AddSeconds(o), "10.244.0.5");
        Assert.NotEqual(a.ImageDigest, other.ImageDigest);

        static Scenario Scenarios() => ScenarioLoader.Parse("faults: { pushReset: 0.5 }");
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    public void Plan_OverCapacity_AShareOfTheRefusalsIs429_WhichTheAnalyzerCountsAsRefusals(double tooManyRequests)
    {
        // Load 20 on a registry of capacity 1: every push try is refused with probability 0.9 (the model's cap).
        var scenario = ScenarioLoader.Parse($"registries: {{ busy.example.com: {{ capacity: 1, tooManyRequests: {tooManyRequests.ToString(System.Globalization.CultureInfo.InvariantCulture)} }} }}");
        var run = KanikoScript.Plan(KanikoArgs.Parse(["--destination=busy.example.com/team/app:1", "--push-retry=3"]), scenario, new Random(42), "default/p", 7,
            o => s_start.AddSeconds(o), "10.244.0.5", registryLoad: _ => 20);
        var messages = Messages(run);
        var refused = messages.Where(m => m.Contains("TOOMANYREQUESTS", StringComparison.Ordinal)).ToList();
        var resets = messages.Count(m => m.Contains("connection reset by peer", StringComparison.Ordinal));
        Assert.True(refused.Count + resets > 0, "the registry refused at least one push try");
        Assert.Equal(0, tooManyRequests == 0 ? refused.Count : resets);
        Assert.All(refused, m => Assert.Matches(@"PATCH https://busy\.example\.com/v2/team/app/blobs/uploads/[^ ]+: TOOMANYREQUESTS: too many requests$", m));

        using var reader = new StringReader(string.Join('\n', run.Lines.Select(l => l.Text)));
        var analysis = global::BuildFarm.Kaniko.Logs.KanikoLogAnalyzer.Analyze(reader, new global::BuildFarm.Kaniko.Logs.KanikoLogAnalyzerOptions { Destinations = ["busy.example.com/team/app:1"] });
        var retried = refused.Count(m => m.StartsWith("Retrying operation after", StringComparison.Ordinal));
        Assert.Equal(retried, analysis.RefusalsIn(global::BuildFarm.Kaniko.KanikoPhase.Push));
        if (run.Fate == PodFate.Failed)
        {
            Assert.Equal(tooManyRequests == 0 ? global::BuildFarm.Contracts.FailureReasons.ConnectionReset : global::BuildFarm.Contracts.FailureReasons.RegistryUnavailable, analysis.Reason);
        }
    }

    [Fact]
    public void Plan_AtCapacity_NothingRefused() =>
        Assert.Equal(PodFate.Succeeded, KanikoScript.Plan(KanikoArgs.Parse(["--destination=busy.example.com/team/app:1"]),
            ScenarioLoader.Parse("registries: { busy.example.com: { capacity: 3, tooManyRequests: 1 } }"), new Random(42), "default/p", 7,
            o => s_start.AddSeconds(o), "10.244.0.5", registryLoad: _ => 3).Fate);

    [Fact]
    public void Plan_PushResetsBeyondRetries_WarnsWithDoublingDelaysThenFails()
    {
        var run = Plan(ScenarioLoader.Parse("faults: { pushReset: 1 }"), "--destination=registry.example.com/team/app:1", "--push-retry=3");
        var messages = Messages(run);
        var retries = messages.Where(m => m.StartsWith("Retrying operation after", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, retries.Count);
        Assert.StartsWith("Retrying operation after 1s due to Patch \"https://registry.example.com/v2/team/app/blobs/uploads/", retries[0], StringComparison.Ordinal);
        Assert.StartsWith("Retrying operation after 2s due to ", retries[1], StringComparison.Ordinal);
        Assert.StartsWith("Retrying operation after 4s due to ", retries[2], StringComparison.Ordinal);
        Assert.All(retries, r => Assert.Matches(@": read tcp 10\.244\.0\.5:\d+->[\d.]+:443: read: connection reset by peer$", r));
        Assert.Matches(@"^error pushing image: failed to push to destination registry\.example\.com/team/app:1: Patch ""https://registry\.example\.com/v2/team/app/blobs/uploads/[^""]+"": read tcp [^ ]+: read: connection reset by peer$", messages[^1]);
        Assert.Contains("\u001b[33mWARN\u001b[0m", run.Lines.First(l => l.Text.Contains("Retrying", StringComparison.Ordinal)).Text, StringComparison.Ordinal);
        Assert.Equal((PodFate.Failed, 1, string.Empty), (run.Fate, run.ExitCode, run.Digest));
    }

    [Fact]
    public void Plan_ExtractResetWithoutRetries_FailsWithFilesystemError()
    {
        var run = Plan(ScenarioLoader.Parse("faults: { extractReset: 1 }"), "--destination=r.io/a:1");
        var messages = Messages(run);
        Assert.DoesNotContain(messages, m => m.StartsWith("Retrying", StringComparison.Ordinal));
        Assert.Matches("^error building image: error building stage: failed to get filesystem from image: read tcp .*: read: connection reset by peer$", messages[^1]);
        Assert.StartsWith("Unpacking rootfs as cmd ", messages[^2], StringComparison.Ordinal);
    }

    [Fact]
    public void Plan_FailingRun_PassesExitCodeThrough()
    {
        var run = Plan(ScenarioLoader.Parse("faults: { runFailure: 1, runExitCode: 3 }"), "--destination=r.io/a:1");
        Assert.Equal("error building image: error building stage: failed to execute command: waiting for process to exit: exit status 3", run.Lines[^1].Text);
        Assert.Equal((PodFate.Failed, 3), (run.Fate, run.ExitCode));
    }

    [Fact]
    public void Plan_Unauthorized_PrintsOnlyThePushPermissionError()
    {
        var run = Plan(ScenarioLoader.Parse("faults: { unauthorized: 1 }"), "--destination=harbor.example.com/team/app:1");
        var line = Assert.Single(run.Lines).Text;
        Assert.StartsWith("error checking push permissions -- make sure you entered the correct tag name, and that you are authenticated correctly, and try again: checking push permission for \"harbor.example.com/team/app:1\": POST https://harbor.example.com/v2/team/app/blobs/uploads/: UNAUTHORIZED:", line, StringComparison.Ordinal);
        Assert.Equal(1, run.ExitCode);
    }

    [Fact]
    public void Plan_BaseImageNotFound_ReportsAttemptsFromDownloadRetry()
    {
        var run = Plan(ScenarioLoader.Parse("faults: { baseImageNotFound: 1 }"), "--destination=r.io/a:1", "--image-download-retry=2");
        var messages = Messages(run);
        Assert.Equal(2, messages.Count(m => m.StartsWith("Retrying operation after", StringComparison.Ordinal)));
        Assert.Equal("error building image: unable to complete operation after 2 attempts, last error: GET https://index.docker.io/v2/library/alpine/manifests/3.20: MANIFEST_UNKNOWN: manifest unknown; map[Tag:3.20]", messages[^1]);
    }

    [Fact]
    public void Plan_OomKilled_LogJustStopsInTheRunStep()
    {
        var run = Plan(ScenarioLoader.Parse("faults: { oomKilled: 1 }"), "--destination=r.io/a:1");
        Assert.Equal((PodFate.OomKilled, 137), (run.Fate, run.ExitCode));
        Assert.StartsWith("Running: [/bin/sh -c ", Messages(run)[^1], StringComparison.Ordinal);
        Assert.DoesNotContain(run.Lines, l => l.Text.StartsWith("error", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(1024L * 1024 * 1024, PodFate.OomKilled)]        // 1Gi < 1536Mi: killed
    [InlineData(2L * 1024 * 1024 * 1024, PodFate.Succeeded)]    // 2Gi: enough
    [InlineData(1536L * 1024 * 1024, PodFate.Succeeded)]        // exactly what it needs
    public void Plan_DockerfileMemory_OomKilledBelowIt(long limit, PodFate expected)
    {
        var scenario = ScenarioLoader.Parse("""
            dockerfiles:
              - { match: "team/big", memory: "1536Mi", steps: ["RUN make"] }
            """);

        var run = KanikoScript.Plan(KanikoArgs.Parse(["--destination=r.io/team/big:1"]), scenario, new Random(42), "default/p", 7, o => s_start.AddSeconds(o),
            "10.244.0.5", memoryLimit: limit);
        var other = KanikoScript.Plan(KanikoArgs.Parse(["--destination=r.io/team/small:1"]), scenario, new Random(42), "default/p", 7, o => s_start.AddSeconds(o),
            "10.244.0.5", memoryLimit: limit);
        var noLimit = KanikoScript.Plan(KanikoArgs.Parse(["--destination=r.io/team/big:1"]), scenario, new Random(42), "default/p", 7, o => s_start.AddSeconds(o),
            "10.244.0.5");

        Assert.Equal(expected, run.Fate);
        Assert.Equal(expected == PodFate.OomKilled ? 137 : 0, run.ExitCode);
        Assert.Equal(PodFate.Succeeded, other.Fate);
        Assert.Equal(PodFate.Succeeded, noLimit.Fate);
    }

    [Fact]
    public void Scenario_DockerfileMemory_NotAQuantity_RefusedNamingTheField()
    {
        var e = Assert.ThrowsAny<Exception>(() => ScenarioLoader.Parse("""dockerfiles: [{ match: "x", memory: "lots" }]"""));

        Assert.Contains("dockerfiles[0].memory must be a positive Kubernetes quantity", e.Message, StringComparison.Ordinal);
    }

    private const string PerRegistry = """
        registries:
          bad.example.com:
            faults: { runFailure: 1, runExitCode: 7, oomKilled: 0, evicted: 0, nodeLost: 0 }
          oom.example.com:
            faults: { oomKilled: 1 }
          evict.example.com:
            faults: { evicted: 1 }
          lost.example.com:
            faults: { nodeLost: 1 }
        """;

    [Theory]
    [InlineData("bad.example.com", PodFate.Failed, 7)]
    [InlineData("oom.example.com", PodFate.OomKilled, 137)]
    [InlineData("evict.example.com", PodFate.Evicted, 137)]
    [InlineData("lost.example.com", PodFate.NodeLost, 137)]
    [InlineData("good.example.com", PodFate.Succeeded, 0)]
    public void Plan_PerRegistryPodFaults_FollowTheFirstDestinationsRegistry(string registry, PodFate fate, int exitCode)
    {
        var run = Plan(ScenarioLoader.Parse(PerRegistry), $"--destination={registry}/team/app:1", "--destination=good.example.com/team/app:1");

        Assert.Equal((fate, exitCode), (run.Fate, run.ExitCode));
    }

    [Fact]
    public void Plan_PerRegistryFaults_OverrideTheGlobalOnes()
    {
        var scenario = ScenarioLoader.Parse("faults: { runFailure: 1 }\nregistries:\n  fine.example.com:\n    faults: { runFailure: 0 }\n");

        Assert.Equal(PodFate.Succeeded, Plan(scenario, "--destination=fine.example.com/a:1").Fate);
        Assert.Equal(PodFate.Failed, Plan(scenario, "--destination=other.example.com/a:1").Fate);
        Assert.Equal(0, KanikoScript.PodFaults(scenario, ["fine.example.com/a:1"]).RunFailure);
        Assert.Equal(1, KanikoScript.PodFaults(scenario, ["other.example.com/a:1"]).RunFailure);
        Assert.Equal(1, KanikoScript.PodFaults(scenario, []).RunFailure);
    }

    [Fact]
    public void Plan_CacheRun_ChecksCacheAndPushesLayers()
    {
        var run = Plan(BusyboxLike("cache: { hitRate: 0 }"), "--destination=127.0.0.1:5000/app:1", "--cache=true", "--cache-repo=127.0.0.1:5000/cache");
        var messages = Messages(run);
        Assert.Contains(messages, m => Regex.IsMatch(m, "^Checking for cached layer 127.0.0.1:5000/cache:[0-9a-f]{64}...$"));
        Assert.Contains("No cached layer found for cmd RUN chmod +x app.sh && echo \"$GREETING\" > greeting.txt && ls -la /opt/app", messages);
        Assert.Contains(messages, m => Regex.IsMatch(m, "^Pushed 127.0.0.1:5000/cache@sha256:[0-9a-f]{64}$"));
        var hit = Messages(Plan(BusyboxLike("cache: { hitRate: 1 }"), "--destination=127.0.0.1:5000/app:1", "--cache=true", "--cache-repo=127.0.0.1:5000/cache"));
        Assert.Contains("Using caching version of cmd: RUN chmod +x app.sh && echo \"$GREETING\" > greeting.txt && ls -la /opt/app", hit);
        Assert.Contains("Found cached layer, extracting to filesystem", hit);
    }

    [Fact]
    public void Parse_BadRetryValue_ThrowsNamingTheFlag() =>
        Assert.Contains("--push-retry", Assert.Throws<FormatException>(() => KanikoArgs.Parse(["--push-retry=many"])).Message, StringComparison.Ordinal);

    [Fact]
    public void Parse_SeparateValues_AreAccepted()
    {
        var args = KanikoArgs.Parse(["-c", "git://x", "-d", "r.io/a:1", "--destination", "r.io/b:2", "--log-format", "json", "--cache", "--push-retry", "4"]);
        Assert.Equal("git://x", args.Context);
        Assert.Equal(["r.io/a:1", "r.io/b:2"], args.Destinations);
        Assert.Equal((KanikoLogFormat.Json, true, 4), (args.LogFormat, args.Cache, args.PushRetry));
    }

    [Theory]
    [InlineData(1, "1s")]
    [InlineData(64, "1m4s")]
    [InlineData(3600, "1h0m0s")]
    public void GoDuration_MatchesGo(long seconds, string expected) => Assert.Equal(expected, KanikoScript.GoDuration(seconds));
}
