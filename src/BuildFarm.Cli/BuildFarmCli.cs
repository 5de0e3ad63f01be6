using System.CommandLine;
using System.CommandLine.Invocation;
using BuildFarm.Cli.Commands;

namespace BuildFarm.Cli;

/// <summary>The <c>buildfarm</c> command tree.</summary>
public static class BuildFarmCli
{
    public static RootCommand Create(CliIO io)
    {
        var kaniko = new Command("kaniko", "Kaniko tools: analyze logs, render pods, preflight Dockerfiles.")
        {
            KanikoAnalyzeCommand.Create(io),
            KanikoPodCommand.Create(io),
            KanikoPreflightCommand.Create(io),
        };
        return new RootCommand("BuildFarm: a distributed farm that builds container images with Kaniko on Kubernetes.")
        {
            kaniko,
            SimCommand.Create(io),
            SubmitCommand.Create(io),
            StatusCommand.Create(io),
            CancelCommand.Create(io),
            RerunCommand.Create(io),
            LogsCommand.Create(io),
            WatchCommand.Create(io),
            DemoCommand.Create(io),
            ManifestCommand.Create(io),
            ScheduleCommand.Create(io),
        };
    }

    /// <summary>Exit code of a command line that does not parse (unknown option, missing argument).</summary>
    public const int UsageError = 2;

    public static async Task<int> RunAsync(string[] args, CliIO io, CancellationToken cancellationToken)
    {
        var parseResult = Create(io).Parse(args);
        if (parseResult.Action is ParseErrorAction)
        {
            // Usage errors exit 2 everywhere, so that they never read as a command's own verdict
            // (preflight exits 1 for a Dockerfile with error findings).
            foreach (var error in parseResult.Errors)
            {
                await io.Error.WriteLineAsync($"buildfarm: {error.Message}");
            }
            await io.Error.WriteLineAsync("Run 'buildfarm --help' (or the command with --help) for usage.");
            return UsageError;
        }
        // Ctrl+C and SIGTERM are left to the commands that run long (demo, --wait, watch: CliConsole.CaptureInterrupt), which
        // cancel, clean up and then exit; System.CommandLine must not end the process under them after a timeout of its own.
        var configuration = new InvocationConfiguration { Output = io.Out, Error = io.Error, ProcessTerminationTimeout = null };
        return await parseResult.InvokeAsync(configuration, cancellationToken);
    }
}
