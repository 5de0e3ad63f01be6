using System.Net;
using System.Text.Json;
using BuildFarm.Coordination.Logs;
using BuildFarm.Status;
using Microsoft.Extensions.DependencyInjection;

namespace BuildFarm.Api.Tests;

/// <summary><c>GET /v1/builds/{id}/logs</c> over the log store the workers write (here the in-process one).</summary>
public sealed class LogTests
{
    private static readonly string[] Attempt2 =
    [
        "2026-12-05T10:00:01Z INFO[0000] Retrieving image manifest alpine:3.20",
        "2026-12-05T10:00:02Z INFO[0001] RUN make",
        "2026-12-05T10:00:03Z error building image: error building stage: failed to execute command: exit status 3",
    ];

    private static async Task<string> BuildWithLogsAsync(ApiFactory api, bool ended = true)
    {
        var build = await api.Client().SubmitBuildAsync(Samples.Build());
        await api.Store.UpdateBuildAsync(build.BuildId, r => new BuildChange(r with
        {
            State = ended ? BuildState.Failed : BuildState.Running,
            Attempts = [new AttemptRecord { Attempt = 1, Pod = "p1" }, new AttemptRecord { Attempt = 2, Pod = "p2" }],
            Version = r.Version + 1,
        }, "attempt"), CancellationToken.None);
        var logs = api.Services.GetRequiredService<IBuildLogStore>();
        await logs.AppendAsync(build.BuildId, 1, ["2026-12-05T09:59:00Z first attempt"], new BuildLogState(1, 40, null, 0, 0, 0, true), CancellationToken.None);
        await logs.AppendAsync(build.BuildId, 2, Attempt2, new BuildLogState(3, 200, null, 0, 0, 0, ended), CancellationToken.None);
        return build.BuildId;
    }

    [Fact]
    public async Task Log_LatestAttemptByDefault_PlainText_TimestampsOnRequest_AttemptOffsetTail()
    {
        await using var api = new ApiFactory();
        var id = await BuildWithLogsAsync(api);
        using var http = api.Http(ApiFactory.ReaderKey);

        using var latest = await http.GetAsync($"/v1/builds/{id}/logs");
        Assert.Equal(HttpStatusCode.OK, latest.StatusCode);
        Assert.Equal("text/plain", latest.Content.Headers.ContentType!.MediaType);
        Assert.Equal(string.Concat(Attempt2.Select(l => LogLines.WithoutTimestamp(l) + "\n")), await latest.Content.ReadAsStringAsync());
        Assert.Equal("3", latest.Headers.GetValues("BuildFarm-Log-Next-Offset").Single());
        Assert.Equal("true", latest.Headers.GetValues("BuildFarm-Log-Ended").Single());

        Assert.Equal("2026-12-05T09:59:00Z first attempt\n", await http.GetStringAsync($"/v1/builds/{id}/logs?attempt=1&timestamps=true"));
        Assert.Equal(LogLines.WithoutTimestamp(Attempt2[2]) + "\n", await http.GetStringAsync($"/v1/builds/{id}/logs?tail=1"));
        Assert.Equal(string.Concat(Attempt2.Skip(1).Select(l => l + "\n")), await http.GetStringAsync($"/v1/builds/{id}/logs?offset=1&timestamps=true"));
    }

    [Theory]
    [InlineData("attempt=0", "attempt")]
    [InlineData("attempt=1001", "attempt")]
    [InlineData("attempt=two", "attempt")]
    [InlineData("offset=-1", "offset")]
    [InlineData("tail=0", "tail")]
    [InlineData("tail=10001", "tail")]
    [InlineData("tail=2&offset=1", "tail")]
    [InlineData("timestamps=maybe", "timestamps")]
    [InlineData("follow=1", "follow")]
    public async Task Log_BadQuery_400NamingTheField(string query, string field)
    {
        await using var api = new ApiFactory();
        var id = await BuildWithLogsAsync(api);

        using var response = await api.Http().GetAsync($"/v1/builds/{id}/logs?{query}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty(field, out _), $"the problem names '{field}'");
    }

    [Fact]
    public async Task Log_UnknownBuild_AttemptWithoutLog_NoAttemptYet_404_BadId_400()
    {
        await using var api = new ApiFactory();
        var id = await BuildWithLogsAsync(api);
        var fresh = await api.Client().SubmitBuildAsync(Samples.Build("registry.example.com/team/other:1"));
        using var http = api.Http();

        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/v1/builds/build-000000000000/logs")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/v1/builds/{id}/logs?attempt=3")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/v1/builds/{fresh.BuildId}/logs")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync("/v1/builds/no%20such%20id/logs")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.Http(apiKey: null).GetAsync($"/v1/builds/{id}/logs")).StatusCode);
    }

