using System.CommandLine;
using System.Net;
using System.Text.Json;
using BuildFarm.Client;

namespace BuildFarm.Cli.Commands;

/// <summary>What the handler of an id command is given: the client, the id, whether to print JSON, the parsed line and the console.</summary>
internal sealed record IdRequest(BuildFarmClient Client, string Key, bool Json, ParseResult Parse, CliIO Io, CancellationToken CancellationToken);

/// <summary>
/// The shape <c>status</c>, <c>cancel</c>, <c>rerun</c> and <c>watch</c> share: one <c>ID</c> argument, the command's own
/// options, the API connection options, and a handler run with a client (API errors become exit codes, see
/// <see cref="ApiConnection.RunAsync"/>); plus the small steps their handlers repeat.
/// </summary>
internal static class IdCommand
{
    public static Command Create(CliIO io, string name, string description, string idDescription, Func<IdRequest, Task<int>> handler, params Option[] options)
    {
        ArgumentNullException.ThrowIfNull(io);
        ArgumentNullException.ThrowIfNull(handler);
        var connection = new ApiConnection();
        var id = new Argument<string>("ID") { Description = idDescription };
        var command = new Command(name, description) { id };
        foreach (var option in options)
        {
            command.Options.Add(option);
        }
        connection.AddTo(command);
        command.SetAction((parse, cancellationToken) => connection.RunAsync(parse, io, name, client =>
            handler(new IdRequest(client, parse.GetValue(id)!, connection.Json(parse), parse, io, cancellationToken))));
        return command;
    }

    /// <summary>The API's answer, or null when it answered 404 (the id may name the other kind: a build or a batch).</summary>
    public static async Task<T?> UnlessNotFoundAsync<T>(Task<T> call) where T : class
    {
        ArgumentNullException.ThrowIfNull(call);
        try
        {
            return await call;
        }
        catch (BuildFarmApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>
    /// The id as a build (<paramref name="build"/>), else, when that answers 404, as a batch: 404 for both says the id
    /// names nothing (exit 4); a 409 from either says on stderr why it was refused (<paramref name="refused"/> of the
    /// problem's detail; exit 1), or, without <paramref name="refused"/>, is an API error like any other.
    /// </summary>
    public static async Task<int> BuildOrBatchAsync(IdRequest request, Func<string, string>? refused,
        Func<Task<BuildRecord>> build, Func<BuildRecord, Task<int>> onBuild, Func<Task<BatchStatus>> batch, Func<BatchStatus, Task<int>> onBatch)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(onBuild);
        ArgumentNullException.ThrowIfNull(onBatch);
        var command = request.Parse.CommandResult.Command.Name;
        var (asBuild, buildRefused) = await UnlessRefusedAsync(request, command, "build", refused, build);
        if (buildRefused || asBuild is not null)
        {
            return asBuild is null ? ExitCodes.BuildsFailed : await onBuild(asBuild);
        }
        var (asBatch, batchRefused) = await UnlessRefusedAsync(request, command, "batch", refused, batch);
        if (batchRefused || asBatch is not null)
        {
            return asBatch is null ? ExitCodes.BuildsFailed : await onBatch(asBatch);
        }
        return await NotFoundAsync(request.Io, command, request.Key);
    }

    private static async Task<(T? Value, bool Refused)> UnlessRefusedAsync<T>(IdRequest request, string command, string kind, Func<string, string>? refused, Func<Task<T>> call)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(call);
        try
        {
            return (await UnlessNotFoundAsync(call()), false);
        }
        catch (BuildFarmApiException e) when (e.StatusCode == HttpStatusCode.Conflict && refused is not null)
        {
            await request.Io.Error.WriteLineAsync($"buildfarm {command}: {kind} '{request.Key}' {refused(e.Problem.Detail ?? e.Message)}");
            return (null, true);
        }
    }

    /// <summary>Says on stderr that the id names nothing; the exit code for it.</summary>
    public static async Task<int> NotFoundAsync(CliIO io, string command, string key, string kinds = "build or batch")
    {
        ArgumentNullException.ThrowIfNull(io);
        await io.Error.WriteLineAsync($"buildfarm {command}: no {kinds} '{key}'");
        return ExitCodes.NotFound;
    }

    /// <summary>Prints <paramref name="value"/> as one line of JSON with <c>--output json</c>, else runs <paramref name="text"/>.</summary>
    public static async Task PrintAsync<T>(CliIO io, bool json, T value, Func<Task> text)
    {
        ArgumentNullException.ThrowIfNull(io);
        ArgumentNullException.ThrowIfNull(text);
        if (json)
        {
            await io.Out.WriteLineAsync(JsonSerializer.Serialize(value, BuildFarmJson.Options));
        }
        else
        {
            await text();
        }
    }
}
