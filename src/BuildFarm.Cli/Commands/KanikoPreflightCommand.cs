using System.CommandLine;

namespace BuildFarm.Cli.Commands;

/// <summary><c>buildfarm kaniko preflight</c> (placeholder until implemented).</summary>
public static class KanikoPreflightCommand
{
    public static Command Create(CliIO io)
    {
        var command = new Command("preflight", "Not implemented yet.");
        command.SetAction(_ =>
        {
            io.Error.WriteLine("buildfarm kaniko preflight: not implemented yet");
            return 2;
        });
        return command;
    }
}
