using System.CommandLine;
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
        };
    }

    public static Task<int> RunAsync(string[] args, CliIO io, CancellationToken cancellationToken)
    {
        var parseResult = Create(io).Parse(args);
        var configuration = new InvocationConfiguration { Output = io.Out, Error = io.Error };
        return parseResult.InvokeAsync(configuration, cancellationToken);
    }
}
