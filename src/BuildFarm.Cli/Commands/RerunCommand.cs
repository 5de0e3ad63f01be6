using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text.Json;
using BuildFarm.Cli.Progress;
using BuildFarm.Client;

namespace BuildFarm.Cli.Commands;

/// <summary>
/// <c>buildfarm rerun ID [--failed] [--wait]</c>: runs an ended build or batch again as a new one linked to it. Build and
/// batch ids are not told apart by their form: the id is tried as a build first, then as a batch (as <c>cancel</c> does).
/// </summary>
public static class RerunCommand
{
    public static Command Create(CliIO io)
    {
        ArgumentNullException.ThrowIfNull(io);
        var connection = new ApiConnection();
        var id = new Argument<string>("ID") { Description = "The build or batch id (tried as a build first)." };
        var failed = new Option<bool>("--failed")
        {
            Description = "Run again only what did not succeed (failed, dependency_failed, cancelled) and its dependents, on the digests of the images that succeeded.",
        };
        var wait = new Option<bool>("--wait") { Description = "Follow the new build or batch live until it ends; exit 0 only when every build succeeded." };
        var command = new Command("rerun",
            "Run an ended build or batch again as a new build or batch that names the original (rerunOf). A batch runs whole, or with --failed only its failed part.")
        {
            id, failed, wait,
        };
        connection.AddTo(command);
        command.SetAction((parse, cancellationToken) => connection.RunAsync(parse, io, "rerun", async client =>
        {
            var key = parse.GetValue(id)!;
            var failedOnly = parse.GetValue(failed);
            var json = connection.Json(parse);
            BuildRecord build;
            try
            {
                build = await client.RerunBuildAsync(key, failedOnly, null, cancellationToken);
            }
            catch (BuildFarmApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                return await RerunBatchAsync(client, key, failedOnly, parse.GetValue(wait), io, json, cancellationToken);
            }
            catch (BuildFarmApiException e) when (e.StatusCode == HttpStatusCode.Conflict)
            {
                await io.Error.WriteLineAsync($"buildfarm rerun: build '{key}' cannot be run again: {e.Problem.Detail ?? e.Message}");
                return ExitCodes.BuildsFailed;
            }
            if (parse.GetValue(wait))
            {
                return await Following.BuildAsync(client, build, io, json, cancellationToken);
            }
            if (json)
            {
                await io.Out.WriteLineAsync(JsonSerializer.Serialize(build, BuildFarmJson.Options));
            }
            else
            {
                await io.Out.WriteLineAsync($"build {build.BuildId} {build.State.ToWire()}: a re-run of {key}{StatusCommand.TenantNote(build.Tenant)}");
                await io.Out.WriteLineAsync($"follow it with: buildfarm watch {build.BuildId}");
            }
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static async Task<int> RerunBatchAsync(BuildFarmClient client, string key, bool failedOnly, bool wait, CliIO io, bool json, CancellationToken cancellationToken)
    {
        BatchStatus batch;
        try
        {
            batch = await client.RerunBatchAsync(key, failedOnly, null, cancellationToken);
        }
        catch (BuildFarmApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            await io.Error.WriteLineAsync($"buildfarm rerun: no build or batch '{key}'");
            return ExitCodes.NotFound;
        }
        catch (BuildFarmApiException e) when (e.StatusCode == HttpStatusCode.Conflict)
        {
            await io.Error.WriteLineAsync($"buildfarm rerun: batch '{key}' cannot be run again: {e.Problem.Detail ?? e.Message}");
            return ExitCodes.BuildsFailed;
        }
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
