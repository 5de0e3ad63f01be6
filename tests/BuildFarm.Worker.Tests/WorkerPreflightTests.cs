namespace BuildFarm.Worker.Tests;

public sealed class WorkerPreflightTests
{
    private static readonly BuildFarm.Contracts.BuildSpec Spec = WorkerHarness.Spec();

    [Theory]
    [InlineData("FROM alpine:3.19\nWORKDIR /kaniko/work\n", "filesystem_conflict")]
    [InlineData("FROM alpine:3.19\nRUN rm -rf /workspace\n", "filesystem_conflict")]
    [InlineData("FROM alpine:3.19\nFROBNICATE x\n", "dockerfile_invalid")]
    public void Reject_ErrorFindings_ReasonAndCodes(string dockerfile, string reason)
    {
        var rejection = BuildFarm.Worker.Builds.WorkerPreflight.Reject(dockerfile, Spec);

        Assert.NotNull(rejection);
        Assert.Equal(reason, rejection.Reason);
        Assert.StartsWith("Dockerfile preflight: BFK", rejection.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("dir:///workspace", true)] // the build context is /workspace itself (kaniko#1508)
    [InlineData("dir:///workspace/monorepo", true)]
    [InlineData("dir:///mnt/contexts/app", false)]
    [InlineData("s3://ctx-bucket/app.tar.gz", false)]
    public void Reject_WritingIntoWorkspace_OnlyWithTheSpecsContextInWorkspace(string context, bool rejected)
    {
        var rejection = BuildFarm.Worker.Builds.WorkerPreflight.Reject("FROM golang:1.23\nWORKDIR /workspace\nCOPY . .\n", Spec with { Context = context });

        Assert.Equal(rejected, rejection is not null);
        if (rejection is not null)
        {
            Assert.Equal("filesystem_conflict", rejection.Reason);
            Assert.Contains("BFK002", rejection.Detail, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Reject_OnlyWarnings_Null() =>
        Assert.Null(BuildFarm.Worker.Builds.WorkerPreflight.Reject("FROM alpine:latest\nRUN echo hi\n", Spec));

    [Theory]
    [InlineData("s3://ctx-bucket/app.tar.gz")]
    [InlineData("git://github.com/acme/app.git#main")]
    public void DockerfilePath_NotADirContext_Null(string context) =>
        Assert.Null(BuildFarm.Worker.Builds.WorkerPreflight.DockerfilePath(Spec with { Context = context }));
}
