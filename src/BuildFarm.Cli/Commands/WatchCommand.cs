using System.CommandLine;
using System.Net;
using BuildFarm.Client;

namespace BuildFarm.Cli.Commands;

/// <summary><c>buildfarm watch ID</c>: follow a batch (or one build) live until it ends.</summary>
public static class WatchCommand
{
    public static Command Create(CliIO io)
    {
        ArgumentNullException.ThrowIfNull(io);
        var connection = new ApiConnection();
        var id = new Argument<string>("ID") { Description = "A batch id (or a build id)." };
        var command = new Command("watch", "Follow a batch live (a line per image: state, attempt, elapsed, resets) until every build ended; exit 0 only when all succeeded.") { id };
        connection.AddTo(command);
        command.SetAction((parse, cancellationToken) => connection.RunAsync(parse, io, "watch", async client =>
        {
            var key = parse.GetValue(id)!;
            var json = connection.Json(parse);
            try
            {
                var batch = await client.GetBatchAsync(key, cancellationToken);
                return await Following.BatchAsync(client, batch, io, json, cancellationToken);
            }
            catch (BuildFarmApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                // Not a batch: try a build.
            }
            try
            {
                var build = await client.GetBuildAsync(key, cancellationToken);
                return await Following.BuildAsync(client, build, io, json, cancellationToken);
            }
            catch (BuildFarmApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                await io.Error.WriteLineAsync($"buildfarm watch: no batch or build '{key}'");
                return ExitCodes.NotFound;
            }
        }));
        return command;
    }
}
