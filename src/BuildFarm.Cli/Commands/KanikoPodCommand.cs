using System.CommandLine;

namespace BuildFarm.Cli.Commands;

/// <summary><c>buildfarm kaniko pod</c> (placeholder until implemented).</summary>
public static class KanikoPodCommand
{
    public static Command Create(CliIO io)
    {
        var command = new Command("pod", "Not implemented yet.");
        command.SetAction(_ =>
        {
            io.Error.WriteLine("buildfarm kaniko pod: not implemented yet");
            return 2;
        });
        return command;
    }
}
