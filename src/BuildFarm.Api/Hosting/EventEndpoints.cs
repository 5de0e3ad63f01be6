using System.Globalization;
using BuildFarm.Api.Auth;
using BuildFarm.Api.Events;
using BuildFarm.Api.Metrics;
using BuildFarm.Api.OpenApi;
using BuildFarm.Status;
using static BuildFarm.Api.Hosting.RequestChecks;

namespace BuildFarm.Api.Hosting;

/// <summary>The Server-Sent Events routes: <c>/v1/builds/{id}/events</c> and <c>/v1/batches/{id}/events</c>.</summary>
internal static class EventEndpoints
{
    public const string EventStreamMediaType = "text/event-stream";

    public static void Map(RouteGroupBuilder v1)
    {
        var facts = new OperationFacts { Scope = ApiScopes.Read, EventStream = true, Problems = [400, .. OperationFacts.AuthProblems, 404] };
        v1.MapGet("/builds/{id}/events", StreamBuildAsync)
            .WithTags("Events").WithName("StreamBuildEvents").WithSummary("Server-Sent Events: the build's record, then each change, until it is final")
            .Produces<string>(StatusCodes.Status200OK, EventStreamMediaType)
            .Documented(facts);
        v1.MapGet("/batches/{id}/events", StreamBatchAsync)
            .WithTags("Events").WithName("StreamBatchEvents").WithSummary("Server-Sent Events: the batch's records, then each change, until all are final")
            .Produces<string>(StatusCodes.Status200OK, EventStreamMediaType)
            .Documented(facts);
    }

    private static async Task<IResult> StreamBuildAsync(
        string id, HttpContext context, IBuildStatusStore store, EventStreams streams, ApiMetrics metrics, CancellationToken cancellationToken) =>
        await StreamUnlessRefusedAsync((await LookUpBuildAsync(id, context, store, metrics, cancellationToken)).Refusal,
            () => streams.StreamBuildAsync(context, Caller(context), id, LastEventId(context), cancellationToken));

    private static async Task<IResult> StreamBatchAsync(
        string id, HttpContext context, IBuildStatusStore store, EventStreams streams, ApiMetrics metrics, CancellationToken cancellationToken) =>
        await StreamUnlessRefusedAsync((await LookUpBatchAsync(id, context, store, metrics, cancellationToken)).Refusal,
            () => streams.StreamBatchAsync(context, Caller(context), id, LastEventId(context), cancellationToken));

    /// <summary>The lookup's refusal (400, 404), else the stream run until the client goes away.</summary>
    private static async Task<IResult> StreamUnlessRefusedAsync(IResult? refusal, Func<Task> stream)
    {
        if (refusal is not null)
        {
            return refusal;
        }
        await RunStreamAsync(stream);
        return Results.Empty;
    }

    public static async Task RunStreamAsync(Func<Task> stream)
    {
        try
        {
            await stream();
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // the client went away
        }
    }

    public static long? LastEventId(HttpContext context) =>
        long.TryParse(context.Request.Headers["Last-Event-ID"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : null;
}