    [Fact]
    public async Task Follow_StreamsLinesAsTheyAreStored_UntilTheAttemptEnds_ResumableByLastEventId()
    {
        await using var api = new ApiFactory();
        var id = await BuildWithLogsAsync(api, ended: false);
        var logs = api.Services.GetRequiredService<IBuildLogStore>();
        using var http = api.Http();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/builds/{id}/logs?follow=true");
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(deadline.Token));
        var events = new List<(string Event, string Id, string Data)>();
        async Task ReadEventAsync()
        {
            string? name = null, eventId = null, data = null;
            while (await reader.ReadLineAsync(deadline.Token) is { } line)
            {
                if (line.Length == 0 && name is not null)
                {
                    events.Add((name, eventId ?? "", data ?? ""));
                    return;
                }
                if (line.StartsWith("event: ", StringComparison.Ordinal)) { name = line[7..]; }
                else if (line.StartsWith("id: ", StringComparison.Ordinal)) { eventId = line[4..]; }
                else if (line.StartsWith("data: ", StringComparison.Ordinal)) { data = line[6..]; }
            }
            throw new EndOfStreamException("the stream ended");
        }

        for (var i = 0; i < 3; i++)
        {
            await ReadEventAsync();
        }
        // A line stored while the client follows, then the end of the attempt.
        await logs.AppendAsync(id, 2, ["2026-12-05T10:00:04Z later"], new BuildLogState(4, 230, null, 0, 0, 0, false), CancellationToken.None);
        await ReadEventAsync();
        await logs.AppendAsync(id, 2, [], new BuildLogState(4, 230, null, 0, 0, 0, true), CancellationToken.None);
        await ReadEventAsync();

        Assert.Equal([.. Attempt2.Select(LogLines.WithoutTimestamp), "later", "ended"], events.Select(e => e.Data));
        Assert.Equal(["1", "2", "3", "4", ""], events.Select(e => e.Id));
        Assert.Equal("end", events[^1].Event);
        Assert.Null(await reader.ReadLineAsync(deadline.Token));

        using var resume = new HttpRequestMessage(HttpMethod.Get, $"/v1/builds/{id}/logs?follow=true");
        resume.Headers.Add("Last-Event-ID", "3");
        using var resumed = await http.SendAsync(resume, deadline.Token);
        Assert.Equal("event: line\nid: 4\ndata: later\n\nevent: end\ndata: ended\n\n", await resumed.Content.ReadAsStringAsync(deadline.Token));
    }

    [Fact]
    public async Task Record_LinksEachAttemptToItsLog_AndTheLinkAnswersThatAttempt()
    {
        await using var api = new ApiFactory();
        var id = await BuildWithLogsAsync(api);
        using var http = api.Http(ApiFactory.ReaderKey);

        using var record = JsonDocument.Parse(await http.GetStringAsync($"/v1/builds/{id}"));
        var links = record.RootElement.GetProperty("attempts").EnumerateArray().Select(a => a.GetProperty("log").GetString()!).ToList();
        using var page = JsonDocument.Parse(await http.GetStringAsync("/v1/builds"));
        var listed = page.RootElement.GetProperty("items").EnumerateArray().Single(b => b.GetProperty("buildId").GetString() == id)
            .GetProperty("attempts").EnumerateArray().Select(a => a.GetProperty("log").GetString()!).ToList();

        Assert.Equal([$"/v1/builds/{id}/logs?attempt=1", $"/v1/builds/{id}/logs?attempt=2"], links);
        Assert.Equal(links, listed);
        Assert.Equal("first attempt\n", await http.GetStringAsync(links[0]));
        Assert.Equal(string.Concat(Attempt2.Select(l => LogLines.WithoutTimestamp(l) + "\n")), await http.GetStringAsync(links[1]));
        // The stored record keeps no link: it derives from the id.
        Assert.All((await api.Store.GetBuildAsync(id, CancellationToken.None))!.Attempts, a => Assert.Null(a.Log));
    }
}
