using System.CommandLine;
using System.Net;
using System.Text.Json;
using BuildFarm.Client;

namespace BuildFarm.Cli.Commands;

/// <summary><c>buildfarm cancel ID</c>: asks the farm to cancel a build, or every build of a batch that has not ended.</summary>
public static class CancelCommand
{
    public static Command Create(CliIO io)
    {
        ArgumentNullException.ThrowIfNull(io);
        var connection = new ApiConnection();
        var id = new Argument<string>("ID") { Description = "The build or batch id." };
        var command = new Command("cancel",
            "Cancel a build: its pod is deleted and it ends as cancelled (a waiting batch image ends without building). A batch id cancels each of its builds that has not ended.") { id };
        connection.AddTo(command);
        command.SetAction((parse, cancellationToken) => connection.RunAsync(parse, io, "cancel", async client =>
        {
            var key = parse.GetValue(id)!;
            BuildRecord build;
            try
            {
                build = await client.CancelBuildAsync(key, cancellationToken);
            }
            catch (BuildFarmApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                return await CancelBatchAsync(client, key, io, connection.Json(parse), cancellationToken);
            }
            catch (BuildFarmApiException e) when (e.StatusCode == HttpStatusCode.Conflict)
            {
                await io.Error.WriteLineAsync($"buildfarm cancel: build '{key}' has already ended ({e.Problem.Detail ?? e.Message})");
                return ExitCodes.BuildsFailed;
            }
            if (connection.Json(parse))
            {
                await io.Out.WriteLineAsync(JsonSerializer.Serialize(build, BuildFarmJson.Options));
            }
            else
            {
                await io.Out.WriteLineAsync(build.State == BuildState.Cancelled
                    ? $"build {build.BuildId} cancelled"
                    : $"build {build.BuildId}: cancel requested (now {build.State.ToWire()}); 'buildfarm status {build.BuildId}' shows when it has ended");
            }
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static async Task<int> CancelBatchAsync(BuildFarmClient client, string key, CliIO io, bool json, CancellationToken cancellationToken)
    {
        BatchStatus batch;
        try
        {
            batch = await client.CancelBatchAsync(key, cancellationToken);
        }
        catch (BuildFarmApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            await io.Error.WriteLineAsync($"buildfarm cancel: no build or batch '{key}'");
            return ExitCodes.NotFound;
        }
        catch (BuildFarmApiException e) when (e.StatusCode == HttpStatusCode.Conflict)
        {
            await io.Error.WriteLineAsync($"buildfarm cancel: batch '{key}' has already ended ({e.Problem.Detail ?? e.Message})");
            return ExitCodes.BuildsFailed;
        }
        if (json)
        {
            await io.Out.WriteLineAsync(JsonSerializer.Serialize(batch, BuildFarmJson.Options));
        }
        else
        {
            var open = batch.Images.Count(i => !i.State.IsFinal());
            await io.Out.WriteLineAsync($"batch {batch.BatchId}{StatusCommand.TenantNote(batch.Tenant)}: cancel requested for {open} build(s) that had not ended; 'buildfarm status {batch.BatchId}' shows when they have");
        }
        return ExitCodes.Ok;
    }
}
