using System.Diagnostics;
using System.Text.Json;
using BuildFarm.Cli.Progress;
using BuildFarm.Client;
using BuildFarm.Status;

namespace BuildFarm.Cli.Commands;

/// <summary><c>--wait</c> and <c>watch</c>: follow builds live, then print the summary; the exit code says whether all succeeded.</summary>
internal static class Following
{
    /// <summary>The JSON printed at the end of <c>--wait</c>/<c>watch</c> with <c>--output json</c>.</summary>
    internal sealed record FollowResult(string? BatchId, bool Done, bool Succeeded, bool Interrupted, IReadOnlyList<BuildRecord> Builds);

    public static Task<int> BatchAsync(BuildFarmClient client, BatchStatus batch, CliIO io, bool json, CancellationToken cancellationToken) =>
        FollowAsync(client, client.StreamBatchEventsAsync(batch.BatchId, CancellationToken.None), batch.BatchId,
            new FollowedBuilds(batch.Images.Select(i => new BatchMember(i.Name, i.BuildId))), $"batch {batch.BatchId}{StatusCommand.TenantNote(batch.Tenant)}", io, json, cancellationToken);

    public static Task<int> BuildAsync(BuildFarmClient client, BuildRecord build, CliIO io, bool json, CancellationToken cancellationToken)
    {
        var progress = new FollowedBuilds([new BatchMember(build.Name ?? (build.Spec.Destinations.Count > 0 ? build.Spec.Destinations[0] : build.BuildId), build.BuildId)]);
        progress.Apply(build);
        return FollowAsync(client, client.StreamBuildEventsAsync(build.BuildId, CancellationToken.None), null, progress, $"build {build.BuildId}{StatusCommand.TenantNote(build.Tenant)}", io, json, cancellationToken);
    }

    private static async Task<int> FollowAsync(BuildFarmClient client, IAsyncEnumerable<BuildEvent> events, string? batchId, FollowedBuilds progress, string title, CliIO io, bool json,
        CancellationToken cancellationToken)
    {
        var console = CliConsole.Create(io);
        var mode = json ? ProgressMode.Quiet : CliConsole.IsTerminal(io) ? ProgressMode.Live : ProgressMode.Plain;
        var clock = Stopwatch.StartNew();
        using var interrupt = CliConsole.CaptureInterrupt(io, cancellationToken);
        var interrupted = false;
        try
        {
            await ProgressFollower.FollowAsync(progress, events, mode, console, io.Out, title, null, interrupt.Token);
        }
        catch (OperationCanceledException) when (interrupt.Requested)
        {
            interrupted = true;
        }
        if (json)
        {
            await io.Out.WriteLineAsync(JsonSerializer.Serialize(
                new FollowResult(batchId, progress.AllFinal, progress.AllSucceeded, interrupted, progress.Builds), BuildFarmJson.Options));
        }
        else
        {
            console.Write(ProgressView.Summary(progress, clock.Elapsed));
            foreach (var failed in progress.Builds.Where(b => b.State == BuildState.Failed && b.Attempts.Count > 0).Take(FailureLog.MaxBuilds))
            {
                await FailureLog.PrintAsync(client, failed, io, cancellationToken);
            }
            if (interrupted)
            {
                await io.Out.WriteLineAsync("stopped following; the builds go on in the farm ('buildfarm cancel ID' stops one)");
            }
        }
        return interrupted ? ExitCodes.Interrupted : progress.AllSucceeded ? ExitCodes.Ok : ExitCodes.BuildsFailed;
    }
}
