using BuildFarm.Kaniko.Logs;
using static BuildFarm.Kaniko.Tests.Logs.AnalyzerTestHelpers;

namespace BuildFarm.Kaniko.Tests.Logs;

/// <summary>A 200 MB synthetic log analysed with memory that does not grow with the log.</summary>
public sealed class LargeLogTests
{
    private const string Header =
        "\u001b[36mINFO\u001b[0m[0000] Retrieving image manifest golang:1.22                \n"
        + "\u001b[36mINFO\u001b[0m[0000] Retrieving image golang:1.22 from registry index.docker.io \n"
        + "\u001b[36mINFO\u001b[0m[0003] Building stage 'golang:1.22' [idx: '0', base-idx: '-1'] \n"
        + "\u001b[36mINFO\u001b[0m[0003] Unpacking rootfs as cmd RUN go build ./... requires it. \n"
        + "\u001b[33mWARN\u001b[0m[0010] Retrying operation after 1s due to read tcp 10.1.2.3:4567->10.9.8.7:443: read: connection reset by peer \n"
        + "\u001b[36mINFO\u001b[0m[0020] RUN go build ./...                          \n";

    // One block per instruction: Kaniko lines and RUN output, including output that mentions resets and errors.
    private const string Block =
        "\u001b[36mINFO\u001b[0m[0020] Cmd: /bin/sh                                 \n"
        + "\u001b[36mINFO\u001b[0m[0020] Running: [/bin/sh -c go build ./...]        \n"
        + "go: downloading github.com/example/module v1.2.3\n"
        + "    compiling package github.com/example/module/internal/parser (cached)\n"
        + "ok  \tgithub.com/example/module/internal/parser\t0.123s\n"
        + "curl: (56) Recv failure: Connection reset by peer\n"
        + "npm ERR! Error: something the build script printed and ignored\n"
        + "[INFO] Building jar: /src/target/app.jar\n"
        + "\u001b[36mINFO\u001b[0m[0020] Taking snapshot of full filesystem...        \n"
        + "\u001b[36mINFO\u001b[0m[0020] RUN make target                              \n";

    private const string Trailer =
        "\u001b[36mINFO\u001b[0m[0100] Pushing image to registry.example.com/team/app:1.0 \n"
        + "\u001b[36mINFO\u001b[0m[0107] Pushed registry.example.com/team/app@sha256:6ffb99d2f1eeef2b9575206798a35d2a448914523968fe650ab79e60c4647853 \n";

    private static (KanikoLogAnalysis Analysis, long Allocated, long Chars) AnalyzeGenerated(long megabytes)
    {
        var blocks = megabytes * 1024 * 1024 / Block.Length;
        var reader = new GeneratedReader([(Header, 1), (Block, blocks), (Trailer, 1)]);
        var options = new KanikoLogAnalyzerOptions { Destinations = ["registry.example.com/team/app:1.0"] };

        var before = GC.GetAllocatedBytesForCurrentThread();
        var analysis = KanikoLogAnalyzer.Analyze(reader, options);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        return (analysis, allocated, reader.CharsRead);
    }

    [Fact]
    public void Analyze_200MegabyteLog_FlatMemoryAndCorrect()
    {
        AnalyzeGenerated(1); // warm up (JIT, static tables)
        var small = AnalyzeGenerated(20);
        var large = AnalyzeGenerated(200);

        Assert.True(large.Chars > 200L * 1024 * 1024, $"generated only {large.Chars} chars");
        // Allocation is the same fixed set of buffers whatever the size: 10x the log, not more memory.
        Assert.True(large.Allocated < 2_000_000, $"200 MB log allocated {large.Allocated} bytes");
        Assert.True(Math.Abs(large.Allocated - small.Allocated) < 64 * 1024,
            $"allocations grew with the log: {small.Allocated} bytes for 20 MB, {large.Allocated} for 200 MB");

        var a = large.Analysis;
        var blocks = 200L * 1024 * 1024 / Block.Length;
        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome);
        Assert.Equal(KanikoLogFormat.Color, a.Format);
        AssertPhase(a.Pull, 3, 1);
        AssertPhase(a.Extract, 17, 1);
        AssertPhase(a.Build, 80, (int)blocks + 1); // one "RUN make target" per block plus the first RUN
        AssertPhase(a.Push, 7, 1);
        Assert.Equal(1, a.RetriesIn(KanikoPhase.Extract));
        Assert.Equal(1, a.TotalResets); // the curl resets in RUN output are not counted
        Assert.Null(a.Error); // neither is "npm ERR! Error: …"
        Assert.Single(a.Pushed);
    }
}
