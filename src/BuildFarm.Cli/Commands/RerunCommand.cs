using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using BuildFarm.Cli.Progress;

namespace BuildFarm.Cli.Commands;

/// <summary>
/// <c>buildfarm rerun ID [--failed] [--wait]</c>: runs an ended build or batch again as a new one linked to it. Build and
/// batch ids are not told apart by their form: the id is tried as a build first, then as a batch (as <c>cancel</c> does).
/// </summary>
public static class RerunCommand
{
    public static Command Create(CliIO io)
    {
        var failed = new Option<bool>("--failed")
        {
            Description = "Run again only what did not succeed (failed, dependency_failed, cancelled) and its dependents, on the digests of the images that succeeded.",
        };
        var wait = new Option<bool>("--wait") { Description = "Follow the new build or batch live until it ends; exit 0 only when every build succeeded." };
        return IdCommand.Create(io, "rerun",
            "Run an ended build or batch again as a new build or batch that names the original (rerunOf). A batch runs whole, or with --failed only its failed part.",
            "The build or batch id (tried as a build first).",
            request => RerunAsync(request, request.Parse.GetValue(failed), request.Parse.GetValue(wait)),
            failed, wait);
    }

    private static Task<int> RerunAsync(IdRequest request, bool failedOnly, bool wait)
    {
        var (client, key, json, _, io, cancellationToken) = request;
        return IdCommand.BuildOrBatchAsync(request, detail => $"cannot be run again: {detail}",
            () => client.RerunBuildAsync(key, failedOnly, null, cancellationToken),
            async build =>
            {
                if (wait)
                {
                    return await Following.BuildAsync(client, build, io, json, cancellationToken);
                }
                await IdCommand.PrintAsync(io, json, build, async () =>
                {
                    await io.Out.WriteLineAsync($"build {build.BuildId} {build.State.ToWire()}: a re-run of {key}{StatusCommand.TenantNote(build.Tenant)}");
                    await io.Out.WriteLineAsync($"follow it with: buildfarm watch {build.BuildId}");
                });
                return ExitCodes.Ok;
            },
            () => client.RerunBatchAsync(key, failedOnly, null, cancellationToken),
            batch => AfterBatchAsync(request, batch, wait));
    }

    private static async Task<int> AfterBatchAsync(IdRequest request, BatchStatus batch, bool wait)
    {
        var (client, key, json, _, io, cancellationToken) = request;
        if (wait)
        {
            return await Following.BatchAsync(client, batch, io, json, cancellationToken);
        }
        if (json)
        {
            await io.Out.WriteLineAsync(JsonSerializer.Serialize(batch, BuildFarmJson.Options));
            return ExitCodes.Ok;
        }
        var reused = batch.Reused.Count == 0 ? "" : $", {Plural.Of(batch.Reused.Count, "image")} reused ({string.Join(", ", batch.Reused.Select(r => r.Name))})";
        await io.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"batch {batch.BatchId}: a re-run of {key}, {Plural.Of(batch.Total, "image")} submitted{reused}{StatusCommand.TenantNote(batch.Tenant)}"));
        CliConsole.Create(io).Write(StatusCommand.BatchTable(batch));
        await io.Out.WriteLineAsync($"follow it with: buildfarm watch {batch.BatchId}");
        return ExitCodes.Ok;
    }
}
