using BuildFarm.Contracts;
using BuildFarm.Kaniko.Logs;

namespace BuildFarm.Kaniko.Tests.Logs;

public sealed class KanikoErrorReasonsTests
{
    [Theory]
    [InlineData("error building image: error building stage: failed to get filesystem from image: read tcp 1.2.3.4:1->5.6.7.8:443: read: connection reset by peer", KanikoPhase.Extract, FailureReasons.ConnectionReset)]
    [InlineData("stream error: stream ID 17; NO_ERROR; received from peer", KanikoPhase.Extract, FailureReasons.NetworkError)]
    [InlineData("error pushing image: failed to push to destination r/a:1: Patch \"https://r/v2/a/blobs/uploads/x\": unexpected EOF", KanikoPhase.Push, FailureReasons.NetworkError)]
    [InlineData("error building image: Get \"https://r/v2/\": dial tcp: lookup r on 10.0.0.10:53: no such host", KanikoPhase.Pull, FailureReasons.NetworkError)]
    [InlineData("error building image: Get \"https://r/v2/\": net/http: TLS handshake timeout", KanikoPhase.Pull, FailureReasons.NetworkError)]
    [InlineData("error building image: Get \"https://r/v2/\": dial tcp 1.2.3.4:443: i/o timeout", KanikoPhase.Pull, FailureReasons.NetworkError)]
    [InlineData("error building image: Get \"https://r/v2/\": dial tcp 1.2.3.4:443: connect: connection refused", KanikoPhase.Pull, FailureReasons.NetworkError)]
    [InlineData("error pushing image: failed to push to destination r/a:1: http2: client connection lost", KanikoPhase.Push, FailureReasons.NetworkError)]
    [InlineData("error pushing image: failed to push to destination r/a:1: write tcp 1.2.3.4:1->5.6.7.8:443: write: broken pipe", KanikoPhase.Push, FailureReasons.NetworkError)]
    [InlineData("error building image: GET https://r/v2/a/manifests/1: unexpected status code 503 Service Unavailable", KanikoPhase.Pull, FailureReasons.RegistryUnavailable)]
    [InlineData("error building image: GET https://r/v2/a/manifests/1: TOOMANYREQUESTS: You have reached your pull rate limit", KanikoPhase.Pull, FailureReasons.RegistryUnavailable)]
    [InlineData("error pushing image: failed to push to destination r/a:1: PUT https://r/v2/a/manifests/1: unexpected status code 500 Internal Server Error", KanikoPhase.Push, FailureReasons.RegistryUnavailable)]
    [InlineData("error checking push permissions -- make sure you entered the correct tag name, and that you are authenticated correctly, and try again: checking push permission for \"r/a:1\": POST https://r/v2/a/blobs/uploads/: UNAUTHORIZED: authentication required", KanikoPhase.Preflight, FailureReasons.Unauthorized)]
    [InlineData("error pushing image: failed to push to destination r/a:1: DENIED: requested access to the resource is denied", KanikoPhase.Push, FailureReasons.Unauthorized)]
    [InlineData("error building image: GET https://r/v2/a/manifests/1: unexpected status code 401 Unauthorized", KanikoPhase.Pull, FailureReasons.Unauthorized)]
    [InlineData("error building image: unable to complete operation after 0 attempts, last error: GET base/manifests/latest: MANIFEST_UNKNOWN: The named manifest is not known to the registry.", KanikoPhase.Pull, FailureReasons.BaseImageNotFound)]
    [InlineData("error building image: GET https://r/v2/nope/manifests/1: NAME_UNKNOWN: repository name not known to registry", KanikoPhase.Pull, FailureReasons.BaseImageNotFound)]
    [InlineData("error building image: retrieving image nope:1: image not found", KanikoPhase.Pull, FailureReasons.BaseImageNotFound)]
    [InlineData("error building image: error building stage: failed to execute command: waiting for process to exit: exit status 1", KanikoPhase.Build, FailureReasons.StepFailed)]
    // A RUN whose output mentioned a reset and then exited non-zero is still the user's step failing.
    [InlineData("error building image: error building stage: failed to execute command: waiting for process to exit: exit status 56 (curl: connection reset by peer)", KanikoPhase.Build, FailureReasons.StepFailed)]
    [InlineData("error building image: error building stage: failed to execute command: waiting for process to exit: signal: killed", KanikoPhase.Build, FailureReasons.OomKilled)]
    [InlineData("error building image: parsing dockerfile: dockerfile parse error line 3: unknown instruction: FORM", KanikoPhase.Preflight, FailureReasons.DockerfileInvalid)]
    [InlineData("error building image: error building stage: failed to get filesystem from image: error removing /var/run to make way for new symlink: unlinkat /var/run/secrets: device or resource busy", KanikoPhase.Extract, FailureReasons.FilesystemConflict)]
    [InlineData("error building image: error building stage: failed to execute command: mkdir /workspace: file exists", KanikoPhase.Build, FailureReasons.FilesystemConflict)]
    [InlineData("error building image: error building stage: failed to get filesystem from image: failed to apply whiteout /kaniko/x", KanikoPhase.Extract, FailureReasons.FilesystemConflict)]
    [InlineData("Error: error resolving source context: unknown build context prefix provided, please use one of the following: gs://, dir://, tar://, s3://, git://, https://", KanikoPhase.Preflight, FailureReasons.ContextNotFound)]
    [InlineData("error building image: error building stage: failed to get files used from context: failed to get fileinfo for /workspace/app.sh: lstat /workspace/app.sh: no such file or directory", KanikoPhase.Build, FailureReasons.ContextNotFound)]
    [InlineData("error building image: x509: certificate signed by unknown authority", KanikoPhase.Pull, FailureReasons.Unknown)]
    [InlineData("error building image: something not found", KanikoPhase.Build, FailureReasons.Unknown)] // "not found" names the base image only at pull
    // Found by the real-world audit (docs/kaniko-log-analysis.md "Tested against"):
    [InlineData("… creating push check transport for r failed: Get \"https://r/v2/\": dial tcp 10.8.1.7:443: connect: no route to host", KanikoPhase.Preflight, FailureReasons.NetworkError)] // kaniko#1467
    [InlineData("exit status 127", KanikoPhase.Build, FailureReasons.StepFailed)] // kaniko#187, v0.1
    [InlineData("fatal error: runtime: out of memory", KanikoPhase.Build, FailureReasons.OomKilled)] // kaniko#1333
    [InlineData("error building image: getting stage builder for stage 0: could not parse reference", KanikoPhase.Pull, FailureReasons.DockerfileInvalid)] // tektoncd/pipeline#1241
    [InlineData("could not parse reference", KanikoPhase.Preflight, FailureReasons.Unknown)] // kaniko#170: a bad --destination is not the Dockerfile
    [InlineData("error building image: reading dockerfile at path /https:/e/df: open /https:/e/df: no such file or directory", KanikoPhase.Preflight, FailureReasons.DockerfileInvalid)] // kaniko#803
    [InlineData("error building image: GET https://r/v2/a/manifests/1: toomanyrequests: Rate exceeded", KanikoPhase.Pull, FailureReasons.RegistryUnavailable)]
    [InlineData("error pushing image: failed to push to destination r/a:1: PUT https://r/v2/a/manifests/1: MANIFEST_BLOB_UNKNOWN: blob unknown to registry", KanikoPhase.Push, FailureReasons.Unknown)] // kaniko#3164
    [InlineData("error pushing image: failed to push to destination 1.dkr.ecr.us-east-1.amazonaws.com/app:1: denied: User: arn:aws:iam::1:role/x is not authorized to perform: ecr:InitiateLayerUpload", KanikoPhase.Push, FailureReasons.Unauthorized)]
    [InlineData("error building image: unable to complete operation after 3 attempts, last error: Get \"https://r/v2/\": net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)", KanikoPhase.Pull, FailureReasons.NetworkError)]
    [InlineData("error pushing image: failed to push to destination r/a:1: NAME_UNKNOWN: repository name not known to registry", KanikoPhase.Push, FailureReasons.Unknown)] // the destination, not the base image
    [InlineData("error checking push permissions -- …: NAME_UNKNOWN: repository name not known to registry", KanikoPhase.Preflight, FailureReasons.Unknown)]
    [InlineData("error building image: mkdir /x: permission denied", KanikoPhase.Build, FailureReasons.Unknown)] // a file permission is no registry denial
    public void Classify_Table(string error, KanikoPhase phase, string expected)
    {
        Assert.Equal(expected, KanikoErrorReasons.Classify(error, phase));
        Assert.True(FailureReasons.IsKnown(expected));
    }

