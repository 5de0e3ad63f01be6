using System.Globalization;
using System.Text;
using BuildFarm.Api.Auth;
using BuildFarm.Api.Metrics;
using BuildFarm.Api.OpenApi;
using BuildFarm.Api.Options;
using BuildFarm.Coordination.Logs;
using BuildFarm.Status;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using static BuildFarm.Api.Hosting.RequestChecks;

namespace BuildFarm.Api.Hosting;

/// <summary><c>GET /v1/builds/{id}/logs</c>: an attempt's Kaniko log from the log store (docs/api.md "Logs").</summary>
internal static class LogEndpoints
{
    /// <summary>Response header: the offset (line index) to read from next.</summary>
    public const string LogNextOffsetHeader = "BuildFarm-Log-Next-Offset";

    /// <summary>Response header: whether the attempt ended (no line will be added).</summary>
    public const string LogEndedHeader = "BuildFarm-Log-Ended";

    /// <summary>The most lines <c>tail</c> asks for.</summary>
    public const int MaxLogTail = 10_000;

    private static readonly TimeSpan LogPollInterval = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan LogRecordCheckInterval = TimeSpan.FromSeconds(2);

    public const string TextMediaType = "text/plain";

    public const string OperationId = "GetBuildLog";

    public static void Map(RouteGroupBuilder v1) =>
        v1.MapGet("/builds/{id}/logs", GetBuildLogAsync)
            .WithTags("Logs").WithName(OperationId)
            .WithSummary("An attempt's Kaniko log as text/plain (query attempt, offset, tail, timestamps); follow=true streams it as Server-Sent Events until the attempt ends")
            .Produces<string>(StatusCodes.Status200OK, TextMediaType, EventEndpoints.EventStreamMediaType)
            .Documented(new OperationFacts { Scope = ApiScopes.Read, Problems = [400, .. OperationFacts.AuthProblems, 404] });

