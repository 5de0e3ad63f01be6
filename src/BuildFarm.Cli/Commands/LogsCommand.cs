using System.CommandLine;
using System.Net;
using BuildFarm.Client;

namespace BuildFarm.Cli.Commands;

/// <summary><c>buildfarm logs BUILD [--attempt N] [-f] [--timestamps] [--tail N]</c>: a build attempt's Kaniko log.</summary>
public static class LogsCommand
{
    public const int MaxAttempt = 1000;
    public const int MaxTail = 10_000;

    public static Command Create(CliIO io)
    {
        ArgumentNullException.ThrowIfNull(io);
        var connection = new ApiConnection();
        var id = new Argument<string>("BUILD") { Description = "The build id." };
        var attempt = new Option<int?>("--attempt") { Description = $"The attempt (1 to {MaxAttempt}; default: the latest)." };
        var follow = new Option<bool>("--follow", "-f") { Description = "Print lines as they come until the attempt ends." };
        var timestamps = new Option<bool>("--timestamps") { Description = "Keep each line's Kubernetes timestamp." };
        var tail = new Option<int?>("--tail") { Description = $"Only the last N lines (1 to {MaxTail})." };
        var command = new Command("logs",
            "Print a build attempt's Kaniko log, kept by the farm after its pod is gone (the latest attempt unless --attempt; -f follows a running one).")
        {
            id, attempt, follow, timestamps, tail,
        };
        connection.AddTo(command);
        command.SetAction((parse, cancellationToken) => connection.RunAsync(parse, io, "logs", async client =>
        {
            var build = parse.GetValue(id)!;
            var n = parse.GetValue(attempt);
            var last = parse.GetValue(tail);
            if (n is < 1 or > MaxAttempt)
            {
                await io.Error.WriteLineAsync($"buildfarm logs: --attempt must be from 1 to {MaxAttempt}, was {n}");
                return ExitCodes.Usage;
            }
            if (last is < 1 or > MaxTail)
            {
                await io.Error.WriteLineAsync($"buildfarm logs: --tail must be from 1 to {MaxTail}, was {last}");
                return ExitCodes.Usage;
            }
            try
            {
                if (parse.GetValue(follow))
                {
                    await foreach (var line in client.FollowBuildLogAsync(build, n, last, parse.GetValue(timestamps), cancellationToken))
                    {
                        await io.Out.WriteLineAsync(line);
                    }
                }
                else
                {
                    await io.Out.WriteAsync(await client.GetBuildLogAsync(build, n, last, parse.GetValue(timestamps), cancellationToken));
                }
            }
            catch (BuildFarmApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                await io.Error.WriteLineAsync($"buildfarm logs: {e.Problem.Detail ?? e.Message}");
                return ExitCodes.NotFound;
            }
            await io.Out.FlushAsync(cancellationToken);
            return ExitCodes.Ok;
        }));
        return command;
    }
}