    // A reset whose line break was lost in copying: the reset is the innermost cause, whatever is glued to it.
    [Theory]
    [InlineData("err: signal: killed")] // would read as an OOM kill
    [InlineData("err: step \"kaniko\": waiting for process to exit: exit status 1")] // would read as a failed RUN
    [InlineData("err: parsing dockerfile: unknown instruction: X")] // would read as an invalid Dockerfile
    [InlineData("ERROR: Job failed: command terminated with exit code 1")]
    [InlineData("s")]
    public void ResetGluedToNextText_StillConnectionReset(string glued)
    {
        var error = "error pushing image: failed to push to destination harbor.corp.example/shop/api:2.4.0: "
            + "Put \"https://harbor.corp.example/v2/shop/api/manifests/2.4.0\": write tcp 10.2.0.7:40112->10.2.0.3:443: "
            + "write: connection reset by peer" + glued;

        Assert.Equal(FailureReasons.ConnectionReset, KanikoErrorReasons.Classify(error, KanikoPhase.Push));
        Assert.Null(KanikoErrorReasons.StepExitCode(error));
        Assert.Equal(KanikoPhase.Push, KanikoErrorReasons.PhaseFromWrapper(error));
    }

    [Fact]
    public void ResetGluedInAnalyzedLog_FailedTransientAndCountedAsReset()
    {
        const string log =
            "INFO[0030] Pushing image to harbor.corp.example/shop/api:2.4.0\n"
            + "WARN[0031] Retrying operation after 1s due to Put \"https://harbor.corp.example/v2/shop/api/blobs/uploads/9\": write: connection reset by peerinfo: runner heartbeat\n"
            + "error pushing image: failed to push to destination harbor.corp.example/shop/api:2.4.0: write tcp 10.2.0.7:40112->10.2.0.3:443: write: connection reset by peererr: signal: killed\n";

        var a = AnalyzerTestHelpers.AnalyzeText(log, "harbor.corp.example/shop/api:2.4.0");

        Assert.Equal(KanikoOutcome.Failed, a.Outcome);
        Assert.Equal(FailureReasons.ConnectionReset, a.Reason);
        Assert.True(a.Transient);
        Assert.Equal(KanikoPhase.Push, a.FailedPhase);
        Assert.Equal(2, a.ResetsIn(KanikoPhase.Push)); // the retried one and the fatal one
        Assert.Null(a.StepExitCode);
    }

