using BuildFarm.Contracts;
using BuildFarm.Kaniko.Logs;
using static BuildFarm.Kaniko.Tests.Logs.AnalyzerTestHelpers;

namespace BuildFarm.Kaniko.Tests.Logs;

/// <summary>
/// Log excerpts quoted in public issues, across Kaniko v0.1 (2018) to v1.2x, each rebuilt here as a few lines in
/// Kaniko's exact format (hosts, IPs and digests shortened) with the issue it reproduces. The expected verdict is
/// the hand verdict by the contract in docs/kaniko-log-analysis.md. docs/kaniko-log-analysis.md
/// "Tested against" lists which of these the analyzer got wrong before the audit.
/// </summary>
public sealed class RealWorldLogTests
{
    public sealed record Verdict(string Log, KanikoOutcome Outcome, string? Reason, KanikoPhase? FailedPhase, KanikoPhase? ResetIn = null);

    public static TheoryData<string, Verdict> Cases => new()
    {
        // ---- registry answers -------------------------------------------------------------------------
        // https://github.com/gardener/cc-utils/issues/636: v1.x before v1.19 did not wrap the base-image GET.
        { "gardener-636 toomanyrequests on the base manifest", new(
            "error building image: GET https://index.docker.io/v2/library/golang/manifests/1.16.6: TOOMANYREQUESTS: You have reached your pull rate limit.\n"
            + "Traceback (most recent call last):\n",
            KanikoOutcome.Failed, FailureReasons.RegistryUnavailable, KanikoPhase.Pull) },
        // https://github.com/GoogleContainerTools/kaniko/issues/2399 (the message wrapped by the issue's viewer)
        { "kaniko-2399 toomanyrequests wrapped", new(
            "error building image: GET https://index.docker.io/v2/library/python/manifests/3.10.10-slim: TOOMANYREQUESTS: You have reached your pull rate limit. You may increase the limit by aut\n"
            + "henticating and upgrading: https://www.docker.com/increase-rate-limit\n",
            KanikoOutcome.Failed, FailureReasons.RegistryUnavailable, KanikoPhase.Pull) },
        // A registry that spells the code in lower case (Docker daemon style) is the same answer.
        { "toomanyrequests in lower case", new(
            "error building image: GET https://r.example/v2/a/manifests/1: toomanyrequests: Rate exceeded\n",
            KanikoOutcome.Failed, FailureReasons.RegistryUnavailable, KanikoPhase.Pull) },
        // https://github.com/tektoncd/catalog/issues/190
        { "tekton-catalog-190 push 504", new(
            "error pushing image: failed to push to destination reg.example/t/app:latest: unsupported status code 504; body: <html><body><h1>504 Gateway Time-out</h1>\n",
            KanikoOutcome.Failed, FailureReasons.RegistryUnavailable, KanikoPhase.Push) },
        // https://github.com/GlobalFishingWatch/frontend/pull/1069 (Cloud Build step prefix, kaniko#1791)
        { "gfw-1069 push check UNAUTHORIZED behind Cloud Build prefix", new(
            "Step #1 - \"Build production image\": error checking push permissions -- make sure you entered the correct tag name, and that you are authenticated correctly, and try again: checking push permission for \"gcr.io/p/r\": creating push check transport for gcr.io failed: GET https://gcr.io/v2/token?scope=repository%3Ap%2Fr%3Apush%2Cpull&service=gcr.io: UNAUTHORIZED: Not Authorized.\n",
            KanikoOutcome.Failed, FailureReasons.Unauthorized, KanikoPhase.Preflight) },
        // https://github.com/GoogleContainerTools/kaniko/issues/1325 (-v trace)
        { "kaniko-1325 push check after trace lines", new(
            "DEBU[0000] Copying file /workspace/Dockerfile to /kaniko/Dockerfile \n"
            + "TRAC[0000] Adding /var/run to initialIgnoreList         \n"
            + "error checking push permissions -- make sure you entered the correct tag name, and that you are authenticated correctly, and try again: checking push permission for \"r.example/o/t/p\": POST https://r.example/v2/o/t/p/blobs/uploads/: UNAUTHORIZED: authentication required; [map[Action:pull Class: Name:o/t/p Type:repository]]\n",
            KanikoOutcome.Failed, FailureReasons.Unauthorized, KanikoPhase.Preflight) },
        // https://github.com/GoogleContainerTools/kaniko/issues/2881 (v1.19.0-debug on Jenkins, ECR)
        { "kaniko-2881 push check 401", new(
            "error checking push permissions -- make sure you entered the correct tag name, and that you are authenticated correctly, and try again: checking push permission for \"1.dkr.ecr.us-east-1.amazonaws.com/s:t\": POST https://1.dkr.ecr.us-east-1.amazonaws.com/v2/s/blobs/uploads/: unexpected status code 401 Unauthorized: Not Authorized\n",
            KanikoOutcome.Failed, FailureReasons.Unauthorized, KanikoPhase.Preflight) },
        // https://github.com/GoogleContainerTools/kaniko/issues/1835
        { "kaniko-1835 push 401 after ggcr lines", new(
            "INFO[0000] Downloading base image klakegg/hugo:0.78.2-alpine \n"
            + "2021/12/08 15:08:50 No matching credentials were found, falling back on anonymous\n"
            + "INFO[0005] Extracting layer 0                           \n"
            + "error pushing image: failed to push to destination index.docker.io/u/devops-toolkit:1.0.0: unsupported status code 401; body: \n",
            KanikoOutcome.Failed, FailureReasons.Unauthorized, KanikoPhase.Push) },
        // https://github.com/GoogleContainerTools/kaniko/issues/2416: a 404 on /v2/ is a misconfiguration, not a base image.
        { "kaniko-2416 push check 404 on /v2/", new(
            "error checking push permissions -- make sure you entered the correct tag name, and that you are authenticated correctly, and try again: checking push permission for \"index.docker.io/u/i\": creating push check transport for index.docker.io failed: GET https://index.docker.io/v2/: unexpected status code 404 Not Found: <?xml version=\"1.0\"?>\n",
            KanikoOutcome.Failed, FailureReasons.Unknown, KanikoPhase.Preflight) },
        // https://github.com/apache/camel-k/issues/1080 (v0.14)
        { "camel-k-1080 MANIFEST_UNKNOWN from the stage builder", new(
            "INFO[0000] Downloading base image 10.1.1.1/default/kit:57989 \n"
            + "INFO[0000] Error while retrieving image from cache: MANIFEST_UNKNOWN: \"manifest unknown\" \n"
            + "error building image: getting stage builder for stage 0: MANIFEST_UNKNOWN: \"manifest unknown\n",
            KanikoOutcome.Failed, FailureReasons.BaseImageNotFound, KanikoPhase.Pull) },
        // https://github.com/GoogleContainerTools/kaniko/issues/3164: a blob the registry lost during the push is not a missing base image.
        { "kaniko-3164 MANIFEST_BLOB_UNKNOWN on push", new(
            "INFO[0003] Pushing image to registry.example/dev/test:v1 \n"
            + "WARN[0003] Retrying operation after 1s due to PUT https://registry.example/v2/dev/test/manifests/v1: MANIFEST_BLOB_UNKNOWN: blob unknown to registry; sha256:4699 \n"
            + "error pushing image: failed to push to destination registry.example/dev/test:v1: PUT https://registry.example/v2/dev/test/manifests/v1: MANIFEST_BLOB_UNKNOWN: blob unknown to registry; sha256:4699\n",
            KanikoOutcome.Failed, FailureReasons.Unknown, KanikoPhase.Push) },

        // ---- network -----------------------------------------------------------------------------------
        // https://github.com/GoogleContainerTools/kaniko/issues/1467
        { "kaniko-1467 push check no route to host", new(
            "error checking push permissions -- make sure you entered the correct tag name, and that you are authenticated correctly, and try again: checking push permission for \"r.example/x/y:v1\": creating push check transport for r.example failed: Get \"https://r.example/v2/\": dial tcp 10.82.128.17:443: connect: no route to host\n",
            KanikoOutcome.Failed, FailureReasons.NetworkError, KanikoPhase.Preflight) },
        // https://github.com/GoogleContainerTools/kaniko/issues/473 (gVisor, DNS unreachable)
        { "kaniko-473 stage builder DNS no route to host", new(
            "error building image: getting stage builder for stage 0: Get https://index.docker.io/v2/: dial tcp: lookup index.docker.io on 10.96.0.10:53: dial udp 10.96.0.10:53: connect: no route to host \n",
            KanikoOutcome.Failed, FailureReasons.NetworkError, KanikoPhase.Pull) },
        // https://github.com/GoogleContainerTools/kaniko/issues/711 (v0.10)
        { "kaniko-711 v0.10 i/o timeout on the base image", new(
            "INFO[0000] Downloading base image r.example/base:1\n"
            + "INFO[0000] Error while retrieving image from cache: getting file info: stat /cache/sha256:0f3a: no such file or directory\n"
            + "INFO[0000] Downloading base image r.example/base:1\n"
            + "error building image: Get https://r.example/v2/base/manifests/1: dial tcp 10.0.0.5:443: i/o timeout\n",
            KanikoOutcome.Failed, FailureReasons.NetworkError, KanikoPhase.Pull) },
        // https://github.com/nuclio/nuclio/pull/2744 (a Go stack frame continues the error)
        { "nuclio-2744 extract connection timed out", new(
            "INFO[0002] Unpacking rootfs as cmd COPY --from=onbuild /bin/processor /usr/local/bin/processor requires it. \n"
            + "error building image: error building stage: failed to get filesystem from image: read tcp 10.2.2.2:58626->65.9.112.124:443: read: connection timed out\n"
            + "    /nuclio/pkg/processor/build/builder.go:263\n",
            KanikoOutcome.Failed, FailureReasons.NetworkError, KanikoPhase.Extract) },
        // https://github.com/GoogleContainerTools/kaniko/issues/1360
        { "kaniko-1360 PROTOCOL_ERROR during extract", new(
            "INFO[0010] Unpacking rootfs as cmd COPY portal/package*.json ./ requires it. \n"
            + "DEBU[0010] Mounted directories: [{/kaniko false} {/var/run false}] \n"
            + "error building image: error building stage: failed to get filesystem from image: stream error: stream ID 3; PROTOCOL_ERROR\n",
            KanikoOutcome.Failed, FailureReasons.NetworkError, KanikoPhase.Extract) },
        // https://github.com/GoogleContainerTools/kaniko/issues/2167
        { "kaniko-2167 push unexpected EOF", new(
            "INFO[0006] Pushing image to r.example/app/app:latest \n"
            + "error pushing image: failed to push to destination r.example/app/app:latest: Patch \"https://r.example/v2/app/app/blobs/uploads/4f0c\": unexpected EOF\n",
            KanikoOutcome.Failed, FailureReasons.NetworkError, KanikoPhase.Push) },
        // https://github.com/GoogleContainerTools/kaniko/issues/1792
        { "kaniko-1792 push EOF", new(
            "error pushing image: failed to push to destination r.example/s/d:1: Put \"https://r.example/v2/s/d/blobs/uploads/194a?digest=sha256%3Ad499\": EOF\n",
            KanikoOutcome.Failed, FailureReasons.NetworkError, KanikoPhase.Push) },
        // https://github.com/GoogleContainerTools/kaniko/issues/797 (v0.x: no "failed to get filesystem" wrapper yet)
        { "kaniko-797 v0 reset while unpacking", new(
            "INFO[0290] Downloading base image openjdk:12-alpine     \n"
            + "INFO[0291] Unpacking rootfs as cmd RUN adduser -D usr requires it. \n"
            + "error building image: error building stage: read tcp 172.17.0.2:46282->104.18.123.25:443: read: connection reset by peer\n",
            KanikoOutcome.Failed, FailureReasons.ConnectionReset, KanikoPhase.Extract, KanikoPhase.Extract) },
        // https://github.com/GoogleContainerTools/kaniko/issues/1267 (v0.22)
        { "kaniko-1267 v0.22 reset", new(
            "error building image: error building stage: failed to get filesystem from image: read tcp 10.128.0.69:49898->104.18.121.25:443: read: connection reset by peer\n",
            KanikoOutcome.Failed, FailureReasons.ConnectionReset, KanikoPhase.Extract, KanikoPhase.Extract) },
        // https://github.com/googleapis/google-cloud-cpp/issues/6438 (a cached layer, Cloud Build)
        { "google-cloud-cpp-6438 reset extracting a cached layer", new(
            "Step #0: error building image: error building stage: failed to execute command: extracting fs from image: read tcp 192.168.10.2:52280->142.251.162.207:443: read: connection reset by peer\n",
            KanikoOutcome.Failed, FailureReasons.ConnectionReset, KanikoPhase.Extract, KanikoPhase.Extract) },

        // ---- Kaniko v0.1 (2018): the fatal error is a logrus error line ----------------------------------
        // https://github.com/GoogleContainerTools/kaniko/pull/187
        { "kaniko-187 v0.1 level=error exit status", new(
            "time=\"2018-05-17T07:51:20Z\" level=info msg=\"args: [-c git clone https://github.com/x/y.git]\"\n"
            + "/bin/sh: git: not found\n"
            + "time=\"2018-05-17T07:51:20Z\" level=error msg=\"exit status 127\"\n",
            KanikoOutcome.Failed, FailureReasons.StepFailed, KanikoPhase.Build) },
        // https://github.com/GoogleContainerTools/kaniko/issues/301
        { "kaniko-301 v0.1 level=error reset", new(
            "time=\"2018-08-22T08:56:03Z\" level=info msg=\"Taking snapshot of full filesystem...\"\n"
            + "time=\"2018-08-22T08:56:09Z\" level=error msg=\"Get https://production.cloudflare.docker.com/registry-v2/docker/registry/v2/blobs/sha256/1a/1af6/data?verify=1: read tcp 10.16.2.169:37268->104.18.125.25:443: read: connection reset by peer\"\n",
            KanikoOutcome.Failed, FailureReasons.ConnectionReset, KanikoPhase.Build, KanikoPhase.Build) },
        // https://github.com/GoogleContainerTools/kaniko/issues/210: the wrapper and the cause on two error lines
        { "kaniko-210 v0.1 two level=error lines", new(
            "time=\"2018-06-20T14:42:27Z\" level=error msg=\"Failed to push to destination gitlab.example.com:4567/c/ansible:test\"\n"
            + "time=\"2018-06-20T14:42:27Z\" level=error msg=\"UNAUTHORIZED: \\\"authentication required\\\"\"\n",
            KanikoOutcome.Failed, FailureReasons.Unauthorized, KanikoPhase.Push) },
        // https://github.com/GoogleContainerTools/kaniko/issues/181
        { "kaniko-181 v0.1 ERRO unauthorized", new(
            "ERRO[0001] UNAUTHORIZED: \"authentication required\" \n",
            KanikoOutcome.Failed, FailureReasons.Unauthorized, KanikoPhase.Preflight) },

        // ---- the Dockerfile, the context, cobra ---------------------------------------------------------
        // https://github.com/GoogleContainerTools/kaniko/issues/1506 (kubectl logs jobs/kaniko)
        { "kaniko-1506 cobra dockerfile path", new(
            "Found 2 pods, using pod/kaniko-78gks\n"
            + "Error: error resolving dockerfile path: please provide a valid path to a Dockerfile within the build context with --dockerfile\n"
            + "Usage:\n"
            + "  executor [flags]\n",
            KanikoOutcome.Failed, FailureReasons.DockerfileInvalid, KanikoPhase.Preflight) },
        // https://github.com/GoogleContainerTools/kaniko/issues/727: PersistentPreRunE logged at debug before cobra's error
        { "kaniko-727 cobra error after debug lines of a git context", new(
            "DEBU[0000] Getting source context from git://github.com/u/r.git#refs/heads/b \n"
            + "Enumerating objects: 29, done.\n"
            + "DEBU[0001] Build context located at /kaniko/buildcontext/ \n"
            + "Error: error resolving dockerfile path: please provide a valid path to a Dockerfile within the build context with --dockerfile\n"
            + "Usage:\n",
            KanikoOutcome.Failed, FailureReasons.DockerfileInvalid, KanikoPhase.Preflight) },
        // https://github.com/GoogleContainerTools/kaniko/issues/803
        { "kaniko-803 dockerfile URL read as a path", new(
            "error building image: reading dockerfile at path /https:/example.com/dockerfile: open /https:/example.com/dockerfile: no such file or directory\n",
            KanikoOutcome.Failed, FailureReasons.DockerfileInvalid, KanikoPhase.Preflight) },
        // https://github.com/hashicorp/waypoint/issues/3557 (RUN --mount on an old Kaniko)
        { "waypoint-3557 unknown flag mount", new(
            "Building app-waypoint...\n"
            + "error building image: parsing dockerfile: Dockerfile parse error line 20: Unknown flag: mount\n",
            KanikoOutcome.Failed, FailureReasons.DockerfileInvalid, KanikoPhase.Preflight) },
        // https://github.com/tektoncd/pipeline/issues/1241 (FROM CentOS)
        { "tekton-1241 FROM reference that does not parse", new(
            "INFO[0000] Downloading base image CentOS                \n"
            + "error building image: getting stage builder for stage 0: could not parse reference\n",
            KanikoOutcome.Failed, FailureReasons.DockerfileInvalid, KanikoPhase.Pull) },

        // ---- prefixes, crashes, killed -------------------------------------------------------------------
        // https://github.com/tektoncd/pipeline/issues/4597 (tkn logs prefix; the last line is the v1.x ending for "RUN xx")
        { "tekton-4597 tkn prefix step failed", new(
            "[build-push-image : build-push-image] INFO[2022-02-18T03:28:35Z] Unpacking rootfs as cmd RUN xx requires it.\n"
            + "[build-push-image : build-push-image] INFO[2022-02-18T03:28:37Z] RUN xx\n"
            + "[build-push-image : build-push-image] /bin/sh: xx: not found\n"
            + "[build-push-image : build-push-image] error building image: error building stage: failed to execute command: waiting for process to exit: exit status 127\n",
            KanikoOutcome.Failed, FailureReasons.StepFailed, KanikoPhase.Build) },
        // https://github.com/tektoncd/pipeline/issues/5727: ESC shown as U+FFFD, then the executor panics
        { "tekton-5727 U+FFFD colour remnants and a Go panic", new(
            "        >>> Container step-build-and-push:\n"
            + "        \uFFFD[36mINFO\uFFFD[0m[0000] Retrieving image manifest golang:1.15        \n"
            + "        \uFFFD[36mINFO\uFFFD[0m[0000] Retrieving image golang:1.15 from registry index.docker.io \n"
            + "        panic: runtime error: index out of range [1] with length 1\n"
            + "        \n"
            + "        goroutine 1 [running]:\n",
            KanikoOutcome.Failed, FailureReasons.Unknown, KanikoPhase.Pull) },
        // https://github.com/GoogleContainerTools/kaniko/issues/1333: the executor's own Go runtime ran out of memory
        { "kaniko-1333 fatal error runtime out of memory", new(
            "INFO[0163] Taking snapshot of full filesystem...        \n"
            + "fatal error: runtime: out of memory\n"
            + "runtime stack:\n"
            + "runtime.throw({0x12f3614, 0x16})\n",
            KanikoOutcome.Failed, FailureReasons.OomKilled, KanikoPhase.Build) },
        // ---- excerpts held out from the fixes (docs/kaniko-log-analysis.md "Tested against") ----------------
        // https://github.com/GoogleContainerTools/kaniko/issues/224 (2018)
        { "kaniko-224 v0.1 ERRO x509", new(
            "2018/07/04 07:02:51 No matching credentials found for r.example:5000, falling back on anonymous\n"
            + "ERRO[0001] Get https://r.example:5000/v2/: x509: certificate signed by unknown authority\n",
            KanikoOutcome.Failed, FailureReasons.Unknown, KanikoPhase.Preflight) },
        // https://github.com/GoogleContainerTools/kaniko/issues/2952
        { "kaniko-2952 push check x509", new(
            "error checking push permissions -- make sure you entered the correct tag name, and that you are authenticated correctly, and try again: checking push permission for \"r.example/n/uat:k\": creating push check transport for r.example failed: Get \"https://r.example/v2/\": tls: failed to verify certificate: x509: certificate signed by unknown authority\n",
            KanikoOutcome.Failed, FailureReasons.Unknown, KanikoPhase.Preflight) },
        // https://github.com/googleapis/google-cloud-cpp/issues/13113 (Cloud Build, v1.18.0)
        { "google-cloud-cpp-13113 /v2/ EOF", new(
            "Step #0: error building image: Get \"https://index.docker.io/v2/\": EOF\n"
            + "Finished Step #0\n"
            + "ERROR: build step 0 \"gcr.io/kaniko-project/executor:v1.18.0\" failed: step exited with non-zero status: 1\n",
            KanikoOutcome.Failed, FailureReasons.NetworkError, KanikoPhase.Preflight) },
        // https://github.com/GoogleContainerTools/kaniko/issues/1764: a mirror warning; the build goes on
        { "kaniko-1764 mirror fallback warning", new(
            "WARN[0001] Failed to retrieve image library/alpine:latest from registry mirror m.example: Get \"https://m.example/v2/\": x509: certificate signed by unknown authority. Will try with the next mirror, or fallback to the default registry.\n",
            KanikoOutcome.Incomplete, null, null) },

        // https://github.com/GoogleContainerTools/kaniko/issues/909: killed by the kernel; only the pod status can tell
        { "kaniko-909 Killed in GitLab", new(
            "INFO[0172] Taking snapshot of full filesystem...        \n"
            + "Killed\n"
            + "Cleaning up project directory and file based variables\n"
            + "ERROR: Job failed: command terminated with exit code 137\n",
            KanikoOutcome.Incomplete, null, null) },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Analyze_RealIssueExcerpt_MatchesHandVerdict(string name, Verdict expected)
    {
        var a = AnalyzeText(expected.Log);

        var verdict = (a.Outcome, a.Reason, a.FailedPhase);
        Assert.True((expected.Outcome, expected.Reason, expected.FailedPhase) == verdict, $"{name}: got {verdict}, error: {a.Error}");
        Assert.Equal(expected.Reason is not null && FailureReasons.IsTransient(expected.Reason), a.Transient);
        Assert.Equal(expected.ResetIn is null ? 0 : 1, a.TotalResets);
        if (expected.ResetIn is { } phase)
        {
            Assert.Equal(1, a.ResetsIn(phase));
        }
    }

    [Fact]
    public void Analyze_ErroLineFollowedByKanikoLines_IsNotFatal()
    {
        // A non-fatal error line of a modern Kaniko: the build goes on and pushes, so it is not the end.
        const string log =
            "INFO[0001] RUN true\n"
            + "ERRO[0002] some non-fatal problem\n"
            + "INFO[0003] Pushing image to r.example/a:1\n"
            + "INFO[0004] Pushed r.example/a@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + "\n";

        var a = AnalyzeText(log, "r.example/a:1");

        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome);
        Assert.Null(a.Error);
    }

