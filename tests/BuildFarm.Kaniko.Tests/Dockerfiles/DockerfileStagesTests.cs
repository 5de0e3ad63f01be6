using BuildFarm.Kaniko.Dockerfiles;

namespace BuildFarm.Kaniko.Tests.Dockerfiles;

public sealed class DockerfileStagesTests
{
    private static DockerfileStages Resolve(string text, IReadOnlyDictionary<string, string>? buildArgs = null) =>
        DockerfileStages.Resolve(DockerfileParser.Parse(text), buildArgs);

    private static StageStep Step(BuildStage stage, string keyword) => stage.Steps.First(s => s.Instruction.Keyword == keyword);

    [Fact]
    public void Resolve_GlobalArg_IsUsableInFrom()
    {
        var stages = Resolve("ARG VERSION=3.19\nARG IMAGE=alpine\nFROM ${IMAGE}:${VERSION}\n");

        Assert.Equal("alpine:3.19", Assert.Single(stages.Stages).BaseImage);
        Assert.Empty(stages.Errors);
    }

    [Fact]
    public void Resolve_BuildArg_OverridesDefault()
    {
        var stages = Resolve("ARG VERSION=3.19\nFROM alpine:$VERSION\nARG MODE=debug\nRUN x\n",
            new Dictionary<string, string> { ["VERSION"] = "3.20", ["MODE"] = "release" });

        var stage = Assert.Single(stages.Stages);
        Assert.Equal("alpine:3.20", stage.BaseImage);
        Assert.Equal(VariableLookup.Of("release"), Step(stage, "RUN").Variables.Lookup("MODE"));
    }

    [Fact]
    public void Resolve_GlobalArg_IsNotVisibleInStageUntilRedeclared()
    {
        var stages = Resolve("ARG DIR=/srv\nFROM alpine:3.19\nRUN a\nARG DIR\nRUN b\n");

        var stage = Assert.Single(stages.Stages);
        Assert.Equal(VariableState.Unknown, stage.Steps[0].Variables.Lookup("DIR").State);
        Assert.Equal(VariableLookup.Of("/srv"), stage.Steps[2].Variables.Lookup("DIR"));
    }

    [Fact]
    public void Resolve_ArgWithoutDefaultOrBuildArg_IsUnsetAndFromCannotResolve()
    {
        var stages = Resolve("ARG BASE\nFROM $BASE\n");

        Assert.Equal(VariableState.Unset, stages.GlobalArgs.Lookup("BASE").State);
        Assert.Equal(string.Empty, Assert.Single(stages.Stages).BaseImage);
    }

    [Fact]
    public void Resolve_FromWithUnknownVariable_HasNoStaticBaseImage()
    {
        var stages = Resolve("FROM $UNDECLARED\n");

        Assert.Null(Assert.Single(stages.Stages).BaseImage);
    }

    [Fact]
    public void Resolve_Env_PersistsInStageAndSubstitutesLaterInstructions()
    {
        var stages = Resolve("FROM alpine:3.19\nENV APP=/srv/app LOG=${APP}/log\nENV TMP=$APP/tmp\nWORKDIR $TMP\nRUN x\n");

        var stage = Assert.Single(stages.Stages);
        var run = Step(stage, "RUN");
        Assert.Equal(VariableLookup.Of("/srv/app"), run.Variables.Lookup("APP"));
        // Values on one ENV line are expanded with the scope before it: APP was not yet known there.
        Assert.Equal(VariableState.Unknown, run.Variables.Lookup("LOG").State);
        Assert.Equal(VariableLookup.Of("/srv/app/tmp"), run.Variables.Lookup("TMP"));
        Assert.Equal("/srv/app/tmp", run.Workdir);
    }

    [Fact]
    public void Resolve_LegacyEnvForm_TakesRestOfLine()
    {
        var stages = Resolve("FROM alpine:3.19\nENV GREETING hello big world\nRUN x\n");

        Assert.Equal(VariableLookup.Of("hello big world"), Step(stages.Stages[0], "RUN").Variables.Lookup("GREETING"));
    }

    [Fact]
    public void Resolve_QuotedEnvAndArgValues_AreUnquoted()
    {
        var stages = Resolve("FROM alpine:3.19\nARG A=\"x y\" B='$A'\nENV C=\"$A!\"\nRUN x\n");

        var run = Step(stages.Stages[0], "RUN");
        Assert.Equal(VariableLookup.Of("x y"), run.Variables.Lookup("A"));
        Assert.Equal(VariableLookup.Of("$A"), run.Variables.Lookup("B"));
        Assert.Equal(VariableLookup.Of("x y!"), run.Variables.Lookup("C"));
    }

    [Fact]
    public void Resolve_EnvWinsOverArgOfSameName()
    {
        var stages = Resolve("FROM alpine:3.19\nARG P=arg\nENV P=env\nRUN x\n", new Dictionary<string, string> { ["P"] = "build-arg" });

        Assert.Equal(VariableLookup.Of("env"), Step(stages.Stages[0], "RUN").Variables.Lookup("P"));
    }

