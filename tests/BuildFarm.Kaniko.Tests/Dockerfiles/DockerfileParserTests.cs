using BuildFarm.Kaniko.Dockerfiles;

namespace BuildFarm.Kaniko.Tests.Dockerfiles;

public sealed class DockerfileParserTests
{
    private static string Lines(params string[] lines) => string.Join('\n', lines) + "\n";

    [Fact]
    public void Parse_SimpleFile_KeepsKeywordsArgumentsAndLines()
    {
        var file = DockerfileParser.Parse(Lines("FROM alpine:3.19", "", "# comment", "run echo hi", "CMD [\"sh\"]"));

        Assert.Empty(file.Errors);
        Assert.Equal(["FROM", "RUN", "CMD"], file.Instructions.Select(i => i.Keyword));
        Assert.Equal([1, 4, 5], file.Instructions.Select(i => i.Line));
        Assert.Equal("echo hi", file.Instructions[1].Arguments);
    }

    [Fact]
    public void Parse_CrLfAndBom_AreHandled()
    {
        var file = DockerfileParser.Parse("\uFEFFFROM alpine:3.19\r\nRUN a \\\r\n  b\r\n");

        Assert.Empty(file.Errors);
        Assert.Equal("a   b", file.Instructions[1].Arguments);
    }

    [Fact]
    public void Parse_LineContinuation_JoinsLinesAndKeepsStartLine()
    {
        var file = DockerfileParser.Parse(Lines(
            "FROM alpine:3.19",
            "RUN apk add \\",
            "    curl \\",
            "    git",
            "USER app"));

        var run = file.Instructions[1];
        Assert.Equal(2, run.Line);
        Assert.Equal("apk add     curl     git", run.Arguments);
        Assert.Equal(5, file.Instructions[2].Line);
    }

    [Fact]
    public void Parse_ContinuationFollowedByWhitespace_StillContinues()
    {
        var file = DockerfileParser.Parse("FROM alpine:3.19\nRUN a \\   \n  b\n");

        Assert.Equal("a   b", file.Instructions[1].Arguments);
        Assert.Equal(2, file.Instructions.Count);
    }

    [Fact]
    public void Parse_CommentAndEmptyLinesInsideContinuation_AreDropped()
    {
        var file = DockerfileParser.Parse(Lines(
            "FROM alpine:3.19",
            "RUN apt-get update && \\",
            "# a comment inside the instruction",
            "    # an indented comment",
            "",
            "    apt-get install -y curl",
            "EXPOSE 80"));

        Assert.Empty(file.Errors);
        Assert.Equal("apt-get update &&     apt-get install -y curl", file.Instructions[1].Arguments);
        Assert.Equal(7, file.Instructions[2].Line);
    }

    [Fact]
    public void Parse_BacktickEscapeDirective_ContinuesOnBacktickNotBackslash()
    {
        var file = DockerfileParser.Parse(Lines(
            "# escape=`",
            "FROM mcr.microsoft.com/windows/servercore:ltsc2022",
            "RUN dir C:\\ `",
            "    && echo done",
            "COPY . C:\\app\\"));

        Assert.Empty(file.Errors);
        Assert.Equal('`', file.EscapeChar);
        Assert.Equal("`", file.Directives["escape"]);
        Assert.Equal("dir C:\\     && echo done", file.Instructions[1].Arguments);
        Assert.Equal(5, file.Instructions[2].Line);
        Assert.Equal("COPY", file.Instructions[2].Keyword);
    }

    [Fact]
    public void Parse_DirectivesOnlyAtTop_LaterOnesAreComments()
    {
        var file = DockerfileParser.Parse(Lines(
            "# syntax=docker/dockerfile:1.7",
            "# escape=\\",
            "# just a comment",
            "# escape=`",
            "FROM alpine:3.19"));

        Assert.Equal("docker/dockerfile:1.7", file.Directives["syntax"]);
        Assert.Equal('\\', file.EscapeChar);
        Assert.Empty(file.Errors);
    }

    [Fact]
    public void Parse_IndentedDirective_IsStillADirective()
    {
        var file = DockerfileParser.Parse("  # escape = `\nFROM alpine:3.19\n");

        Assert.Equal('`', file.EscapeChar);
    }

    [Fact]
    public void Parse_DirectiveAfterBlankLine_IsAComment()
    {
        var file = DockerfileParser.Parse(Lines("", "# escape=`", "FROM alpine:3.19"));

        Assert.Equal('\\', file.EscapeChar);
        Assert.Empty(file.Directives);
    }

    [Theory]
    [InlineData("# escape=x", "invalid escape directive")]
    [InlineData("# syntax=a\n# syntax=b", "given twice")]
    public void Parse_BadDirective_IsAnError(string directives, string expected)
    {
        var file = DockerfileParser.Parse(directives + "\nFROM alpine:3.19\n");

        var error = Assert.Single(file.Errors);
        Assert.Equal(PreflightCodes.InvalidDirective, error.Code);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("from alpine:3.19", "FROM")]
    [InlineData("Run echo", "RUN")]
    [InlineData("wOrKdIr /app", "WORKDIR")]
    public void Parse_Keywords_AreCaseInsensitive(string line, string keyword)
    {
        var file = DockerfileParser.Parse(line + "\n");

        Assert.Equal(keyword, Assert.Single(file.Instructions).Keyword);
    }

