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

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no-such-command", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownOption_ExitsTwoNamingTheOption()
    {
        var result = await CliRunner.RunAsync("kaniko", "preflight", "Dockerfile", "--no-such-option");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--no-such-option", result.Error, StringComparison.Ordinal);
    }
}
