using System.Text;
using BuildFarm.Kaniko.Dockerfiles;
using BuildFarm.Kaniko.Logs;

namespace BuildFarm.Kaniko.Tests.Dockerfiles;

/// <summary>
/// Constructs from real public Dockerfiles (docker-library, moby/buildkit, Kaniko's own integration Dockerfiles),
/// each rewritten here as a minimal file of our own that keeps the construct, with the file it comes from.
/// Kaniko builds all of them, so none may get an error. docs/dockerfile-preflight.md "Tested against" has the list.
/// </summary>
public sealed class RealWorldDockerfileTests
{
    public static TheoryData<string, string> BuildableConstructs => new()
    {
        // docker-library/python 3.13/slim-bookworm: comment lines inside a continued RUN, case/esac, ${v%%-*}
        { "python: comments inside continuation", "FROM debian:bookworm-slim\nRUN set -eux; \\\n\t./configure \\\n\t\t--with-ensurepip \\\n# https://example.org/issue\n\t\t--enable-jit=yes-off \\\n\t; \\\n\tarch=\"$(dpkg --print-architecture)\"; arch=\"${arch##*-}\"; \\\n\tcase \"$arch\" in \\\n\t\tamd64|arm64) \\\n\t\t\t# only on some arches\n\t\t\tX=\"${X:-} -fno-omit-frame-pointer\"; \\\n\t\t\t;; \\\n\tesac; \\\n\tmake -j \"$(nproc)\" \"LDFLAGS=${LDFLAGS:--Wl},-rpath='\\$\\$ORIGIN/../lib'\"\n" },
        // docker-library/golang 1.23/alpine3.20: a brace group appended to a file, COPY --from --link, WORKDIR $GOPATH
        { "golang: brace group and COPY --link", "FROM alpine:3.20 AS build\nRUN { \\\n\t\techo; \\\n\t\techo 'GOARM=7'; \\\n\t} >> /usr/local/go/go.env; \\\n\tfind /target -newer /target/usr/local/go -exec sh -c 'ls -ld \"$@\" && exit \"$#\"' -- '{}' +\nFROM alpine:3.20\nENV GOPATH /go\nCOPY --from=build --link /target/ /\nRUN mkdir -p \"$GOPATH/src\" \"$GOPATH/bin\" && chmod -R 1777 \"$GOPATH\"\nWORKDIR $GOPATH\n" },
        // docker-library/python windows/windowsservercore-ltsc2022: PowerShell SHELL, script blocks with braces
        { "windows: PowerShell shell", "FROM mcr.microsoft.com/windows/servercore:ltsc2022\nSHELL [\"powershell\", \"-Command\", \"$ErrorActionPreference = 'Stop';\"]\nRUN if ((Get-FileHash python.exe).Hash -ne $env:SHA) { \\\n\t\texit 1; \\\n\t}; \\\n\tRemove-Item $env:TEMP/Python*.log -Force\nCMD [\"python\"]\n" },
        // Windows Dockerfiles with the backtick escape directive, a UTF-8 BOM and CRLF line endings
        { "windows: BOM, CRLF, backtick escape", "\uFEFF# escape=`\r\nFROM mcr.microsoft.com/windows/servercore:ltsc2022\r\nRUN dir c:\\ `\r\n  && echo b\r\nCOPY x.txt c:\\app\\\r\n" },
        // moby/buildkit hack/dockerfiles/test.buildkit.Dockerfile: RUN --mount, FROM --platform, a trailing "\ " with a space
        { "buildkit: RUN --mount and backslash-space", "ARG TARGET=buildkitd\nFROM --platform=$BUILDPLATFORM golang:1.22.5 AS base\nWORKDIR /src\nRUN --mount=target=. --mount=target=/root/.cache,type=cache \\\n  --mount=source=/tmp/.ldflags,target=/tmp/.ldflags,from=base \\\n  go build -o /usr/bin/x ./cmd/x\nRUN apt-get install -y uidmap \\ \n  && useradd --create-home --home-dir /home/user user\n  # a comment indented after the RUN ended\nFROM base AS x-buildkitd\nFROM x-${TARGET}\n" },
        // moby/buildkit frontend/dockerfile/instructions/parse_heredoc_test.go: every here-document form
        { "buildkit: here-documents", "FROM alpine:3.20\nADD <<EOF /bar\nEOF\nADD <<-EOF /bar\n\tTESTING\nEOF\nCOPY <<'EOF' /bar\nTESTING\nEOF\nCOPY <<EOF1 <<EOF2 /bar/\nfirst\nEOF1\nsecond\nEOF2\nRUN 0<<-\"heredoc\"\necho hello\nheredoc\nRUN cat /proc/self/fd/5 /proc/self/fd/6 5<<FILE1 6<<FILE2 > file.txt\nfirst\nFILE1\nsecond\nFILE2\nRUN bash -xe <<EOF\necho foo\nEOF\n" },
        // here-document bodies and printf strings that only mention /workspace are data, not commands
        { "data that mentions /workspace", "FROM alpine:3.20\nRUN cat > /etc/profile.d/x.sh <<'EOF'\nmkdir -p /workspace\nEOF\nRUN printf '#!/bin/sh\\nmkdir -p /workspace\\n' > /entrypoint.sh\nCOPY <<EOF /etc/motd\nrm -rf /kaniko\nEOF\n" },
        // reading /workspace is fine: tar -c with -C, the target of a symlink, the source of a copy
        { "reading /workspace", "FROM alpine:3.20\nRUN tar -czf /tmp/ctx.tgz -C /workspace . && ln -s /workspace/bin/tool /usr/local/bin/tool && cp -r /workspace/. /app/ && git config --global --add safe.directory /workspace\n" },
        // GoogleContainerTools/kaniko integration/dockerfiles/Dockerfile_onbuild_base: ONBUILD runs in child images
        { "kaniko: ONBUILD", "FROM ubuntu:18.04\nENV dir /tmp/dir/\nONBUILD RUN mkdir $dir\nONBUILD WORKDIR /new/workdir\n" },
        // GoogleContainerTools/kaniko integration/dockerfiles/Dockerfile_test_env: ENV forms with quotes and escapes
        { "kaniko: ENV forms", "FROM debian:10.13\nENV hey hey\nENV myName=\"John Doe\" myDog=Rex\\ The\\ Dog \\\n    myCat=fluffy\nENV test2='a\"b\"c'\nENV test4=\"a\\\"b\"\nENV atomic=two newatomic=$atomic\n" },
        // GoogleContainerTools/kaniko integration/dockerfiles/Dockerfile_test_complex_substitution and _cmd
        { "kaniko: ${s%s} and a comment after JSON", "FROM debian:12 AS first\nRUN echo ${s%s}\nCMD [\"mycmd\"]\nFROM first\nENTRYPOINT [\"myentrypoint\"] # a comment\n" },
        // lowercase instructions and a parser directive block (# syntax, # check)
        { "lowercase and directives", "# syntax=docker/dockerfile:1.7\n# check=skip=JSONArgsRecommended\nfrom alpine:3.20 as build\nrun mkdir -p /app\nworkdir /app\nfrom build\ncmd [\"sh\"]\n" },
    };

