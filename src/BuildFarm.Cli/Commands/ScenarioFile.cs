using BuildFarm.ClusterSim.Scenarios;

namespace BuildFarm.Cli.Commands;

/// <summary>The <c>--scenario</c> file of <c>sim</c>, <c>sim plan</c> and <c>demo</c>.</summary>
internal static class ScenarioFile
{
    /// <summary>
    /// The scenario in <paramref name="file"/> and its text, or <paramref name="fallback"/> (and no text) when no file was
    /// named; null after saying on stderr why the file is not a scenario (the caller exits with the usage code).
    /// </summary>
    public static async Task<(Scenario Scenario, string? Yaml)?> ReadAsync(CliIO io, string command, FileInfo? file, Func<Scenario> fallback,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(io);
        ArgumentNullException.ThrowIfNull(fallback);
        try
        {
            return file is null
                ? (fallback(), null)
                : (ScenarioLoader.Load(file.FullName), await File.ReadAllTextAsync(file.FullName, cancellationToken));
        }
        catch (ScenarioException e)
        {
            await io.Error.WriteLineAsync($"buildfarm {command}: {e.Message}");
            return null;
        }
    }
}