    [Theory]
    [InlineData("write: connection reset by peer\n\t* second error: signal: killed", FailureReasons.OomKilled)] // a real line break: both errors count
    [InlineData("waiting for process to exit: exit status 56 (curl: connection reset by peer)", FailureReasons.StepFailed)]
    public void ResetNotGlued_RulesAsBefore(string error, string expected) =>
        Assert.Equal(expected, KanikoErrorReasons.Classify(error, KanikoPhase.Build));

    [Theory]
    [InlineData("… waiting for process to exit: exit status 3", 3)]
    [InlineData("… waiting for process to exit: exit status 127", 127)]
    [InlineData("… waiting for process to exit: signal: killed", null)]
    [InlineData("nothing", null)]
    [InlineData("exit status 127", 127)] // v0.1 printed the bare exit status (kaniko#187)
    [InlineData("exit status 12 of something", null)]
    public void StepExitCode_FromExitStatus(string error, int? expected)
    {
        Assert.Equal(expected, KanikoErrorReasons.StepExitCode(error));
    }

    [Theory]
    [InlineData("error checking push permissions -- x: y", KanikoPhase.Preflight)]
    [InlineData("error building image: error building stage: failed to get filesystem from image: EOF", KanikoPhase.Extract)]
    [InlineData("error building image: error building stage: failed to execute command: extracting fs from image: EOF", KanikoPhase.Extract)]
    [InlineData("error building image: unable to complete operation after 3 attempts, last error: EOF", KanikoPhase.Pull)]
    [InlineData("error pushing image: failed to push to destination r/a:1: EOF", KanikoPhase.Push)]
    [InlineData("error building image: error building stage: failed to execute command: waiting for process to exit: exit status 1", KanikoPhase.Build)]
    [InlineData("Error: you must provide --destination, or use --no-push", null)]
    [InlineData("error building image: GET https://index.docker.io/v2/library/golang/manifests/1.16.6: TOOMANYREQUESTS: x", KanikoPhase.Pull)] // gardener/cc-utils#636
    [InlineData("error pushing image: failed to push to destination r/a:1: PUT https://r/v2/a/manifests/1: x", KanikoPhase.Push)]
    [InlineData("exit status 1", KanikoPhase.Build)]
    public void PhaseFromWrapper_Table(string error, KanikoPhase? expected)
    {
        Assert.Equal(expected, KanikoErrorReasons.PhaseFromWrapper(error));
    }
}