    [Theory]
    [MemberData(nameof(BuildableConstructs))]
    public void Check_RealWorldConstruct_HasNoError(string name, string text)
    {
        var findings = DockerfilePreflight.Check(text);

        var errors = findings.Where(f => f.Severity == PreflightSeverity.Error).ToList();
        Assert.True(errors.Count == 0, $"{name}: " + string.Join("\n", errors.Select(f => $"{f.Line} {f.Code} {f.Message}")));
    }

    [Fact]
    public void Check_FromPlatformArgNamingAStage_IsNotAnUnpinnedImage()
    {
        // moby/buildkit test.buildkit.Dockerfile: FROM gobuild-$BUILDARCH-$TARGETARCH and FROM binaries-$TARGETOS
        // pick an earlier stage by platform; they were reported as the untagged images 'gobuild-amd64-amd64' and 'binaries-linux'.
        const string text =
            "FROM golang:1.22.5 AS gobuild-amd64-amd64\n"
            + "FROM golang:1.22.5 AS gobuild-arm64-arm64\n"
            + "FROM gobuild-$BUILDARCH-$TARGETARCH AS gobuild-base\n"
            + "FROM scratch AS binaries-linux\n"
            + "FROM binaries-$TARGETOS AS binaries\n";

        Assert.Empty(DockerfilePreflight.Check(text));
    }

