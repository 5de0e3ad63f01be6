using BuildFarm.Contracts;
using BuildFarm.Kaniko.Logs;
using static BuildFarm.Kaniko.Tests.Logs.AnalyzerTestHelpers;

namespace BuildFarm.Kaniko.Tests.Logs;

/// <summary>The final error: continued lines, cobra errors, RUN output that only looks fatal, caps.</summary>
public sealed class FatalLineTests
{
    [Fact]
    public void GoMultiLineError_ContinuationKept()
    {
        const string log =
            "INFO[0001] COPY a b /app/\n"
            + "error building image: error building stage: failed to get files used from context: 2 errors occurred:\n"
            + "\t* lstat /workspace/a: no such file or directory\n"
            + "\t* lstat /workspace/b: no such file or directory\n"
            + "\n"
            + "[Pipeline] }\n";

        var a = AnalyzeText(log);

        Assert.Equal(KanikoOutcome.Failed, a.Outcome);
        Assert.Equal(
            "error building image: error building stage: failed to get files used from context: 2 errors occurred:\n"
            + "\t* lstat /workspace/a: no such file or directory\n"
            + "\t* lstat /workspace/b: no such file or directory",
            a.Error);
        Assert.Equal(FailureReasons.ContextNotFound, a.Reason); // a COPY source missing from the context
        Assert.Equal(KanikoPhase.Build, a.FailedPhase);
    }

    [Fact]
    public void CobraError_UsageTextDropped()
    {
        const string log =
            "Error: you must provide --destination, or use --no-push\n"
            + "Usage:\n"
            + "  executor [flags]\n"
            + "  executor [command]\n";

        var a = AnalyzeText(log);

        Assert.Equal(KanikoOutcome.Failed, a.Outcome);
        Assert.Equal("Error: you must provide --destination, or use --no-push", a.Error);
        Assert.Equal(KanikoPhase.Preflight, a.FailedPhase);
        Assert.Equal(FailureReasons.Unknown, a.Reason);
    }

    [Fact]
    public void CobraErrorContextPrefix_ContextNotFound()
    {
        var a = AnalyzeText("Error: error resolving source context: unknown build context prefix provided, please use one of the following: gs://, dir://, tar://, s3://, git://, https://\n");

        Assert.Equal(FailureReasons.ContextNotFound, a.Reason);
        Assert.Equal(KanikoPhase.Preflight, a.FailedPhase);
    }

    [Fact]
    public void FatalLookingRunOutput_FollowedByKanikoLines_NotFatal()
    {
        const string log =
            "INFO[0001] RUN ./test.sh\n"
            + "error building image: this is only the test script talking\n"
            + "   Error: Cannot find module 'x'\n"
            + "INFO[0002] Taking snapshot of full filesystem...\n"
            + "INFO[0003] Pushing image to reg.io/a:1\n"
            + "INFO[0004] Pushed reg.io/a@sha256:5555555555555555555555555555555555555555555555555555555555555555\n";

        var a = AnalyzeText(log);

        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome);
        Assert.Null(a.Error);
        Assert.Null(a.Reason);
    }

    [Fact]
    public void FatalAfterSuccessLine_Failed()
    {
        const string log =
            "INFO[0003] Pushing image to reg.io/a:1\n"
            + "INFO[0004] Pushed reg.io/a@sha256:5555555555555555555555555555555555555555555555555555555555555555\n"
            + "error pushing image: failed to push to destination reg.io/a:2: Put \"https://reg.io/v2/a/manifests/2\": 503 Service Unavailable\n";

        var a = AnalyzeText(log, "reg.io/a:1", "reg.io/a:2");

        Assert.Equal(KanikoOutcome.Failed, a.Outcome);
        Assert.Equal(FailureReasons.RegistryUnavailable, a.Reason);
        Assert.True(a.Transient);
        Assert.Equal(KanikoPhase.Push, a.FailedPhase);
        Assert.Single(a.Pushed);
    }

    [Fact]
    public void SignalKilledRun_OomKilled()
    {
        var a = AnalyzeText("INFO[0001] RUN java -jar big.jar\nerror building image: error building stage: failed to execute command: waiting for process to exit: signal: killed\n");

        Assert.Equal(FailureReasons.OomKilled, a.Reason);
        Assert.Equal(KanikoPhase.Build, a.FailedPhase);
        Assert.Null(a.StepExitCode);
    }

    [Fact]
    public void FatalWithoutWrapperPhase_UsesCurrentPhase()
    {
        var a = AnalyzeText("INFO[0001] Pushing image to reg.io/a:1\nError: something odd: connection reset by peer\n");

        // Not cobra (Kaniko had logged already), so this is RUN-like output: not a fatal line.
        Assert.Equal(KanikoOutcome.Incomplete, a.Outcome);

        var b = AnalyzeText("INFO[0001] Pushing image to reg.io/a:1\nFATA[0009] something odd: connection reset by peer\n");

        Assert.Equal(KanikoOutcome.Failed, b.Outcome);
        Assert.Equal(KanikoPhase.Push, b.FailedPhase); // the phase current when it was printed
        Assert.Equal(1, b.ResetsIn(KanikoPhase.Push));
        Assert.Equal(FailureReasons.ConnectionReset, b.Reason);
    }

    [Fact]
    public void ErrorText_CappedAtMax()
    {
        var longError = "error building image: " + new string('x', 20_000);
        var log = longError + "\n" + string.Concat(Enumerable.Repeat("\tmore detail line\n", 2000));

        var a = AnalyzeText(log);

        Assert.Equal(KanikoLogAnalyzer.MaxErrorChars, a.Error!.Length);
        Assert.StartsWith("error building image: xxx", a.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void HugeSingleLine_ThroughReader_BoundedAndLaterLinesSeen()
    {
        // 50 million characters without a line break (e.g. a progress bar), then a normal ending.
        var reader = new GeneratedReader(
            [("INFO[0001] RUN build.sh\n", 1), ("#", 50_000_000), ("\n", 1),
             ("INFO[0009] Pushing image to reg.io/a:1\n", 1),
             ("INFO[0010] Pushed reg.io/a@sha256:6666666666666666666666666666666666666666666666666666666666666666\n", 1)]);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var a = KanikoLogAnalyzer.Analyze(reader);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome);
        AssertPhase(a.Build, 8, 1);
        Assert.True(allocated < 1_000_000, $"allocated {allocated} bytes for a 50 MB line");
    }

    [Fact]
    public void HugeSingleLine_ThroughAnalyzeLine_Handled()
    {
        var analyzer = new KanikoLogAnalyzer();
        var huge = new string('y', 5_000_000);

        analyzer.AnalyzeLine("INFO[0001] RUN x");
        analyzer.AnalyzeLine(huge);
        analyzer.AnalyzeLine("error building image: error building stage: failed to execute command: waiting for process to exit: exit status 7");
        var a = analyzer.Complete();

        Assert.Equal(7, a.StepExitCode);
        Assert.Equal(FailureReasons.StepFailed, a.Reason);
    }
}