    [Fact]
    public void Resolve_StageArgs_DoNotLeakIntoNextStage()
    {
        var stages = Resolve("FROM alpine:3.19 AS a\nARG X=1\nENV Y=2\nFROM alpine:3.19\nRUN x\n");

        var run = Step(stages.Stages[1], "RUN");
        Assert.Equal(VariableState.Unknown, run.Variables.Lookup("X").State);
        Assert.Equal(VariableState.Unknown, run.Variables.Lookup("Y").State);
    }

    [Fact]
    public void Resolve_StageBuiltOnStage_InheritsEnvAndWorkdirButNotArgs()
    {
        var stages = Resolve("FROM node:20 AS base\nARG X=1\nENV HOME_DIR=/home/node\nWORKDIR /srv\nFROM BASE AS test\nRUN x\n");

        var test = stages.Stages[1];
        Assert.Equal("test", test.Name);
        Assert.Equal(0, test.BaseStage);
        var run = Step(test, "RUN");
        Assert.Equal(VariableLookup.Of("/home/node"), run.Variables.Lookup("HOME_DIR"));
        Assert.Equal(VariableState.Unknown, run.Variables.Lookup("X").State);
        Assert.Equal("/srv", run.Workdir);
    }

    [Fact]
    public void Resolve_Scratch_HasKnownEmptyEnvironmentAndRootWorkdir()
    {
        var stages = Resolve("FROM scratch\nRUN x\n");

        var run = stages.Stages[0].Steps[0];
        Assert.Equal("/", run.Workdir);
        Assert.Equal(VariableState.Unset, run.Variables.Lookup("ANYTHING").State);
    }

    [Fact]
    public void Resolve_ImageBase_HasUnknownWorkdirUntilWorkdirIsSet()
    {
        var stages = Resolve("FROM python:3.12\nRUN a\nWORKDIR app\nRUN b\nWORKDIR /srv\nWORKDIR ./app/../api\nRUN c\n");

        var runs = stages.Stages[0].Steps.Where(s => s.Instruction.Keyword == "RUN").ToList();
        Assert.Null(runs[0].Workdir);
        Assert.Null(runs[1].Workdir);
        Assert.Equal("/srv/api", runs[2].Workdir);
    }

    [Fact]
    public void FindStage_ByNameOrIndex_OnlyAmongEarlierStages()
    {
        var stages = Resolve("FROM golang:1.22 AS Build\nRUN x\nFROM alpine:3.19\nCOPY --from=build /a /b\n");

        Assert.Equal(0, stages.FindStage("build", 1)?.Index);
        Assert.Equal(0, stages.FindStage("0", 1)?.Index);
        Assert.Null(stages.FindStage("build", 0));
        Assert.Null(stages.FindStage("nginx:1.27", 2));
    }

    [Fact]
    public void Resolve_Shell_IsTrackedPerStage()
    {
        var stages = Resolve("FROM alpine:3.19\nSHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\nRUN x\n");

        Assert.Equal(["/bin/bash", "-o", "pipefail", "-c"], Step(stages.Stages[0], "RUN").Shell);
    }

    [Theory]
    [InlineData("RUN echo\nFROM alpine:3.19\n", 1)]
    [InlineData("ARG A=1\nLABEL x=y\nFROM alpine:3.19\n", 2)]
    public void Resolve_InstructionBeforeFrom_IsAnError(string text, int line)
    {
        var stages = Resolve(text);

        Assert.Contains(stages.Errors, e => e.Code == PreflightCodes.MissingFrom && e.Line == line);
    }

    [Fact]
    public void Resolve_NoFromAtAll_IsOneError()
    {
        var stages = Resolve("# build\nARG A=1\nRUN echo\nLABEL x=y\n");

        var error = Assert.Single(stages.Errors);
        Assert.Equal((PreflightCodes.MissingFrom, 2), (error.Code, error.Line));
        Assert.Empty(stages.Stages);
    }

    [Fact]
    public void Resolve_DuplicateStageName_IsAnError()
    {
        var stages = Resolve("FROM alpine:3.19 AS x\nFROM alpine:3.19 AS X\n");

        var error = Assert.Single(stages.Errors);
        Assert.Equal(PreflightCodes.DuplicateStageName, error.Code);
        Assert.Equal(2, error.Line);
    }

    [Theory]
    [InlineData("FROM")]
    [InlineData("FROM a b")]
    [InlineData("FROM a AS")]
    [InlineData("FROM a FROM b")]
    public void Resolve_MalformedFrom_IsAnError(string from)
    {
        var stages = Resolve(from + "\n");

        Assert.Equal(PreflightCodes.MissingArguments, Assert.Single(stages.Errors).Code);
    }
}
