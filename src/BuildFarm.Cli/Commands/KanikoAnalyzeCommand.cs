using System.CommandLine;
using BuildFarm.Kaniko.Logs;

namespace BuildFarm.Cli.Commands;

/// <summary>
/// <c>buildfarm kaniko analyze FILE... [--destination REF]...</c>: one JSON object per file, one per line
/// (docs/kaniko-log-analysis.md). <c>-</c> reads stdin. Exit 0 when every file was analysed, 2 when a file
/// could not be read (the others are still analysed).
/// </summary>
public static class KanikoAnalyzeCommand
{
    public const int ExitUnreadable = 2;

    /// <summary>A bad option value, like System.CommandLine's own parse errors.</summary>
    public const int ExitUsage = BuildFarmCli.UsageError;

    public static Command Create(CliIO io)
    {
        ArgumentNullException.ThrowIfNull(io);
        var files = new Argument<string[]>("FILE")
        {
            Arity = ArgumentArity.OneOrMore,
            Description = "Kaniko log files to analyze; '-' reads standard input.",
        };
        var destinations = new Option<string[]>("--destination", "-d")
        {
            Description = "A --destination of the build (repeatable): only pushes to these count as the final push.",
        };
        var command = new Command("analyze", "Analyze Kaniko logs: phases and timings, resets, retries, cache, pushes, failure reason. Prints one JSON object per file.")
        {
            files,
            destinations,
        };
        command.SetAction((parseResult, cancellationToken) => RunAsync(
            io, parseResult.GetValue(files) ?? [], parseResult.GetValue(destinations) ?? [], cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(CliIO io, string[] files, string[] destinations, CancellationToken cancellationToken)
    {
        var blank = Array.FindIndex(destinations, string.IsNullOrWhiteSpace);
        if (blank >= 0)
        {
            await io.Error.WriteLineAsync($"buildfarm kaniko analyze: --destination number {blank + 1} is empty");
            return ExitUsage;
        }

        var options = new KanikoLogAnalyzerOptions { Destinations = destinations };
        var exitCode = 0;
        foreach (var file in files)
        {
            KanikoLogAnalysis analysis;
            try
            {
                if (file == "-")
                {
                    analysis = await KanikoLogAnalyzer.AnalyzeAsync(io.In, options, cancellationToken);
                }
                else if (Directory.Exists(file))
                {
                    await io.Error.WriteLineAsync($"buildfarm kaniko analyze: cannot read '{file}': it is a directory");
                    exitCode = ExitUnreadable;
                    continue;
                }
                else
                {
                    await using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite,
                        bufferSize: 64 * 1024, useAsync: true);
                    analysis = await KanikoLogAnalyzer.AnalyzeAsync(stream, options, cancellationToken);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                await io.Error.WriteLineAsync($"buildfarm kaniko analyze: cannot read '{file}': {Describe(e)}");
                exitCode = ExitUnreadable;
                continue;
            }

            await io.Out.WriteLineAsync(KanikoLogAnalysisJson.ToJsonLine(file, analysis));
        }

        return exitCode;
    }

    private static string Describe(Exception e) => e switch
    {
        FileNotFoundException => "no such file",
        DirectoryNotFoundException => "no such directory",
        UnauthorizedAccessException => "permission denied",
        _ => e.Message,
    };
}
