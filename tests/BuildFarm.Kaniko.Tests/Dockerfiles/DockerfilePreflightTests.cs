using BuildFarm.Contracts;
using BuildFarm.Kaniko.Dockerfiles;

namespace BuildFarm.Kaniko.Tests.Dockerfiles;

public sealed class DockerfilePreflightTests
{
    private const string Base = "FROM alpine:3.19\n";

    // The build context where creating or writing into /workspace is an error, not only a warning (BFK206).
    private const string WorkspaceContext = "dir:///workspace";

    private static IReadOnlyList<PreflightFinding> Check(string text, IReadOnlyDictionary<string, string>? buildArgs = null, string? context = null) =>
        DockerfilePreflight.Check(text, new PreflightOptions { BuildArgs = buildArgs ?? new Dictionary<string, string>(), Context = context });

    private static PreflightFinding SingleError(IReadOnlyList<PreflightFinding> findings, string code)
    {
        var errors = findings.Where(f => f.Severity == PreflightSeverity.Error).ToList();
        var error = Assert.Single(errors);
        Assert.Equal(code, error.Code);
        return error;
    }

    // ---------------------------------------------------------------- RUN errors (BFK001)

    [Theory]
    [InlineData("RUN mkdir /workspace", "/workspace")]
    [InlineData("RUN mkdir -p /workspace/app", "/workspace/app")]
    [InlineData("RUN mkdir -pm 755 /kaniko", "/kaniko")]
    [InlineData("RUN mkdir --mode=0755 -p /workspace//src/", "/workspace/src")]
    [InlineData("RUN rm -rf /workspace", "/workspace")]
    [InlineData("RUN rm -rf /kaniko/*", "/kaniko/*")]
    [InlineData("RUN rmdir /workspace", "/workspace")]
    [InlineData("RUN ln -s /data /workspace", "/workspace")]
    [InlineData("RUN ln -sfn /opt/app /workspace", "/workspace")]
    [InlineData("RUN ln -s -t /kaniko /usr/bin/env", "/kaniko")]
    [InlineData("RUN mv /workspace /old", "/workspace")]
    [InlineData("RUN mv /tmp/build /workspace", "/workspace")]
    [InlineData("RUN cp -r /src /workspace", "/workspace")]
    [InlineData("RUN cp -t /kaniko/.docker config.json", "/kaniko/.docker")]
    [InlineData("RUN install -d -m 0755 /workspace", "/workspace")]
    [InlineData("RUN install -m 0755 tool /kaniko/tool", "/kaniko/tool")]
    [InlineData("RUN rsync -a --exclude .git /src/ /workspace/", "/workspace")]
    [InlineData("RUN chmod 777 /workspace", "/workspace")]
    [InlineData("RUN chmod -R a+rwX /workspace", "/workspace")]
    [InlineData("RUN chown -R 1000:1000 /workspace", "/workspace")]
    [InlineData("RUN touch /kaniko/marker", "/kaniko/marker")]
    [InlineData("RUN echo x > /workspace/file", "/workspace/file")]
    [InlineData("RUN echo x >>/kaniko/log", "/kaniko/log")]
    [InlineData("RUN echo x | tee -a /workspace/x", "/workspace/x")]
    [InlineData("RUN tar -xzf app.tgz -C /workspace", "/workspace")]
    [InlineData("RUN tar xzf app.tgz --directory=/workspace/app", "/workspace/app")]
    [InlineData("RUN unzip -q app.zip -d /workspace", "/workspace")]
    [InlineData("RUN git clone --depth 1 https://github.com/acme/app.git /workspace", "/workspace")]
    [InlineData("RUN curl -fsSLo /kaniko/executor https://example.com/x", "/kaniko/executor")]
    [InlineData("RUN wget -q -O /workspace/a.tgz https://example.com/a.tgz", "/workspace/a.tgz")]
    [InlineData("RUN find /workspace -type f -delete", "/workspace")]
    [InlineData("RUN useradd -m -d /workspace dev", "/workspace")]
    [InlineData("RUN sudo mkdir /workspace", "/workspace")]
    [InlineData("RUN env -i PATH=/bin /bin/mkdir /workspace", "/workspace")]
    [InlineData("RUN set -eux; mkdir -p /workspace", "/workspace")]
    [InlineData("RUN apk add curl && mkdir /workspace || true", "/workspace")]
    [InlineData("RUN if [ ! -d /workspace ]; then mkdir /workspace; fi", "/workspace")]
    [InlineData("RUN sh -c \"mkdir -p /workspace\"", "/workspace")]
    [InlineData("RUN /bin/bash -euo pipefail -c 'cd / && rm -rf kaniko'", "/kaniko")]
    [InlineData("RUN cd / && mkdir workspace", "/workspace")]
    [InlineData("RUN cd /kaniko && touch x", "/kaniko/x")]
    [InlineData("RUN mkdir \"/workspace\"", "/workspace")]
    [InlineData("RUN mkdir /work\"space\"", "/workspace")]
    [InlineData("RUN D=/workspace; mkdir $D", "/workspace")]
    [InlineData("RUN export D=/kaniko && rm -rf \"${D}\"", "/kaniko")]
    [InlineData("RUN export D=/kaniko && sh -c 'rm -rf $D'", "/kaniko")]
    [InlineData("RUN D=/kaniko; export D; bash -c 'rm -rf $D'", "/kaniko")]
    [InlineData("RUN D=/kaniko; sh -c \"rm -rf $D\"", "/kaniko")]
    [InlineData("RUN mkdir /workspace/../workspace", "/workspace")]
    [InlineData("RUN [\"mkdir\", \"-p\", \"/workspace\"]", "/workspace")]
    [InlineData("RUN [\"/bin/sh\", \"-c\", \"rm -rf /kaniko\"]", "/kaniko")]
    public void Check_RunChangingKanikoPaths_IsBfk001OnItsLine(string run, string path)
    {
        var error = SingleError(Check(Base + run + "\n", context: WorkspaceContext), PreflightCodes.RunTouchesKanikoPath);

        Assert.Equal(2, error.Line);
        Assert.Equal(FailureReasons.FilesystemConflict, error.Reason);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("Use another directory", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_EnvSubstitutedPath_IsFound()
    {
        var error = SingleError(Check(Base + "ENV D=/workspace\nRUN mkdir -p $D/app\n", context: WorkspaceContext), PreflightCodes.RunTouchesKanikoPath);

        Assert.Equal(3, error.Line);
        Assert.Contains("/workspace/app", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_ArgDefaultPath_IsFoundAndBuildArgOverrideClearsIt()
    {
        const string text = Base + "ARG TARGET=/kaniko\nRUN rm -rf ${TARGET}/bin\n";

        Assert.Equal(3, SingleError(Check(text), PreflightCodes.RunTouchesKanikoPath).Line);
        Assert.Empty(Check(text, new Dictionary<string, string> { ["TARGET"] = "/opt/tool" }));
    }

    [Theory]
    [InlineData("ENV D /workspace\nRUN rm -rf $D")]
    [InlineData("ENV D=/workspace\nRUN sh -c 'mkdir -p $D'")]
    [InlineData("ENV D=/workspace\nRUN sh -c \"mkdir -p $D\"")]
    [InlineData("ARG D\nRUN mkdir ${D:-/kaniko/x}")]
    [InlineData("FROM scratch AS s\nENV D=/kaniko\nFROM s\nRUN touch $D/x")]
    [InlineData("FROM scratch AS s\nWORKDIR /workspace\nFROM s\nRUN touch x")]
    public void Check_PathsThroughVariablesAndStages_AreFoundOnTheRunLine(string text)
    {
        var findings = Check(Base + text + "\n", context: WorkspaceContext);

        var run = findings.Single(f => f.Code == PreflightCodes.RunTouchesKanikoPath);
        Assert.Equal(1 + text.Split('\n').Length, run.Line);
    }

    [Fact]
    public void Check_RelativePathUnderKnownWorkdir_IsFound()
    {
        var error = SingleError(Check(Base + "WORKDIR /\nRUN mkdir -p workspace/app\n", context: WorkspaceContext), PreflightCodes.RunTouchesKanikoPath);

        Assert.Equal(3, error.Line);
    }

    [Fact]
    public void Check_HeredocRunScript_IsAnalyzedAndLineIsTheInstruction()
    {
        var text = Base + "RUN <<EOF\nset -e\napk add curl\nln -s /opt/data /workspace\nEOF\nUSER app\nRUN echo /workspace\n";

        var error = SingleError(Check(text), PreflightCodes.RunTouchesKanikoPath);
        Assert.Equal(2, error.Line);
        Assert.Contains("symlinks /workspace", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_HeredocFedToShell_IsAnalyzed()
    {
        var error = SingleError(Check(Base + "RUN bash <<'EOF'\nmkdir -p /kaniko/x\nEOF\n"), PreflightCodes.RunTouchesKanikoPath);

        Assert.Equal(2, error.Line);
    }

    [Fact]
    public void Check_HeredocWrittenToFileInWorkspace_IsFound()
    {
        var error = SingleError(Check(Base + "RUN cat <<EOF > /workspace/config\nkey=value\nEOF\n", context: WorkspaceContext), PreflightCodes.RunTouchesKanikoPath);

        Assert.Contains("writes /workspace/config", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_ContinuedRunWithComments_ReportsStartLine()
    {
        var text = Base + "# prepare\nRUN apk add --no-cache curl \\\n    # make the dir\n    && mkdir -p \\\n       /workspace/app\n";

        Assert.Equal(3, SingleError(Check(text, context: WorkspaceContext), PreflightCodes.RunTouchesKanikoPath).Line);
    }

    [Fact]
    public void Check_TwoConflictsInOneRun_AreTwoFindings()
    {
        var findings = Check(Base + "RUN mkdir /workspace && rm -rf /kaniko\n");

        Assert.Equal(2, findings.Count(f => f.Code == PreflightCodes.RunTouchesKanikoPath && f.Line == 2));
    }

    // ---------------------------------------------------------------- WORKDIR, COPY/ADD, VOLUME

    [Theory]
    [InlineData("WORKDIR /workspace")]
    [InlineData("WORKDIR /workspace/app")]
    [InlineData("WORKDIR /kaniko/")]
    [InlineData("ENV W=/workspace\nWORKDIR $W")]
    [InlineData("WORKDIR /\nWORKDIR workspace")]
    public void Check_WorkdirIntoKanikoPaths_IsBfk002(string workdir)
    {
        var findings = Check(Base + workdir + "\n", context: WorkspaceContext);

        var error = SingleError(findings, PreflightCodes.WorkdirInKanikoPath);
        Assert.Equal(1 + workdir.Split('\n').Length, error.Line);
        Assert.Equal(FailureReasons.FilesystemConflict, error.Reason);
    }

    [Theory]
    [InlineData("COPY . /workspace", "/workspace")]
    [InlineData("COPY --chown=app:app src/ /workspace/src/", "/workspace/src")]
    [InlineData("ADD app.tar.gz /kaniko/", "/kaniko")]
    [InlineData("COPY [\"a b\", \"/workspace/\"]", "/workspace")]
    [InlineData("COPY <<EOF /kaniko/.docker/config.json\n{}\nEOF", "/kaniko/.docker/config.json")]
    [InlineData("ARG DEST=/workspace\nCOPY . $DEST", "/workspace")]
    public void Check_CopyIntoKanikoPaths_IsBfk003(string copy, string path)
    {
        var error = SingleError(Check(Base + copy + "\n", context: WorkspaceContext), PreflightCodes.CopyIntoKanikoPath);

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Equal(copy.StartsWith("ARG", StringComparison.Ordinal) ? 3 : 2, error.Line);
    }

    [Fact]
    public void Check_RelativeCopyUnderWorkdirInWorkspace_IsBfk003Too()
    {
        var findings = Check(Base + "WORKDIR /workspace\nCOPY . .\nCOPY --from=0 /x ./x\n", context: WorkspaceContext);

        Assert.Equal([(2, PreflightCodes.WorkdirInKanikoPath), (3, PreflightCodes.CopyIntoKanikoPath), (4, PreflightCodes.CopyIntoKanikoPath)],
            findings.Select(f => (f.Line, f.Code)));
    }

    [Theory]
    [InlineData("VOLUME /workspace")]
    [InlineData("VOLUME [\"/data\", \"/kaniko\"]")]
    [InlineData("VOLUME /data /workspace/cache")]
    public void Check_VolumeOnKanikoPaths_IsBfk004(string volume)
    {
        var error = SingleError(Check(Base + volume + "\n"), PreflightCodes.VolumeOnKanikoPath);

        Assert.Equal(2, error.Line);
    }

    // ---------------------------------------------------------------- /workspace: error or warning by context

    [Theory]
    [InlineData("RUN mkdir -p /srv/www/workspace-tools && mkdir -p /workspace/cache", "/workspace/cache")]
    [InlineData("RUN install -d -o 1000 /workspace", "/workspace")]
    [InlineData("RUN cp -a /opt/seed/. /workspace/", "/workspace")]
    [InlineData("RUN chown -R nobody /workspace", "/workspace")]
    [InlineData("RUN printf 'a=1' > /workspace/app.env", "/workspace/app.env")]
    [InlineData("RUN rm -rf /workspace/tmp", "/workspace/tmp")] // inside it: the image's own files
    [InlineData("RUN mkdir /workspace/logs", "/workspace/logs")] // no -p, but /workspace exists in Kaniko's container
    [InlineData("RUN git clone https://git.example.org/tools.git /workspace/tools", "/workspace/tools")]
    [InlineData("WORKDIR /workspace/service", "/workspace/service")]
    [InlineData("COPY requirements.txt /workspace/", "/workspace")]
    [InlineData("ADD vendor.tar.gz /workspace/vendor", "/workspace/vendor")]
    public void Check_CreatingOrWritingIntoWorkspace_WarningUnlessTheContextIsWorkspace(string instruction, string path)
    {
        foreach (var context in new string?[] { null, "git://git.example.org/shop/api.git#main", "https://ctx.example.org/api.tar.gz", "s3://ctx/api.tgz", "dir:///mnt/ctx", "dir:///workspaces/api" })
        {
            var findings = Check(Base + instruction + "\n", context: context);

            var warning = Assert.Single(findings, f => f.Code != PreflightCodes.GitContext);
            Assert.Equal((2, PreflightCodes.WritesIntoWorkspace, PreflightSeverity.Warning), (warning.Line, warning.Code, warning.Severity));
            Assert.Null(warning.Reason);
            Assert.Contains(path, warning.Message, StringComparison.Ordinal);
            Assert.Contains("kaniko#1508", warning.Message, StringComparison.Ordinal);
            Assert.Null(DockerfilePreflight.FailureReason(findings));
        }

        foreach (var context in new[] { "dir:///workspace", "dir:///workspace/", "DIR:///workspace/./", "/workspace", "dir:///workspace/api" })
        {
            var error = Assert.Single(Check(Base + instruction + "\n", context: context));
            Assert.Equal(PreflightSeverity.Error, error.Severity);
            Assert.Equal(FailureReasons.FilesystemConflict, error.Reason);
            Assert.Contains(error.Code, (string[])[PreflightCodes.RunTouchesKanikoPath, PreflightCodes.WorkdirInKanikoPath, PreflightCodes.CopyIntoKanikoPath]);
        }
    }

    [Theory]
    [InlineData("RUN rm -rf /workspace")]
    [InlineData("RUN rmdir /workspace || true")]
    [InlineData("RUN mv /workspace /workspace.orig")]
    [InlineData("RUN mv /build/out /workspace")]
    [InlineData("RUN ln -sfn /srv/app /workspace")]
    [InlineData("RUN mkdir /workspace")]
    [InlineData("RUN mkdir -m 700 /workspace")]
    [InlineData("RUN echo ready > /workspace")]
    [InlineData("RUN curl -fsSL -o /workspace https://dl.example.org/blob")]
    [InlineData("RUN find /workspace -mindepth 1 -delete")]
    [InlineData("RUN mkdir -p /kaniko/plugins")]
    [InlineData("RUN touch /kaniko/.docker/config.json")]
    [InlineData("WORKDIR /kaniko/work")]
    [InlineData("COPY certs/ /kaniko/ssl/certs/")]
    [InlineData("VOLUME /workspace")]
    [InlineData("VOLUME /workspace/data")]
    public void Check_ReplacingWorkspaceOrTouchingKaniko_ErrorWhateverTheContext(string instruction)
    {
        foreach (var context in new string?[] { null, "git://git.example.org/shop/api.git", "https://ctx.example.org/api.tar.gz", WorkspaceContext })
        {
            var findings = Check(Base + instruction + "\n", context: context);

            var error = Assert.Single(findings, f => f.Severity == PreflightSeverity.Error);
            Assert.Equal(FailureReasons.FilesystemConflict, error.Reason);
            Assert.DoesNotContain(findings, f => f.Code == PreflightCodes.WritesIntoWorkspace);
        }
    }

    [Fact]
    public void Check_KubebuilderStyleBuilderStage_WarningsWithFarmContextErrorsWithWorkspaceContext()
    {
        // The kubebuilder scaffold's shape: build in WORKDIR /workspace, copy the binary out in the next stage.
        const string text = """
            FROM golang:1.23 AS builder
            WORKDIR /workspace
            COPY go.mod go.sum ./
            RUN go mod download
            COPY cmd/ cmd/
            RUN CGO_ENABLED=0 go build -o manager cmd/main.go
            FROM gcr.io/distroless/static:nonroot
            WORKDIR /
            COPY --from=builder /workspace/manager .
            USER 65532:65532
            """;

        var farm = Check(text, context: "https://ctx.example.org/operator.tar.gz");
        var workspace = Check(text, context: WorkspaceContext);

        Assert.Equal([(2, PreflightCodes.WritesIntoWorkspace), (3, PreflightCodes.WritesIntoWorkspace), (5, PreflightCodes.WritesIntoWorkspace)],
            farm.Select(f => (f.Line, f.Code)));
        Assert.Null(DockerfilePreflight.FailureReason(farm));
        Assert.Equal([(2, PreflightCodes.WorkdirInKanikoPath), (3, PreflightCodes.CopyIntoKanikoPath), (5, PreflightCodes.CopyIntoKanikoPath)],
            workspace.Select(f => (f.Line, f.Code)));
    }

    // ---------------------------------------------------------------- instructions without arguments

    [Theory]
    [InlineData("RUN")]
    [InlineData("RUN   ")]
    [InlineData("RUN --mount=type=cache,target=/root/.cache")]
    [InlineData("CMD")]
    [InlineData("ENTRYPOINT")]
    public void Check_EmptyCommandBuildKitAccepts_IsOnlyAWarning(string instruction)
    {
        var findings = Check(Base + instruction + "\nRUN echo done\n");

        var warning = Assert.Single(findings);
        Assert.Equal((2, PreflightCodes.EmptyCommand, PreflightSeverity.Warning), (warning.Line, warning.Code, warning.Severity));
        Assert.Null(DockerfilePreflight.FailureReason(findings));
    }

    [Theory]
    [InlineData("WORKDIR")]
    [InlineData("USER")]
    [InlineData("ENV")]
    [InlineData("LABEL")]
    [InlineData("EXPOSE")]
    [InlineData("VOLUME")]
    [InlineData("ARG")]
    [InlineData("STOPSIGNAL")]
    [InlineData("HEALTHCHECK")]
    [InlineData("SHELL")]
    [InlineData("ONBUILD")]
    [InlineData("MAINTAINER")]
    [InlineData("COPY")]
    [InlineData("ADD")]
    public void Check_OtherInstructionWithoutArguments_IsRejectedAsBuildKitDoes(string instruction)
    {
        var error = SingleError(Check(Base + instruction + "\n"), PreflightCodes.MissingArguments);

        Assert.Equal(2, error.Line);
        Assert.Equal(FailureReasons.DockerfileInvalid, error.Reason);
    }

    // ---------------------------------------------------------------- no false alarms

    [Theory]
    [InlineData("RUN echo /workspace")]
    [InlineData("RUN ls -la /workspace /kaniko")]
    [InlineData("RUN cat /workspace/x")]
    [InlineData("RUN test -d /workspace && echo yes")]
    [InlineData("RUN grep -r \"/workspace\" /etc || true")]
    [InlineData("RUN sed -i 's#/workspace#/app#g' /etc/app.conf")]
    [InlineData("RUN mkdir -p /workspaces/app /workspace-data /kaniko-cache /opt/workspace /opt/kaniko")]
    [InlineData("RUN rm -rf /var/lib/apt/lists/* /tmp/workspace")]
    [InlineData("RUN cp /workspace/app.jar /app/app.jar")]
    [InlineData("RUN rsync -a /workspace/ /srv/")]
    [InlineData("RUN ln -s /workspace/bin/tool /usr/local/bin/tool")]
    [InlineData("RUN curl -fsSL https://example.com/workspace/install.sh | sh")]
    [InlineData("RUN wget https://example.com/kaniko/x.tgz -O /tmp/x.tgz")]
    [InlineData("RUN git clone https://github.com/acme/workspace.git /src/workspace")]
    [InlineData("RUN echo 'mkdir /workspace' > /tmp/notes.txt")]
    [InlineData("RUN echo \"rm -rf /kaniko\"")]
    [InlineData("RUN tar -czf /tmp/ws.tgz -C /workspace .")]
    [InlineData("RUN mkdir -p $UNKNOWN_BASE_DIR/app")]
    [InlineData("RUN mkdir -p ~/workspace")]
    [InlineData("RUN mkdir -p \"$(pwd)/x\"")]
    [InlineData("RUN mkdir workspace")]
    [InlineData("RUN for d in /workspace; do echo $d; done")]
    [InlineData("RUN python3 -c \"print('/workspace')\"")]
    [InlineData("RUN [\"echo\", \"/workspace\"]")]
    [InlineData("ENV D=/workspace\nRUN [\"mkdir\", \"$D\"]")]
    [InlineData("ENV D=/workspace\nRUN echo '$D' && mkdir -p \"/srv/$D\"")]
    [InlineData("# RUN mkdir /workspace")]
    [InlineData("LABEL org.opencontainers.image.source=/workspace x=/kaniko")]
    [InlineData("ENV WORKSPACE=/workspace KANIKO_DIR=/kaniko")]
    [InlineData("ENV PATH=/kaniko:$PATH")]
    [InlineData("FROM alpine:3.19 AS second\nCOPY --from=0 /workspace/app /app")]
    [InlineData("WORKDIR /workspaces/project")]
    [InlineData("VOLUME /workspace-data")]
    [InlineData("CMD [\"ls\", \"/workspace\"]")]
    [InlineData("RUN [ -f /etc/os-release ]")]
    [InlineData("RUN D=/workspace; sh -c 'mkdir -p $D/x'")]
    [InlineData("RUN [ ! -e /workspace ]")]
    [InlineData("ENTRYPOINT mkdir /workspace")]
    [InlineData("RUN python3 <<EOF\nimport os\nos.listdir('/workspace')\nEOF")]
    [InlineData("RUN <<EOF\n#!/usr/bin/env python3\nprint('mkdir /workspace')\nEOF")]
    [InlineData("RUN cat <<'EOF' > /etc/motd\nmkdir /workspace\nEOF")]
    public void Check_MereMentions_AreNotReported(string line)
    {
        var findings = Check(Base + line + "\n");

        Assert.Empty(findings);
    }

    [Fact]
    public void Check_PlatformArgDeclaredInStage_IsUnknownNotEmpty()
    {
        // Were TARGETARCH taken as unset, "/workspace${TARGETARCH:+-x}" would expand to /workspace: never guess.
        Assert.Empty(Check(Base + "ARG TARGETARCH\nRUN mkdir -p /workspace${TARGETARCH:+-$TARGETARCH}\n"));
    }

    [Fact]
    public void Check_ShellAssignmentInForLoop_MakesVariableUnknown()
    {
        Assert.Empty(Check(Base + "ENV D=/workspace\nRUN for D in /srv /opt; do mkdir -p $D; done\n"));
    }

    [Fact]
    public void Check_NonPosixShell_IsNotAnalyzed()
    {
        Assert.DoesNotContain(Check("FROM mcr.microsoft.com/powershell:7.4-ubuntu-22.04\nSHELL [\"pwsh\", \"-Command\"]\nRUN mkdir /workspace\n"),
            f => f.Severity == PreflightSeverity.Error);
    }

    // ---------------------------------------------------------------- base image warnings

    [Theory]
    [InlineData("FROM node", "no tag")]
    [InlineData("FROM node:latest", "'latest'")]
    [InlineData("FROM localhost:5000/app", "no tag")]
    [InlineData("FROM registry.example.com:443/team/app:latest AS x", "'latest'")]
    [InlineData("ARG IMAGE=python\nFROM $IMAGE", "'python' has no tag")]
    [InlineData("ARG TAG=latest\nFROM python:${TAG}", "'python:latest'")]
    [InlineData("FROM ${TARGETARCH}/alpine", "'amd64/alpine' has no tag")]
    public void Check_FloatingBaseTag_IsWarningBfk200(string from, string expected)
    {
        var finding = Assert.Single(Check(from + "\n"));

        Assert.Equal(PreflightCodes.FloatingBaseTag, finding.Code);
        Assert.Equal(PreflightSeverity.Warning, finding.Severity);
        Assert.Null(finding.Reason);
        Assert.Equal(from.Split('\n').Length, finding.Line);
        Assert.Contains(expected, finding.Message, StringComparison.Ordinal);
        Assert.Contains("Pin a version tag", finding.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("FROM scratch")]
    [InlineData("FROM alpine:3.19")]
    [InlineData("FROM localhost:5000/app:1.2")]
    [InlineData("FROM node@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    [InlineData("FROM node:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    [InlineData("FROM golang:1.22 AS build\nFROM build")]
    [InlineData("FROM golang:1.22 AS build\nFROM BUILD AS again")]
    [InlineData("ARG V=3.12\nFROM python:$V-slim")]
    [InlineData("FROM --platform=$BUILDPLATFORM golang:1.22")]
    [InlineData("FROM golang:1.22-${TARGETARCH}")]
    [InlineData("ARG TARGETARCH\nFROM alpine:3.19-$TARGETARCH")]
    public void Check_PinnedOrInternalBase_HasNoWarning(string from)
    {
        Assert.Empty(Check(from + "\n"));
    }

    [Fact]
    public void Check_ArgResolvedFrom_UsesBuildArg()
    {
        const string text = "ARG BASE_IMAGE=jupyter/base-notebook\nFROM ${BASE_IMAGE}\n";

        Assert.Equal(PreflightCodes.FloatingBaseTag, Assert.Single(Check(text)).Code);
        Assert.Empty(Check(text, new Dictionary<string, string> { ["BASE_IMAGE"] = "jupyter/base-notebook:2024-10-07" }));
    }

    [Theory]
    [InlineData("ARG BASE\nFROM $BASE", "BASE is declared without a default")]
    [InlineData("FROM $NOT_DECLARED:1.0", "NOT_DECLARED is not declared")]
    [InlineData("ARG TAG\nFROM node:${TAG}", "TAG is declared without a default")]
    public void Check_UnresolvableFrom_IsWarningBfk201(string from, string expected)
    {
        var finding = Assert.Single(Check(from + "\n"));

        Assert.Equal(PreflightCodes.UnresolvedBaseImage, finding.Code);
        Assert.Equal(PreflightSeverity.Warning, finding.Severity);
        Assert.Contains(expected, finding.Message, StringComparison.Ordinal);
        Assert.Contains("--build-arg", finding.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_CopyFromFloatingImage_IsWarning()
    {
        var findings = Check(Base + "COPY --from=nginx /etc/nginx/nginx.conf /etc/nginx.conf\nCOPY --from=nginx:1.27 /a /b\n");

        var finding = Assert.Single(findings);
        Assert.Equal((2, PreflightCodes.FloatingBaseTag), (finding.Line, finding.Code));
    }

    // ---------------------------------------------------------------- other warnings

    [Theory]
    [InlineData("git://github.com/acme/app.git#refs/heads/main", 1)]
    [InlineData("GIT://github.com/acme/app.git", 1)]
    [InlineData("https://example.com/ctx.tar.gz", 0)]
    [InlineData("dir:///workspace", 0)]
    public void Check_GitContext_IsWarningBfk202AtLine0(string context, int expected)
    {
        var findings = Check(Base, context: context);

        Assert.Equal(expected, findings.Count);
        if (expected == 1)
        {
            Assert.Equal((0, PreflightCodes.GitContext, PreflightSeverity.Warning), (findings[0].Line, findings[0].Code, findings[0].Severity));
            Assert.Contains("kaniko#719", findings[0].Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Check_RemoteAddWithoutChecksum_IsWarningBfk203()
    {
        var findings = Check(Base + "ADD https://example.com/tool.tgz /opt/\nADD --checksum=sha256:abc https://example.com/tool.tgz /opt/\nADD local.tgz /opt/\n");

        var finding = Assert.Single(findings);
        Assert.Equal((2, PreflightCodes.RemoteAddWithoutChecksum), (finding.Line, finding.Code));
    }

    [Theory]
    [InlineData("CMD ['npm', 'start']")]
    [InlineData("ENTRYPOINT [\"a\" \"b\"]")]
    [InlineData("RUN [\"apk\", 'add']")]
    public void Check_InvalidJsonExecForm_IsWarningBfk204(string line)
    {
        var finding = Assert.Single(Check(Base + line + "\n"));

        Assert.Equal((2, PreflightCodes.ShellFormLooksLikeJson), (finding.Line, finding.Code));
    }

    // ---------------------------------------------------------------- invalid Dockerfiles

    [Theory]
    [InlineData("", PreflightCodes.EmptyDockerfile, 1)]
    [InlineData("# just a comment\n\n", PreflightCodes.EmptyDockerfile, 1)]
    [InlineData("RUN echo hi\n", PreflightCodes.MissingFrom, 1)]
    [InlineData("ARG X=1\n", PreflightCodes.MissingFrom, 1)]
    [InlineData("FROM alpine:3.19\nRUNN echo\n", PreflightCodes.UnknownInstruction, 2)]
    [InlineData("FROM alpine:3.19\nRUN <<EOF\necho\n", PreflightCodes.UnterminatedHeredoc, 2)]
    [InlineData("# escape=%\nFROM alpine:3.19\n", PreflightCodes.InvalidDirective, 1)]
    [InlineData("FROM alpine:3.19\nWORKDIR\n", PreflightCodes.MissingArguments, 2)]
    [InlineData("FROM alpine:3.19\nCOPY onlyone\n", PreflightCodes.MissingArguments, 2)]
    [InlineData("FROM\n", PreflightCodes.MissingArguments, 1)]
    [InlineData("FROM alpine:3.19\nSHELL /bin/bash -c\n", PreflightCodes.InvalidJsonForm, 2)]
    [InlineData("FROM alpine:3.19 AS a\nFROM alpine:3.19 AS a\n", PreflightCodes.DuplicateStageName, 2)]
    public void Check_InvalidDockerfile_IsErrorWithDockerfileInvalidReason(string text, string code, int line)
    {
        var error = SingleError(Check(text), code);

        Assert.Equal(line, error.Line);
        Assert.Equal(FailureReasons.DockerfileInvalid, error.Reason);
    }

    [Fact]
    public void Check_Findings_AreSortedByLine()
    {
        var findings = Check("FROM node\nRUN mkdir /workspace\nVOLUME /kaniko\n", context: "git://h/r.git");

        Assert.Equal([0, 1, 2, 3], findings.Select(f => f.Line));
    }

    [Theory]
    [InlineData("FROM node\n", null)]
    [InlineData("FROM alpine:3.19\nRUN mkdir /workspace\n", FailureReasons.FilesystemConflict)]
    [InlineData("FROM alpine:3.19\nRUN mkdir /workspace\nRUNN x\n", FailureReasons.DockerfileInvalid)]
    [InlineData("FROM alpine:3.19\nRUN mkdir -p /workspace\nRUN\n", null)]
    public void FailureReason_PrefersDockerfileInvalid(string text, string? expected)
    {
        Assert.Equal(expected, DockerfilePreflight.FailureReason(Check(text)));
    }

    [Fact]
    public void Codes_SeverityAndReason_FollowTheNumberRanges()
    {
        Assert.Equal(PreflightSeverity.Error, PreflightCodes.SeverityOf(PreflightCodes.RunTouchesKanikoPath));
        Assert.Equal(PreflightSeverity.Error, PreflightCodes.SeverityOf(PreflightCodes.DuplicateStageName));
        Assert.Equal(PreflightSeverity.Warning, PreflightCodes.SeverityOf(PreflightCodes.GitContext));
        Assert.Equal(FailureReasons.FilesystemConflict, PreflightCodes.ReasonOf(PreflightCodes.VolumeOnKanikoPath));
        Assert.Equal(FailureReasons.DockerfileInvalid, PreflightCodes.ReasonOf(PreflightCodes.EmptyDockerfile));
        Assert.Null(PreflightCodes.ReasonOf(PreflightCodes.FloatingBaseTag));
        Assert.Throws<ArgumentException>(() => PreflightCodes.SeverityOf("XYZ001"));
    }
}

public sealed class DockerfilePreflightRobustnessTests
{
    private static readonly string[] _pieces =
    [
        "FROM ", "RUN ", "COPY ", "ADD ", "WORKDIR ", "ENV ", "ARG ", "VOLUME ", "SHELL ", "# escape=`", "# c", "\\", "`", "\n", "\r\n",
        " ", "\t", "<<EOF", "<<-'E'", "EOF", "E", "\"", "'", "$", "${", "}", "${A:-", "$(", ")", "[", "]", "\"a\",", "&&", "||", ";", "|",
        ">", "2>&1", "mkdir -p ", "/workspace", "/kaniko/", "sh -c ", "cd ", "..", "A=", "--from=", "--mount=", "AS x", "alpine", ":1",
        "@sha256:ab", "ln -s ", "rm -rf ", "tar -xC", "{", "(", "#", "\\\n", "=",
    ];

    [Fact]
    public void Check_RandomInput_NeverThrows()
    {
        var random = new Random(20251128);
        for (var n = 0; n < 3000; n++)
        {
            var text = string.Concat(Enumerable.Range(0, random.Next(1, 60)).Select(_ => _pieces[random.Next(_pieces.Length)]));

            var exception = Record.Exception(() => DockerfilePreflight.Check(text, new PreflightOptions { Context = "git://x/y" }));

            Assert.True(exception is null, $"input {n}: {text.Replace("\n", "\\n", StringComparison.Ordinal)}\n{exception}");
        }
    }

    [Fact]
    public void Check_LargeDockerfile_IsLinear()
    {
        var text = "FROM alpine:3.19\n" + string.Concat(Enumerable.Range(0, 5000).Select(i => $"RUN mkdir -p /opt/d{i} && echo /workspace > /tmp/f{i} \\\n    && ls /kaniko\n"));

        var findings = DockerfilePreflight.Check(text);

        Assert.Empty(findings);
    }
}
