namespace BuildFarm.Cli.Tests;

public sealed class RootCommandTests
{
    [Fact]
    public async Task Help_ListsKanikoCommand()
    {
        var result = await CliRunner.RunAsync("--help");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("kaniko", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownCommand_ExitsNonZeroWithMessage()
    {
        var result = await CliRunner.RunAsync("no-such-command");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("no-such-command", result.Error, StringComparison.Ordinal);
    }
}
