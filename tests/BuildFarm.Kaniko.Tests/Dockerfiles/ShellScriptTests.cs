using BuildFarm.Kaniko.Dockerfiles;

namespace BuildFarm.Kaniko.Tests.Dockerfiles;

public sealed class ShellScriptTests
{
    [Fact]
    public void Split_Operators_SeparateCommands()
    {
        var commands = ShellScript.Split("a 1 && b 2 || c; d | e & f\ng");

        Assert.Equal(["a", "b", "c", "d", "e", "f", "g"], commands.Select(c => c.Words[0]));
    }

    [Fact]
    public void Split_QuotesAndSubstitutions_StayInOneWord()
    {
        var command = Assert.Single(ShellScript.Split("echo 'a && b' \"c; d\" $(x | y) ${V:-z w} `q; r`"));

        Assert.Equal(["echo", "'a && b'", "\"c; d\"", "$(x | y)", "${V:-z w}", "`q; r`"], command.Words);
    }

    [Fact]
    public void Split_Redirections_AreSplitOff()
    {
        var command = Assert.Single(ShellScript.Split("echo hi >/tmp/a 2>&1 >> b &>c <in"));

        Assert.Equal(["echo", "hi"], command.Words);
        Assert.Equal([">", ">&", ">>", "&>", "<"], command.Redirects.Select(r => r.Operator));
        Assert.Equal(["/tmp/a", "1", "b", "c", "in"], command.Redirects.Select(r => r.Target));
    }

    [Fact]
    public void Split_CommentsAndContinuations_AreHandled()
    {
        var commands = ShellScript.Split("# start\napt-get update \\\n  && echo a#b # tail\n");

        Assert.Equal(2, commands.Count);
        Assert.Equal(["echo", "a#b"], commands[1].Words);
    }

    [Fact]
    public void Split_Heredoc_BodyBelongsToTheCommandThatOpenedIt()
    {
        var commands = ShellScript.Split("cat <<'EOF' | sh\nmkdir /x\nEOF\necho done\n");

        Assert.Equal(3, commands.Count);
        Assert.Equal(["mkdir /x\n"], commands[0].HeredocBodies);
        Assert.Empty(commands[1].HeredocBodies);
        Assert.Equal(["echo", "done"], commands[2].Words);
    }
}