    [Fact]
    public void Parse_UnknownInstruction_IsAnErrorWithItsLine()
    {
        var file = DockerfileParser.Parse(Lines("FROM alpine:3.19", "RUN echo a", "    echo b", "COPPY . /app"));

        // Line 3 lacks the continuation on line 2, so "echo b" is read as an instruction; line 4 is a typo.
        Assert.All(file.Errors, e => Assert.Equal(PreflightCodes.UnknownInstruction, e.Code));
        Assert.Equal([3, 4], file.Errors.Select(e => e.Line));
        Assert.Contains("'echo'", file.Errors[0].Message, StringComparison.Ordinal);
        Assert.Contains("'COPPY'", file.Errors[1].Message, StringComparison.Ordinal);
        Assert.Equal(2, file.Instructions.Count);
    }

    [Fact]
    public void Parse_Heredoc_BodyAndLinesAfterItStayRight()
    {
        var file = DockerfileParser.Parse(Lines(
            "FROM alpine:3.19",
            "RUN <<EOF",
            "apk add curl",
            "echo $HOME",
            "EOF",
            "WORKDIR /app"));

        var run = file.Instructions[1];
        var heredoc = Assert.Single(run.Heredocs);
        Assert.Equal("EOF", heredoc.Delimiter);
        Assert.Equal("apk add curl\necho $HOME\n", heredoc.Body);
        Assert.True(heredoc.Expand);
        Assert.Equal(3, heredoc.BodyLine);
        Assert.Equal(6, file.Instructions[2].Line);
        Assert.Equal("WORKDIR", file.Instructions[2].Keyword);
    }

    [Fact]
    public void Parse_HeredocWithDash_StripsLeadingTabs()
    {
        var file = DockerfileParser.Parse("FROM alpine:3.19\nRUN <<-EOT\n\techo a\n\t\techo b\n\tEOT\nUSER x\n");

        var heredoc = Assert.Single(file.Instructions[1].Heredocs);
        Assert.True(heredoc.StripTabs);
        Assert.Equal("echo a\necho b\n", heredoc.Body);
        Assert.Equal(6, file.Instructions[2].Line);
    }

    [Theory]
    [InlineData("<<\"EOF\"")]
    [InlineData("<<'EOF'")]
    public void Parse_QuotedHeredocDelimiter_DisablesExpansion(string opener)
    {
        var file = DockerfileParser.Parse($"FROM alpine:3.19\nRUN {opener}\necho $HOME\nEOF\n");

        var heredoc = Assert.Single(file.Instructions[1].Heredocs);
        Assert.Equal("EOF", heredoc.Delimiter);
        Assert.False(heredoc.Expand);
        Assert.Empty(file.Errors);
    }

    [Fact]
    public void Parse_SeveralHeredocsOnOneLine_AreReadInOrder()
    {
        var file = DockerfileParser.Parse(Lines(
            "FROM alpine:3.19",
            "COPY <<FILE1 <<FILE2 /etc/",
            "one",
            "FILE1",
            "two",
            "FILE2",
            "RUN 3<<A cat /dev/fd/3",
            "three",
            "A",
            "ENV X=1"));

        var copy = file.Instructions[1];
        Assert.Equal(["FILE1", "FILE2"], copy.Heredocs.Select(h => h.Delimiter));
        Assert.Equal(["one\n", "two\n"], copy.Heredocs.Select(h => h.Body));
        Assert.Equal(3, Assert.Single(file.Instructions[2].Heredocs).FileDescriptor);
        Assert.Equal(10, file.Instructions[3].Line);
    }

    [Fact]
    public void Parse_CopyHeredoc_KeepsDestinationInArguments()
    {
        var file = DockerfileParser.Parse("FROM alpine:3.19\nCOPY --chmod=755 <<EOF /usr/local/bin/run\n#!/bin/sh\necho hi\nEOF\n");

        var copy = file.Instructions[1];
        Assert.Equal("<<EOF /usr/local/bin/run", copy.Arguments);
        Assert.Equal("755", copy.Flag("chmod"));
        Assert.Equal("#!/bin/sh\necho hi\n", Assert.Single(copy.Heredocs).Body);
    }

    [Fact]
    public void Parse_HeredocMarkersInQuotesOrOtherInstructions_AreNotHeredocs()
    {
        var file = DockerfileParser.Parse("FROM alpine:3.19\nRUN echo \"<<EOF\"\nLABEL x=<<EOF\nRUN cat <<<word\n");

        Assert.All(file.Instructions, i => Assert.Empty(i.Heredocs));
        Assert.Empty(file.Errors);
        Assert.Equal(4, file.Instructions.Count);
    }

