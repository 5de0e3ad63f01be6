using BuildFarm.Client;

namespace BuildFarm.Cli.Commands;

/// <summary>The last lines of a failed build's failing attempt, printed under its reason as a CI job log would
/// (<c>status</c> of a failed build, <c>submit --wait</c> on failure).</summary>
internal static class FailureLog
{
    public const int DefaultLines = 20;

    /// <summary>The most failed builds of one batch whose logs are printed.</summary>
    public const int MaxBuilds = 5;

    /// <summary>Prints the last <paramref name="lines"/> lines of the build's last attempt when it failed and has a log;
    /// prints nothing otherwise (no attempt, log storage off, log expired, the API unreachable).</summary>
    public static async Task PrintAsync(BuildFarmClient client, BuildRecord build, CliIO io, CancellationToken cancellationToken, int lines = DefaultLines)
    {
        if (build.State != BuildState.Failed || build.Attempts.Count == 0)
        {
            return;
        }
        var attempt = build.Attempts.Max(a => a.Attempt);
        string text;
        try
        {
            text = await client.GetBuildLogAsync(build.BuildId, attempt, lines, timestamps: false, cancellationToken);
        }
        catch (Exception e) when (e is BuildFarmApiException or HttpRequestException)
        {
            return;
        }
        if (text.Length == 0)
        {
            return;
        }
        await io.Out.WriteLineAsync($"last lines of {build.BuildId} attempt {attempt} (buildfarm logs {build.BuildId} --attempt {attempt}):");
        foreach (var line in text.TrimEnd('\n').Split('\n'))
        {
            await io.Out.WriteLineAsync("  " + line);
        }
    }
}
