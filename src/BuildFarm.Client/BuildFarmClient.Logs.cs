using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace BuildFarm.Client;

/// <summary>Build logs: <c>GET /v1/builds/{id}/logs</c>.</summary>
public sealed partial class BuildFarmClient
{
    /// <summary>An attempt's log as text (the latest attempt when <paramref name="attempt"/> is null; its last
    /// <paramref name="tail"/> lines when given).</summary>
    public async Task<string> GetBuildLogAsync(string buildId, int? attempt = null, int? tail = null, bool timestamps = false,
        CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, LogPath(buildId, attempt, tail, timestamps, follow: false));
        Authorize(request);
        using var response = await _http.SendAsync(request, cancellationToken);
        await ThrowOnErrorAsync(response, cancellationToken);
        return await response.Content.ReadAsStringAsync(cancellationToken);
    }

    /// <summary>
    /// Follows an attempt's log: each line as it is stored, until the attempt ends (then the enumeration ends).
    /// Reconnects after a dropped connection from the last line received (Last-Event-ID), as the event streams do.
    /// </summary>
    public async IAsyncEnumerable<string> FollowBuildLogAsync(string buildId, int? attempt = null, int? tail = null, bool timestamps = false,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var path = LogPath(buildId, attempt, tail, timestamps, follow: true);
        string? lastEventId = null;
        var failures = 0;
        while (true)
        {
            // After a reconnect the offset (Last-Event-ID) says where to go on; tail applies only to the first request.
            var response = await OpenStreamAsync(lastEventId is null ? path : LogPath(buildId, attempt, null, timestamps, follow: true), lastEventId,
                cancellationToken);
            if (response is not null)
            {
                using (response)
                {
                    using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken), Encoding.UTF8);
                    while (await ReadEventAsync(reader, cancellationToken) is { } frame)
                    {
                        if (frame.Event is null)
                        {
                            continue;
                        }
                        failures = 0;
                        if (frame.Event == "end")
                        {
                            yield break;
                        }
                        if (frame.Id is not null)
                        {
                            lastEventId = frame.Id;
                        }
                        yield return frame.Data;
                    }
                }
            }
            failures++;
            if (failures > _options.MaxReconnects)
            {
                throw new BuildFarmApiException($"GET {path}: the log stream dropped {failures} times in a row without a line; giving up");
            }
            await Task.Delay(_options.ReconnectDelay, cancellationToken);
        }
    }

    private static string LogPath(string buildId, int? attempt, int? tail, bool timestamps, bool follow)
    {
        var query = new List<string>();
        if (attempt is { } a)
        {
            query.Add("attempt=" + a.ToString(CultureInfo.InvariantCulture));
        }
        if (tail is { } t)
        {
            query.Add("tail=" + t.ToString(CultureInfo.InvariantCulture));
        }
        if (timestamps)
        {
            query.Add("timestamps=true");
        }
        if (follow)
        {
            query.Add("follow=true");
        }
        return "v1/builds/" + Escape(buildId) + "/logs" + (query.Count == 0 ? "" : "?" + string.Join('&', query));
    }
}