    private static async Task<IResult> GetBuildLogAsync(
        string id, HttpContext context, IBuildStatusStore store, IBuildLogStore logs, IOptions<ApiOptions> options, ApiMetrics metrics, TimeProvider time,
        CancellationToken cancellationToken,
        string? attempt = null, string? offset = null, string? tail = null, string? timestamps = null, string? follow = null)
    {
        var (record, refusal) = await LookUpBuildAsync(id, context, store, metrics, cancellationToken);
        if (record is null)
        {
            return refusal!;
        }
        var errors = new Dictionary<string, List<string>>();
        var latest = record.Attempts.Count == 0 ? 0 : record.Attempts.Max(a => a.Attempt);
        var attemptNumber = latest;
        if (attempt is not null && (!int.TryParse(attempt, NumberStyles.None, CultureInfo.InvariantCulture, out attemptNumber) || attemptNumber < 1
            || attemptNumber > BuildLogArguments.MaxAttempt))
        {
            errors["attempt"] = [$"'{attempt}' must be a whole number from 1 to {BuildLogArguments.MaxAttempt}"];
        }
        long from = 0;
        if (offset is not null && !long.TryParse(offset, NumberStyles.None, CultureInfo.InvariantCulture, out from))
        {
            errors["offset"] = [$"'{offset}' must be a whole number from 0 to {long.MaxValue}"];
        }
        int? tailLines = null;
        if (tail is not null)
        {
            if (!int.TryParse(tail, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1 || n > MaxLogTail)
            {
                errors["tail"] = [$"'{tail}' must be a whole number from 1 to {MaxLogTail}"];
            }
            tailLines = n;
        }
        if (offset is not null && tail is not null)
        {
            errors["tail"] = ["give offset or tail, not both"];
        }
        var withTimestamps = Flag(timestamps, "timestamps", errors);
        var following = Flag(follow, "follow", errors);
        if (errors.Count > 0)
        {
            return ValidationFailed(errors, metrics);
        }
        if (attemptNumber == 0)
        {
            return Problem(StatusCodes.Status404NotFound, "No log yet", $"build '{id}' has not started an attempt yet");
        }
        if (following)
        {
            // Resumable: Last-Event-ID is the offset after the last line received.
            var resume = EventEndpoints.LastEventId(context) ?? from;
            await EventEndpoints.RunStreamAsync(() => FollowLogAsync(context, store, logs, options.Value, time, id, attemptNumber, resume, tailLines, withTimestamps, cancellationToken));
            return Results.Empty;
        }
        var first = await logs.ReadAsync(id, attemptNumber, 0, 1, cancellationToken);
        if (first.State is not { } state)
        {
            return Problem(StatusCodes.Status404NotFound, "No log",
                $"build '{id}' has no log for attempt {attemptNumber.ToString(CultureInfo.InvariantCulture)} (its pod never started, log storage is off, or the log expired)");
        }
        if (tailLines is { } t)
        {
            from = Math.Max(0, state.Lines - t);
        }
        var text = new StringBuilder();
        var next = from;
        while (true)
        {
            var page = await logs.ReadAsync(id, attemptNumber, next, BuildLogArguments.MaxReadLines, cancellationToken);
            foreach (var line in page.Lines)
            {
                text.Append(withTimestamps ? line : LogLines.WithoutTimestamp(line)).Append('\n');
            }
            next = page.Next;
            state = page.State ?? state;
            if (page.Lines.Count < BuildLogArguments.MaxReadLines)
            {
                break;
            }
        }
        context.Response.Headers[LogNextOffsetHeader] = next.ToString(CultureInfo.InvariantCulture);
        context.Response.Headers[LogEndedHeader] = state.Ended ? "true" : "false";
        return Results.Text(text.ToString(), "text/plain; charset=utf-8", Encoding.UTF8);
    }

    private static bool Flag(string? value, string name, Dictionary<string, List<string>> errors)
    {
        if (value is null)
        {
            return false;
        }
        if (bool.TryParse(value, out var flag))
        {
            return flag;
        }
        errors[name] = [$"'{value}' must be true or false"];
        return false;
    }

    /// <summary>
    /// Server-Sent Events: a <c>line</c> event per line (its id the offset after it: send it back as Last-Event-ID to
    /// resume), then one <c>end</c> event (data <c>ended</c>, or <c>incomplete</c> when the build ended without its log
    /// ending: a worker stopped mid-attempt and nobody resumed it).
    /// </summary>
    private static async Task FollowLogAsync(HttpContext context, IBuildStatusStore store, IBuildLogStore logs, ApiOptions options, TimeProvider time,
        string id, int attempt, long from, int? tail, bool timestamps, CancellationToken cancellationToken)
    {
        var response = context.Response;
        response.ContentType = EventEndpoints.EventStreamMediaType;
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await response.Body.FlushAsync(cancellationToken);
        var next = from;
        var tailApplied = tail is null;
        var lastWrite = time.GetUtcNow();
        var lastRecordCheck = time.GetUtcNow();
        var buildEnded = false;
        while (true)
        {
            var page = await logs.ReadAsync(id, attempt, next, BuildLogArguments.MaxReadLines, cancellationToken);
            if (!tailApplied && page.State is { } tailState)
            {
                tailApplied = true;
                next = Math.Max(next, tailState.Lines - tail!.Value);
                continue;
            }
            if (page.Lines.Count > 0)
            {
                var text = new StringBuilder();
                var at = page.Offset;
                foreach (var line in page.Lines)
                {
                    at++;
                    text.Append("event: line\nid: ").Append(at.ToString(CultureInfo.InvariantCulture)).Append("\ndata: ")
                        .Append(timestamps ? line : LogLines.WithoutTimestamp(line)).Append("\n\n");
                }
                await response.WriteAsync(text.ToString(), cancellationToken);
                await response.Body.FlushAsync(cancellationToken);
                next = page.Next;
                lastWrite = time.GetUtcNow();
                if (page.Lines.Count == BuildLogArguments.MaxReadLines)
                {
                    continue;
                }
            }
            if (page.State is { Ended: true } && page.Lines.Count == 0)
            {
                await response.WriteAsync("event: end\ndata: ended\n\n", cancellationToken);
                return;
            }
            if (buildEnded && page.Lines.Count == 0)
            {
                // The build is final and nothing came since: its log will not end by itself.
                await response.WriteAsync("event: end\ndata: incomplete\n\n", cancellationToken);
                return;
            }
            var now = time.GetUtcNow();
            if (now - lastRecordCheck >= LogRecordCheckInterval)
            {
                lastRecordCheck = now;
                buildEnded = await store.GetBuildAsync(id, cancellationToken) is not { } record || (record.State.IsFinal()
                    && (page.State is null || record.Attempts.Count == 0 || record.Attempts.Max(a => a.Attempt) >= attempt));
            }
            if (now - lastWrite >= options.SseHeartbeat)
            {
                await response.WriteAsync(": heartbeat\n\n", cancellationToken);
                await response.Body.FlushAsync(cancellationToken);
                lastWrite = now;
            }
            await Task.Delay(LogPollInterval, time, cancellationToken);
        }
    }
}
