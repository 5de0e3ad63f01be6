using System.Globalization;
using System.Text;
using BuildFarm.ClusterSim.Kubelet;
using Microsoft.AspNetCore.Http;

namespace BuildFarm.ClusterSim.Api;

// A pod's log: whole, tailed, or followed while the container runs.
public sealed partial class SimApiServer
{
    private async Task LogAsync(HttpContext context, string ns, string name)
    {
        var query = context.Request.Query;
        var pod = _store.GetPod(ns, name) ?? throw SimApiException.NotFound("pods", name);
        var names = pod.Spec.Containers.Select(c => c.Name).ToList();
        var container = query["container"].ToString();
        if (string.IsNullOrEmpty(container))
        {
            if (names.Count != 1)
            {
                throw SimApiException.BadRequest($"a container name must be specified for pod {name}, choose one of: [{string.Join(' ', names)}]");
            }
            container = names[0];
        }
        else if (!names.Contains(container))
        {
            throw SimApiException.BadRequest($"container {container} is not valid for pod {name}");
        }
        if (IsTrue(query["previous"]))
        {
            throw SimApiException.BadRequest($"previous terminated container \"{container}\" in pod \"{name}\" not found");
        }
        var log = _kubelet.Log(pod.Metadata.Uid, container);
        if (log is null)
        {
            var reason = pod.Status?.ContainerStatuses?.FirstOrDefault(c => c.Name == container)?.State?.Waiting?.Reason ?? "ContainerCreating";
            throw SimApiException.BadRequest($"container \"{container}\" in pod \"{name}\" is waiting to start: {reason}");
        }
        var follow = IsTrue(query["follow"]);
        var timestamps = IsTrue(query["timestamps"]);
        int? tail = int.TryParse(query["tailLines"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var t) && t >= 0 ? t : null;
        long? limitBytes = long.TryParse(query["limitBytes"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var lb) && lb > 0 ? lb : null;
        DateTimeOffset? since = null;
        if (long.TryParse(query["sinceSeconds"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var ss))
        {
            if (ss < 1)
            {
                throw SimApiException.BadRequest("sinceSeconds: Invalid value: must be greater than 0");
            }
            since = _clock.Now.AddSeconds(-ss);
        }
        else if (DateTimeOffset.TryParse(query["sinceTime"], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var st))
        {
            since = st;
        }
        var api = _scenario().Api;
        var dropAt = follow && api.DropLogRate > 0 && NextDouble() < api.DropLogRate
            ? DateTimeOffset.UtcNow.AddMilliseconds(api.DropAfterMilliseconds) : DateTimeOffset.MaxValue;

        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/plain";
        await context.Response.StartAsync(context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
        var (lines, ended, changed) = log.Read(0);
        var index = lines.Length;
        IEnumerable<LogLine> initial = lines;
        if (since is { } sinceTime)
        {
            initial = initial.Where(l => l.Time >= sinceTime);
        }
        if (tail is { } tailLines)
        {
            var list = initial.ToList();
            initial = list.Skip(Math.Max(0, list.Count - tailLines));
        }
        long written = 0;
        async Task<bool> WriteAsync(IEnumerable<LogLine> batch)
        {
            var sb = new StringBuilder();
            foreach (var line in batch)
            {
                if (timestamps)
                {
                    sb.Append(line.Time.UtcDateTime.ToString(RfcNanoFixed, CultureInfo.InvariantCulture)).Append(' ');
                }
                sb.Append(line.Text).Append('\n');
            }
            if (sb.Length == 0)
            {
                return true;
            }
            var bytes = Encoding.UTF8.GetBytes(sb.ToString());
            var count = bytes.Length;
            var full = false;
            if (limitBytes is { } max && written + count >= max)
            {
                count = (int)(max - written);
                full = true;
            }
            await context.Response.Body.WriteAsync(bytes.AsMemory(0, count), context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
            written += count;
            return !full;
        }
        if (!await WriteAsync(initial) || !follow)
        {
            return;
        }
        while (!ended)
        {
            var wait = dropAt - DateTimeOffset.UtcNow;
            if (wait <= TimeSpan.Zero)
            {
                context.Abort();
                return;
            }
            using var waitCts = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token);
            await changed.WaitAsync(wait < TimeSpan.FromDays(1) ? wait : Timeout.InfiniteTimeSpan, waitCts.Token)
                .ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            context.RequestAborted.ThrowIfCancellationRequested();
            if (_stopping.IsCancellationRequested)
            {
                return;
            }
            (lines, ended, changed) = log.Read(index);
            index += lines.Length;
            if (!await WriteAsync(lines))
            {
                return;
            }
        }
    }
}