    [Fact]
    public void Analyze_ErroAfterTheFinalPush_IsNotAFailure()
    {
        const string log =
            "INFO[0003] Pushing image to r.example/a:1\n"
            + "INFO[0004] Pushed r.example/a@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + "\n"
            + "ERRO[0004] a report after the push\n";

        var a = AnalyzeText(log, "r.example/a:1");

        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome);
        Assert.Null(a.Reason);
    }

    [Fact]
    public void Analyze_ErroThenPlainFatalLine_PlainLineIsTheError()
    {
        const string log =
            "ERRO[0002] Error while doing something\n"
            + "error building image: error building stage: failed to execute command: waiting for process to exit: exit status 2\n";

        var a = AnalyzeText(log);

        Assert.Equal(FailureReasons.StepFailed, a.Reason);
        Assert.Equal("error building image: error building stage: failed to execute command: waiting for process to exit: exit status 2", a.Error);
        Assert.Equal(2, a.StepExitCode);
    }

    [Fact]
    public void Analyze_CobraLikeErrorAfterInfoLines_IsRunOutput()
    {
        // "Error: " after the executor logged at info level is a RUN step's output (npm, node), not cobra's.
        const string log =
            "INFO[0001] RUN npm ci\n"
            + "Error: Cannot find module 'x'\n";

        var a = AnalyzeText(log);

        Assert.Equal(KanikoOutcome.Incomplete, a.Outcome);
    }

    [Fact]
    public void Analyze_PanicInRunOutputFollowedByKanikoLines_IsCancelled()
    {
        const string log =
            "INFO[0001] RUN go test ./...\n"
            + "panic: test failed [recovered]\n"
            + "INFO[0009] Taking snapshot of full filesystem...\n"
            + "INFO[0010] Pushing image to r.example/a:1\n"
            + "INFO[0011] Pushed r.example/a@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + "\n";

        var a = AnalyzeText(log, "r.example/a:1");

        Assert.Equal(KanikoOutcome.Succeeded, a.Outcome);
    }

    [Theory]
    [InlineData("[pod/kaniko-abc/kaniko] ")] // kubectl logs --prefix
    [InlineData("build-wf-7x2-1234567: ")] // argo logs
    [InlineData("2024-05-13T12:00:00.123456Z 00O ")] // GitLab runner FF_TIMESTAMPS
    [InlineData("[2024-05-13T12:00:00.123Z] ")] // Jenkins timestamper
    [InlineData("[step-build] ")] // Tekton step
    [InlineData("kaniko-abc kaniko ")] // stern
    public void Analyze_CommonLogPrefixes_SameVerdict(string prefix)
    {
        var lines = new[]
        {
            "INFO[0001] Retrieving image alpine:3.19 from registry index.docker.io",
            "INFO[0003] Unpacking rootfs as cmd RUN apk add curl requires it.",
            "WARN[0010] Retrying operation after 1s due to read tcp 10.0.0.1:1->10.0.0.2:443: read: connection reset by peer",
            "error building image: error building stage: failed to get filesystem from image: read tcp 10.0.0.1:1->10.0.0.2:443: read: connection reset by peer",
        };

        var a = AnalyzeText(string.Join("\n", lines.Select(l => prefix + l)));

        Assert.Equal((KanikoOutcome.Failed, FailureReasons.ConnectionReset, KanikoPhase.Extract), (a.Outcome, a.Reason, a.FailedPhase));
        Assert.Equal(2, a.ResetsIn(KanikoPhase.Extract)); // the retry and the fatal line
        Assert.Equal(1, a.RetriesIn(KanikoPhase.Extract));
    }
}
