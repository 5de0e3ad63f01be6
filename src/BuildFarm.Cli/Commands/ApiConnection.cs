using System.CommandLine;
using System.Net;
using System.Text.Json;
using BuildFarm.Client;

namespace BuildFarm.Cli.Commands;

/// <summary>Exit codes of the commands that talk to the API (docs/cli.md).</summary>
public static class ExitCodes
{
    /// <summary>Done; with <c>--wait</c>/<c>watch</c>: every build succeeded.</summary>
    public const int Ok = 0;

    /// <summary>With <c>--wait</c>/<c>watch</c>: some build failed or was cancelled; <c>cancel</c>: the build had already ended.</summary>
    public const int BuildsFailed = 1;

    /// <summary>Bad command line or input the API rejected (400, 413, 422).</summary>
    public const int Usage = BuildFarmCli.UsageError;

    /// <summary>The API could not be reached, refused the key (401, 403), or failed (5xx, 503 broker down).</summary>
    public const int ApiUnavailable = 3;

    /// <summary>No build or batch with that id (404).</summary>
    public const int NotFound = 4;

    /// <summary>Interrupted (Ctrl+C) while following builds.</summary>
    public const int Interrupted = 130;
}

/// <summary>
/// The options every API command shares (<c>--api</c>, <c>--api-key</c>, <c>--output</c>; the first two also from
/// <c>BUILDFARM_API</c> and <c>BUILDFARM_API_KEY</c>) and the mapping of API errors to exit codes and messages.
/// </summary>
public sealed class ApiConnection
{
    public const string ApiEnvironmentVariable = "BUILDFARM_API";
    public const string ApiKeyEnvironmentVariable = "BUILDFARM_API_KEY";
    public const string DefaultApi = "http://127.0.0.1:8080/";

    public ApiConnection()
    {
        Api = new Option<string?>("--api") { Description = $"API base URL (default: ${ApiEnvironmentVariable}, else {DefaultApi})." };
        ApiKey = new Option<string?>("--api-key") { Description = $"API key, sent as a bearer token (default: ${ApiKeyEnvironmentVariable})." };
        Output = new Option<string>("--output", "-o") { Description = "text (a table, live progress on a terminal) or json (machine output, no ANSI).", DefaultValueFactory = _ => "text" };
        Output.AcceptOnlyFromAmong("text", "json");
    }

    public Option<string?> Api { get; }
    public Option<string?> ApiKey { get; }
    public Option<string> Output { get; }

    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        command.Options.Add(Api);
        command.Options.Add(ApiKey);
        command.Options.Add(Output);
    }

    public bool Json(ParseResult parse) => parse.GetValue(Output) == "json";

    /// <summary>The API base URL from the option, the environment or the default; null with <paramref name="error"/> when it is not a URL.</summary>
    public Uri? BaseAddress(ParseResult parse, out string? error)
    {
        var text = parse.GetValue(Api);
        if (string.IsNullOrWhiteSpace(text))
        {
            text = Environment.GetEnvironmentVariable(ApiEnvironmentVariable);
        }
        if (string.IsNullOrWhiteSpace(text))
        {
            text = DefaultApi;
        }
        if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            error = $"--api: '{text}' is not an http(s) URL";
            return null;
        }
        error = null;
        return uri.AbsoluteUri.EndsWith('/') ? uri : new Uri(uri.AbsoluteUri + "/");
    }

    public string? Key(ParseResult parse)
    {
        var key = parse.GetValue(ApiKey);
        return string.IsNullOrEmpty(key) ? Environment.GetEnvironmentVariable(ApiKeyEnvironmentVariable) : key;
    }

    /// <summary>Runs <paramref name="action"/> with a client; API errors become an exit code and a message on stderr.</summary>
    public async Task<int> RunAsync(ParseResult parse, CliIO io, string command, Func<BuildFarmClient, Task<int>> action)
    {
        ArgumentNullException.ThrowIfNull(parse);
        ArgumentNullException.ThrowIfNull(io);
        ArgumentNullException.ThrowIfNull(action);
        var baseAddress = BaseAddress(parse, out var error);
        if (baseAddress is null)
        {
            await io.Error.WriteLineAsync($"buildfarm {command}: {error}");
            return ExitCodes.Usage;
        }
        using var http = new HttpClient { BaseAddress = baseAddress, Timeout = Timeout.InfiniteTimeSpan };
        var client = new BuildFarmClient(http, Key(parse));
        try
        {
            return await action(client);
        }
        catch (Exception e) when (ToExit(e, baseAddress) is { } failure)
        {
            await io.Error.WriteLineAsync($"buildfarm {command}: {failure.Message}");
            return failure.Code;
        }
    }

    /// <summary>The exit code and message for an error talking to the API; null for other exceptions.</summary>
    public static (int Code, string Message)? ToExit(Exception e, Uri api)
    {
        ArgumentNullException.ThrowIfNull(e);
        return e switch
        {
            BuildFarmApiException { StatusCode: HttpStatusCode.NotFound } a => (ExitCodes.NotFound, a.Message),
            BuildFarmApiException { StatusCode: HttpStatusCode.Unauthorized } a =>
                (ExitCodes.ApiUnavailable, $"{a.Message} (give a key with --api-key or ${ApiKeyEnvironmentVariable})"),
            BuildFarmApiException { StatusCode: HttpStatusCode.Forbidden } a => (ExitCodes.ApiUnavailable, $"{a.Message} (the key lacks the scope)"),
            BuildFarmApiException { StatusCode: HttpStatusCode.BadRequest or HttpStatusCode.RequestEntityTooLarge or HttpStatusCode.UnprocessableEntity
                or HttpStatusCode.UnsupportedMediaType } a => (ExitCodes.Usage, a.Message),
            BuildFarmApiException { StatusCode: HttpStatusCode.Conflict } a => (ExitCodes.BuildsFailed, a.Message),
            BuildFarmApiException a => (ExitCodes.ApiUnavailable, a.Message + (a.RetryAfter is { } r ? $" (retry after {r.TotalSeconds:0}s)" : "")),
            HttpRequestException h => (ExitCodes.ApiUnavailable, $"cannot reach the API at {api}: {h.Message}"),
            JsonException j => (ExitCodes.ApiUnavailable, $"the API at {api} answered something that is not the BuildFarm API: {j.Message}"),
            _ => null,
        };
    }
}
