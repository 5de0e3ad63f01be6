using System.CommandLine;

namespace BuildFarm.Cli.Commands;

/// <summary><c>buildfarm kaniko analyze</c> (placeholder until implemented).</summary>
public static class KanikoAnalyzeCommand
{
    public static Command Create(CliIO io)
    {
        var command = new Command("analyze", "Not implemented yet.");
        command.SetAction(_ =>
        {
            io.Error.WriteLine("buildfarm kaniko analyze: not implemented yet");
            return 2;
        });
        return command;
    }
}