    [Fact]
    public void Check_FromPlatformArgNamingAnImage_StillWarns()
    {
        const string text = "FROM golang-$TARGETARCH\n";

        var finding = Assert.Single(DockerfilePreflight.Check(text));
        Assert.Equal(PreflightCodes.FloatingBaseTag, finding.Code);
    }

    [Theory]
    [InlineData("ADD https://github.com/moby/buildkit.git#v0.10.1 /buildkit")]
    [InlineData("ADD --keep-git-dir=true https://github.com/moby/buildkit.git /buildkit")]
    [InlineData("ADD git@github.com:moby/buildkit.git /bk")]
    [InlineData("ADD ssh://git@example.com/repo.git /src")]
    public void Check_AddGitRepository_WarnsThatKanikoDoesNotClone(string add)
    {
        // Kaniko's ADD fetches any scheme://host URL as one file (IsSrcRemoteFileURL) and looks for anything else in
        // the context; BuildKit's git sources (dockerfile 1.5+) are not supported.
        var finding = Assert.Single(DockerfilePreflight.Check($"FROM alpine:3.20\n{add}\n"));

        Assert.Equal((2, PreflightCodes.AddGitRepository, PreflightSeverity.Warning), (finding.Line, finding.Code, finding.Severity));
        Assert.Contains("does not clone", finding.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ADD https://example.com/tool.tar.gz /opt/", PreflightCodes.RemoteAddWithoutChecksum)]
    [InlineData("ADD https://example.com/repo.github.io/index.html /srv/", PreflightCodes.RemoteAddWithoutChecksum)]
    public void Check_AddPlainUrl_IsNotAGitRepository(string add, string code)
    {
        var finding = Assert.Single(DockerfilePreflight.Check($"FROM alpine:3.20\n{add}\n"));

        Assert.Equal(code, finding.Code);
    }

    [Theory]
    [InlineData("RUN 99999999999<<EOF cat\nx\nEOF\n")] // a descriptor number too large for an int
    [InlineData("RUN \u0665<<EOF cat\nx\nEOF\n")] // a non-ASCII digit (found by fuzzing)
    public void Check_HeredocWithOddDescriptor_DoesNotThrow(string run)
    {
        var findings = DockerfilePreflight.Check("FROM alpine:3.20\n" + run);

        // BuildKit's \d is ASCII-only: a non-ASCII digit is no here-document, so its body lines are instructions.
        Assert.All(findings, f => Assert.True(f.Line >= 1));
    }

    [Theory]
    [InlineData("RUN for d in /data /workspace; do mkdir -p \"$d\"; done", 1)]
    [InlineData("RUN set -eux; \\\n  for d in \\\n    /var/a \\\n    /kaniko/b \\\n  ; do \\\n    mkdir -p \"$d\"; \\\n    for f in x y; do touch \"$d/$f\"; done; \\\n  done", 3)]
    [InlineData("ENV ROOT=/workspace\nRUN for d in \"$ROOT/a\" \"$ROOT/b\"; do \\\n  mkdir -p $d; \\\ndone", 2)]
    [InlineData("RUN <<EOF\nfor d in /data /kaniko/x\ndo\n  mkdir -p \"$d\"\ndone\nEOF", 1)]
    public void Check_ForLoopOverStaticWords_AnalyzesTheBodyPerValue(string run, int conflicts)
    {
        // docker-library/php loops "for dir in … ; do rm -rvf "$dir"; mkdir -p "$dir"; … done": with literal
        // words every value is known; the loop variable used to be skipped as unknown.
        var findings = DockerfilePreflight.Check("FROM alpine:3.20\n" + run + "\n", new PreflightOptions { Context = "dir:///workspace" });

        Assert.Equal(conflicts, findings.Count);
        Assert.All(findings, f => Assert.Equal(PreflightCodes.RunTouchesKanikoPath, f.Code));
        Assert.Single(findings.Select(f => f.Line).Distinct()); // all on the RUN line
    }

    [Theory]
    [InlineData("RUN for f in /workspace/*; do rm \"$f\"; done")] // a glob: values unknown
    [InlineData("RUN for d in $(ls /); do mkdir -p \"/x/$d\"; done")] // command substitution
    [InlineData("RUN . /etc/envvars; for d in \"$RUN_DIR\" /srv; do mkdir -p \"$d\"; done")] // a value from a sourced file
    [InlineData("RUN for d in /data /srv; do mkdir -p \"$d\"; done; mkdir -p \"$d/x\"")] // after the loop the variable is unknown
    public void Check_ForLoopWithUnknownValues_IsSkipped(string run)
    {
        Assert.Empty(DockerfilePreflight.Check("FROM alpine:3.20\n" + run + "\n"));
    }

    [Fact]
    public void Check_DeeplyNestedStaticLoops_StayCheapAndDoNotThrow()
    {
        // Six nested loops of 32 values would be 10^9 passes: a budget caps them (the rest is skipped as unknown).
        var values = string.Join(' ', Enumerable.Range(0, 32).Select(n => $"/d{n}"));
        var loops = string.Concat(Enumerable.Range(0, 6).Select(n => $"for v{n} in {values}; do "));
        var run = $"RUN {loops}touch \"$v5\"; {string.Concat(Enumerable.Repeat("done; ", 6))}true";
        var watch = System.Diagnostics.Stopwatch.StartNew();

        var findings = DockerfilePreflight.Check("FROM alpine:3.20\n" + run + "\n");

        Assert.Empty(findings);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
    }

    // ---- fuzzing: no input may throw ----------------------------------------------------------------

    private static readonly string[] _fuzzTokens =
    [
        "\\\n", "\n", "<<EOF\n", "EOF\n", "\"", "'", "$", "${", "}", "[", "]", "#", " ", "\r\n", "`", "$(", ")", "\t",
        "FROM ", "RUN ", "COPY ", "--from=", "<<-'X'\n", "\uFEFF", "\0", "AS ", "ARG ", "=", "/workspace", "/kaniko",
        ":-", "#!", "sh -c ", "&&", "|", ";", "\\", "{", "ONBUILD ", "# escape=`\n", "\u0665", "99999999999",
    ];

    private static string Mutate(string text, Random random)
    {
        var builder = new StringBuilder(text);
        for (var m = random.Next(1, 8); m > 0; m--)
        {
            var at = builder.Length == 0 ? 0 : random.Next(builder.Length);
            switch (random.Next(4))
            {
                case 0: builder.Insert(at, _fuzzTokens[random.Next(_fuzzTokens.Length)]); break;
                case 1: builder.Remove(at, Math.Min(random.Next(1, 20), builder.Length - at)); break;
                case 2: builder.Insert(at, (char)random.Next(0, 0x3000)); break;
                default:
                    var length = Math.Min(random.Next(1, 200), builder.Length - at);
                    builder.Insert(builder.Length == 0 ? 0 : random.Next(builder.Length), builder.ToString(at, length));
                    break;
            }
        }

        return builder.ToString();
    }

    [Fact]
    public void Check_ThreeThousandMutationsOfRealConstructs_NeverThrow()
    {
        var seeds = BuildableConstructs.Select(row => (string)row[1]).ToArray();
        var random = new Random(20261129);
        for (var i = 0; i < 3000; i++)
        {
            var text = Mutate(seeds[random.Next(seeds.Length)], random);
            var exception = Record.Exception(() => DockerfilePreflight.Check(text));
            Assert.True(exception is null, $"input {i} threw {exception}:\n{text}");
        }
    }

    [Fact]
    public void Analyze_ThreeThousandMutationsOfRealLogs_NeverThrow()
    {
        var seeds = Logs.RealWorldLogTests.Cases.Select(row => ((Logs.RealWorldLogTests.Verdict)row[1]).Log).ToArray();
        var random = new Random(1129);
        for (var i = 0; i < 3000; i++)
        {
            var text = Mutate(seeds[random.Next(seeds.Length)], random);
            var exception = Record.Exception(() => KanikoLogAnalyzer.Analyze(new StringReader(text)));
            Assert.True(exception is null, $"input {i} threw {exception}:\n{text}");
        }
    }
}