    [Fact]
    public void Parse_UnterminatedHeredoc_IsAnErrorAtTheInstruction()
    {
        var file = DockerfileParser.Parse(Lines("FROM alpine:3.19", "", "RUN <<EOF", "echo hi", "EOF2"));

        var error = Assert.Single(file.Errors);
        Assert.Equal(PreflightCodes.UnterminatedHeredoc, error.Code);
        Assert.Equal(3, error.Line);
    }

    [Fact]
    public void Parse_JsonExecForm_IsRecognisedAndInvalidJsonFallsBackToShellForm()
    {
        var file = DockerfileParser.Parse(Lines(
            "FROM alpine:3.19",
            "RUN [\"/bin/sh\", \"-c\", \"echo hi\"]",
            "CMD ['npm', 'start']",
            "ENTRYPOINT [\"a\", 1]",
            "VOLUME [\"/data\"]"));

        Assert.Equal(["/bin/sh", "-c", "echo hi"], file.Instructions[1].ExecForm);
        Assert.Null(file.Instructions[2].ExecForm);
        Assert.Null(file.Instructions[3].ExecForm);
        Assert.Equal(["/data"], file.Instructions[4].ExecForm);
    }

    [Fact]
    public void Parse_Flags_AreSplitFromArguments()
    {
        var file = DockerfileParser.Parse(Lines(
            "FROM --platform=$BUILDPLATFORM golang:1.22 AS build",
            "RUN --mount=type=cache,target=/root/.cache/go-build --network=none go build ./...",
            "COPY --from=build --chown=app:app --chmod=0755 --link /out/app /usr/local/bin/app",
            "ADD --checksum=\"sha256:abc\" https://example.com/x.tgz /opt/"));

        var from = file.Instructions[0];
        Assert.Equal("$BUILDPLATFORM", from.Flag("platform"));
        Assert.Equal("golang:1.22 AS build", from.Arguments);
        var run = file.Instructions[1];
        Assert.Equal("type=cache,target=/root/.cache/go-build", run.Flag("mount"));
        Assert.Equal("none", run.Flag("network"));
        Assert.Equal("go build ./...", run.Arguments);
        var copy = file.Instructions[2];
        Assert.Equal("build", copy.Flag("from"));
        Assert.Equal("app:app", copy.Flag("chown"));
        Assert.Equal("0755", copy.Flag("chmod"));
        Assert.Equal(string.Empty, copy.Flag("link"));
        Assert.Null(copy.Flag("parents"));
        Assert.Equal("/out/app /usr/local/bin/app", copy.Arguments);
        Assert.Equal("sha256:abc", file.Instructions[3].Flag("checksum"));
    }

    [Fact]
    public void Parse_EscapedEscapeAtEndOfLine_IsNotAContinuation()
    {
        var file = DockerfileParser.Parse("FROM alpine:3.19\nRUN echo C:\\\\\nUSER x\n");

        Assert.Equal(3, file.Instructions.Count);
        Assert.Equal("echo C:\\\\", file.Instructions[1].Arguments);
    }

    [Fact]
    public void Parse_OnbuildHeredoc_IsConsumedSoLaterLinesStayRight()
    {
        var file = DockerfileParser.Parse("FROM alpine:3.19\nONBUILD RUN <<EOF\nmkdir /x\nEOF\nUSER x\n");

        Assert.Empty(file.Errors);
        Assert.Equal("mkdir /x\n", Assert.Single(file.Instructions[1].Heredocs).Body);
        Assert.Equal((5, "USER"), (file.Instructions[2].Line, file.Instructions[2].Keyword));
    }

    [Fact]
    public void Parse_JsonFormRun_HasNoHeredocs()
    {
        var file = DockerfileParser.Parse("FROM alpine:3.19\nRUN [\"cat\", \"<<EOF\"]\nUSER x\n");

        Assert.Empty(file.Instructions[1].Heredocs);
        Assert.Equal(3, file.Instructions[2].Line);
    }

    [Fact]
    public void Parse_PartlyQuotedHeredocDelimiter_DisablesExpansion()
    {
        var file = DockerfileParser.Parse("FROM alpine:3.19\nRUN <<E\"OF\"\necho $HOME\nEOF\n");

        var heredoc = Assert.Single(file.Instructions[1].Heredocs);
        Assert.Equal(("EOF", false), (heredoc.Delimiter, heredoc.Expand));
    }

    [Fact]
    public void Parse_EmptyText_HasNoInstructionsAndNoErrors()
    {
        var file = DockerfileParser.Parse("\n  \n# only a comment\n");

        Assert.Empty(file.Instructions);
        Assert.Empty(file.Errors);
    }

    [Fact]
    public void Parse_ContinuationAtEndOfFile_DoesNotThrow()
    {
        var file = DockerfileParser.Parse("FROM alpine:3.19\nRUN echo a \\");

        Assert.Equal("echo a", file.Instructions[1].Arguments);
    }
}
