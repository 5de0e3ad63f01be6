using System.CommandLine;

namespace BuildFarm.Cli.Commands;

/// <summary><c>buildfarm cancel ID</c>: asks the farm to cancel a build, or every build of a batch that has not ended.</summary>
public static class CancelCommand
{
    public static Command Create(CliIO io) => IdCommand.Create(io, "cancel",
        "Cancel a build: its pod is deleted and it ends as cancelled (a waiting batch image ends without building). A batch id cancels each of its builds that has not ended.",
        "The build or batch id.", CancelAsync);

    private static Task<int> CancelAsync(IdRequest request)
    {
        var (client, key, json, _, io, cancellationToken) = request;
        return IdCommand.BuildOrBatchAsync(request, detail => $"has already ended ({detail})",
            () => client.CancelBuildAsync(key, cancellationToken),
            async build =>
            {
                await IdCommand.PrintAsync(io, json, build, () => io.Out.WriteLineAsync(build.State == BuildState.Cancelled
                    ? $"build {build.BuildId} cancelled"
                    : $"build {build.BuildId}: cancel requested (now {build.State.ToWire()}); 'buildfarm status {build.BuildId}' shows when it has ended"));
                return ExitCodes.Ok;
            },
            () => client.CancelBatchAsync(key, cancellationToken),
            async batch =>
            {
                var open = batch.Images.Count(i => !i.State.IsFinal());
                await IdCommand.PrintAsync(io, json, batch, () => io.Out.WriteLineAsync(
                    $"batch {batch.BatchId}{StatusCommand.TenantNote(batch.Tenant)}: cancel requested for {open} build(s) that had not ended; 'buildfarm status {batch.BatchId}' shows when they have"));
                return ExitCodes.Ok;
            });
    }
}
