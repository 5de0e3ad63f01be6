using System.CommandLine;

namespace BuildFarm.Cli.Commands;

/// <summary><c>buildfarm watch ID</c>: follow a batch (or one build) live until it ends.</summary>
public static class WatchCommand
{
    public static Command Create(CliIO io) => IdCommand.Create(io, "watch",
        "Follow a batch live (a line per image: state, attempt, elapsed, resets) until every build ended; exit 0 only when all succeeded.",
        "A batch id (or a build id).", WatchAsync);

    private static async Task<int> WatchAsync(IdRequest request)
    {
        var (client, key, json, _, io, cancellationToken) = request;
        if (await IdCommand.UnlessNotFoundAsync(client.GetBatchAsync(key, cancellationToken)) is { } batch)
        {
            return await Following.BatchAsync(client, batch, io, json, cancellationToken);
        }
        if (await IdCommand.UnlessNotFoundAsync(client.GetBuildAsync(key, cancellationToken)) is { } build)
        {
            return await Following.BuildAsync(client, build, io, json, cancellationToken);
        }
        return await IdCommand.NotFoundAsync(io, "watch", key, "batch or build");
    }
}
