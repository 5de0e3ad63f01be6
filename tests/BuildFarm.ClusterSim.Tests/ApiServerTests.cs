using System.Net;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace BuildFarm.ClusterSim.Tests;

/// <summary>The official KubernetesClient against the simulator, for every verb.</summary>
public sealed class ApiServerTests
{
    private static async Task<HttpOperationException> FailsAsync(Func<Task> call) => await Assert.ThrowsAsync<HttpOperationException>(call);

    private static JsonElement Status(HttpOperationException e) => JsonDocument.Parse(e.Response.Content).RootElement;

    [Fact]
    public async Task Create_NewPod_Returns201WithDefaults()
    {
        await using var sim = await Sim.StartAsync();
        using var client = Sim.Client(sim);
        var response = await client.CoreV1.CreateNamespacedPodWithHttpMessagesAsync(Sim.KanikoPod("create-me"), "default");
        Assert.Equal(HttpStatusCode.Created, response.Response.StatusCode);
        var pod = response.Body;
        Assert.False(string.IsNullOrEmpty(pod.Metadata.Uid));
        Assert.False(string.IsNullOrEmpty(pod.Metadata.ResourceVersion));
        Assert.Equal("default", pod.Metadata.NamespaceProperty);
        Assert.Equal("Pending", pod.Status.Phase);
        Assert.Equal("File", pod.Spec.Containers[0].TerminationMessagePolicy);
    }

    [Fact]
    public async Task Create_SameNameTwice_Is409AlreadyExists()
    {
        await using var sim = await Sim.StartAsync();
        using var client = Sim.Client(sim);
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("twice"), "default");
        var e = await FailsAsync(() => client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("twice"), "default"));
        Assert.Equal(HttpStatusCode.Conflict, e.Response.StatusCode);
        Assert.Equal("AlreadyExists", Status(e).GetProperty("reason").GetString());
        Assert.Equal("pods \"twice\" already exists", Status(e).GetProperty("message").GetString());
    }

    [Fact]
    public async Task Create_BadNameOrNoContainers_Is422InvalidWithCauses()
    {
        await using var sim = await Sim.StartAsync();
        using var client = Sim.Client(sim);
        var e = await FailsAsync(() => client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("Bad_Name"), "default"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, e.Response.StatusCode);
        var status = Status(e);
        Assert.Equal("Invalid", status.GetProperty("reason").GetString());
        Assert.Equal(422, status.GetProperty("code").GetInt32());
        Assert.StartsWith("Pod \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain", status.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal("metadata.name", status.GetProperty("details").GetProperty("causes")[0].GetProperty("field").GetString());

        var empty = new V1Pod { Metadata = new V1ObjectMeta { Name = "empty" }, Spec = new V1PodSpec { Containers = [] } };
        var e2 = await FailsAsync(() => client.CoreV1.CreateNamespacedPodAsync(empty, "default"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, e2.Response.StatusCode);
        Assert.Contains("spec.containers: Required value", Status(e2).GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_MissingPod_Is404NotFound()
    {
        await using var sim = await Sim.StartAsync();
        using var client = Sim.Client(sim);
        var e = await FailsAsync(() => client.CoreV1.ReadNamespacedPodAsync("nope", "default"));
        Assert.Equal(HttpStatusCode.NotFound, e.Response.StatusCode);
        Assert.Equal("NotFound", Status(e).GetProperty("reason").GetString());
        Assert.Equal("pods \"nope\" not found", Status(e).GetProperty("message").GetString());
    }

    [Fact]
    public async Task List_WithSelectorsAndPaging_ReturnsMatchingPagesInOrder()
    {
        await using var sim = await Sim.StartAsync(Sim.Fast("capacity: { nodes: 1, podsPerNode: 1 }\ntimeScale: 1"));
        using var client = Sim.Client(sim);
        for (var i = 0; i < 5; i++)
        {
            var labels = new Dictionary<string, string> { ["app"] = "buildfarm", ["tier"] = i % 2 == 0 ? "even" : "odd" };
            await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod($"pod-{i}", labels: labels), "default");
        }
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("other-ns"), "team-b");

        Assert.Equal(["pod-0", "pod-2", "pod-4"], Names(await client.CoreV1.ListNamespacedPodAsync("default", labelSelector: "tier=even")));
        Assert.Equal(["pod-1", "pod-3"], Names(await client.CoreV1.ListNamespacedPodAsync("default", labelSelector: "tier!=even,app==buildfarm")));
        Assert.Equal(["pod-0", "pod-1", "pod-2", "pod-3", "pod-4"], Names(await client.CoreV1.ListNamespacedPodAsync("default", labelSelector: "tier in (even,odd)")));
        Assert.Equal(["pod-1", "pod-3"], Names(await client.CoreV1.ListNamespacedPodAsync("default", labelSelector: "tier notin (even),tier")));
        Assert.Empty(Names(await client.CoreV1.ListNamespacedPodAsync("default", labelSelector: "!app")));
        Assert.Equal(["pod-3"], Names(await client.CoreV1.ListNamespacedPodAsync("default", fieldSelector: "metadata.name=pod-3")));
        // One slot and timeScale 1: the first pod holds it, the rest wait Pending.
        Assert.Contains("pod-4", Names(await client.CoreV1.ListNamespacedPodAsync("default", fieldSelector: "status.phase=Pending")));
        Assert.Equal(6, (await client.CoreV1.ListPodForAllNamespacesAsync()).Items.Count);

        var page1 = await client.CoreV1.ListNamespacedPodAsync("default", limit: 2);
        Assert.Equal(["pod-0", "pod-1"], Names(page1));
        Assert.Equal(3, page1.Metadata.RemainingItemCount);
        var page2 = await client.CoreV1.ListNamespacedPodAsync("default", limit: 2, continueParameter: page1.Metadata.ContinueProperty);
        Assert.Equal(["pod-2", "pod-3"], Names(page2));
        var page3 = await client.CoreV1.ListNamespacedPodAsync("default", limit: 2, continueParameter: page2.Metadata.ContinueProperty);
        Assert.Equal(["pod-4"], Names(page3));
        Assert.Null(page3.Metadata.ContinueProperty);

        var bad = await FailsAsync(() => client.CoreV1.ListNamespacedPodAsync("default", fieldSelector: "spec.foo=bar"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.Response.StatusCode);
        Assert.Contains("\"spec.foo\" is not a known field selector", Status(bad).GetProperty("message").GetString(), StringComparison.Ordinal);

        static List<string> Names(V1PodList list) => list.Items.Select(p => p.Metadata.Name).ToList();
    }

    [Fact]
    public async Task Watch_PodLifecycle_DeliversEventsInResourceVersionOrder()
    {
        await using var sim = await Sim.StartAsync();
        using var client = Sim.Client(sim);
        var list = await client.CoreV1.ListNamespacedPodAsync("default");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var events = new List<(WatchEventType Type, V1Pod Pod)>();
        var watch = client.CoreV1.WatchListNamespacedPodAsync("default", resourceVersion: list.Metadata.ResourceVersion,
            fieldSelector: "metadata.name=watched", cancellationToken: cts.Token);
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("watched"), "default");
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("not-watched"), "default");
        await foreach (var (type, pod) in watch)
        {
            events.Add((type, pod));
            if (pod.Status?.Phase == "Succeeded")
            {
                break;
            }
        }
        Assert.Equal(WatchEventType.Added, events[0].Type);
        Assert.All(events.Skip(1), e => Assert.Equal(WatchEventType.Modified, e.Type));
        Assert.All(events, e => Assert.Equal("watched", e.Pod.Metadata.Name));
        var versions = events.Select(e => long.Parse(e.Pod.Metadata.ResourceVersion, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(versions.Order().ToList(), versions);
        Assert.Equal(versions.Count, versions.Distinct().Count());
        Assert.Contains(events, e => e.Pod.Status?.Phase == "Running");
        Assert.Contains(events, e => e.Pod.Status?.ContainerStatuses?.FirstOrDefault()?.State?.Waiting?.Reason == "ContainerCreating");
    }

    [Fact]
    public async Task Watch_FromResourceVersion_ReplaysOnlyLaterChanges_And410AfterCompaction()
    {
        await using var sim = await Sim.StartAsync();
        using var client = Sim.Client(sim);
        var first = await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("before"), "default");
        var afterFirst = first.Metadata.ResourceVersion;
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("after"), "default");

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        Func<Action<Exception>?, IAsyncEnumerable<(WatchEventType, V1Pod)>> watch = onError => client.CoreV1.WatchListNamespacedPodAsync("default", resourceVersion: afterFirst, onError: onError, cancellationToken: cts.Token);
        await foreach (var (type, pod) in watch(null))
        {
            // The first replayed change after "before" was created is either its own status update or "after" being added:
            // never the creation of "before" itself.
            Assert.False(type == WatchEventType.Added && pod.Metadata.Name == "before", "replayed the event at the starting version");
            if (type == WatchEventType.Added && pod.Metadata.Name == "after")
            {
                break;
            }
        }

        using var http = new HttpClient();
        var compact = await http.PostAsync(new Uri(sim.Address, "/_sim/compact"), null);
        compact.EnsureSuccessStatusCode();

        var errors = new List<Exception>();
        Func<Action<Exception>?, IAsyncEnumerable<(WatchEventType, V1Pod)>> stale = onError => client.CoreV1.WatchListNamespacedPodAsync("default", resourceVersion: afterFirst, onError: onError, cancellationToken: cts.Token);
        await foreach (var _ in stale(errors.Add))
        {
            Assert.Fail("a watch from a compacted version must not deliver objects");
        }
        var expired = Assert.IsType<KubernetesException>(Assert.Single(errors));
        Assert.Equal(410, expired.Status.Code);
        Assert.Equal("Expired", expired.Status.Reason);

        // The client resyncs: list, then watch from the list's version.
        var relist = await client.CoreV1.ListNamespacedPodAsync("default");
        Assert.Equal(2, relist.Items.Count);
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("third"), "default");
        Func<Action<Exception>?, IAsyncEnumerable<(WatchEventType, V1Pod)>> resumed = onError => client.CoreV1.WatchListNamespacedPodAsync("default", resourceVersion: relist.Metadata.ResourceVersion, onError: onError, cancellationToken: cts.Token);
        await foreach (var (type, pod) in resumed(null))
        {
            if (type == WatchEventType.Added)
            {
                Assert.Equal("third", pod.Metadata.Name);
                break;
            }
        }
    }

    [Fact]
    public async Task Watch_TimeoutSecondsAndBookmarks_EndsCleanlyWithBookmark()
    {
        await using var sim = await Sim.StartAsync(Sim.Fast("api: { bookmarkIntervalSeconds: 0.2 }"));
        using var client = Sim.Client(sim);
        var types = new List<WatchEventType>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var started = DateTime.UtcNow;
        Func<Action<Exception>?, IAsyncEnumerable<(WatchEventType, V1Pod)>> watch = onError => client.CoreV1.WatchListNamespacedPodAsync("default", allowWatchBookmarks: true, timeoutSeconds: 1, onError: onError, cancellationToken: cts.Token);
        await foreach (var (type, _) in watch(null))
        {
            types.Add(type);
        }
        Assert.Contains(WatchEventType.Bookmark, types);
        Assert.InRange((DateTime.UtcNow - started).TotalSeconds, 0.9, 10);
    }

    [Fact]
    public async Task Watch_DroppedConnection_ClientSeesEndAndResumes()
    {
        await using var sim = await Sim.StartAsync(Sim.Fast("api: { dropWatchRate: 1, dropAfterMilliseconds: 300 }"));
        using var client = Sim.Client(sim);
        var list = await client.CoreV1.ListNamespacedPodAsync("default");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        Func<Action<Exception>?, IAsyncEnumerable<(WatchEventType, V1Pod)>> watch = onError => client.CoreV1.WatchListNamespacedPodAsync("default", resourceVersion: list.Metadata.ResourceVersion, onError: onError, cancellationToken: cts.Token);
        var lastVersion = list.Metadata.ResourceVersion;
        Exception? failure = null;
        try
        {
            await foreach (var (_, pod) in watch(e => failure = e))
            {
                lastVersion = pod.Metadata.ResourceVersion;
            }
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            failure = e;
        }
        Assert.False(cts.IsCancellationRequested, "the dropped watch should have ended by itself");

        // Changes made while no watch was open are replayed on resume.
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("while-away"), "default");
        Func<Action<Exception>?, IAsyncEnumerable<(WatchEventType, V1Pod)>> resumed = onError => client.CoreV1.WatchListNamespacedPodAsync("default", resourceVersion: lastVersion, onError: onError, cancellationToken: cts.Token);
        var seen = false;
        await foreach (var (type, pod) in resumed(null))
        {
            if (type == WatchEventType.Added && pod.Metadata.Name == "while-away")
            {
                seen = true;
                break;
            }
        }
        Assert.True(seen);
    }

    [Fact]
    public async Task Delete_RunningPod_SetsDeletionTimestampThenDeletedEvent()
    {
        await using var sim = await Sim.StartAsync(Sim.Fast("timeScale: 5"));
        using var client = Sim.Client(sim);
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("doomed"), "default");
        await Sim.WaitForPhaseAsync(client, "doomed", "Running");
        var list = await client.CoreV1.ListNamespacedPodAsync("default");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        Func<Action<Exception>?, IAsyncEnumerable<(WatchEventType, V1Pod)>> watch = onError => client.CoreV1.WatchListNamespacedPodAsync("default", resourceVersion: list.Metadata.ResourceVersion, onError: onError, cancellationToken: cts.Token);
        var deleted = await client.CoreV1.DeleteNamespacedPodAsync("doomed", "default", new V1DeleteOptions { GracePeriodSeconds = 2, PropagationPolicy = "Background" });
        Assert.NotNull(deleted.Metadata.DeletionTimestamp);
        var sawTerminating = false;
        V1Pod? last = null;
        await foreach (var (type, pod) in watch(null))
        {
            sawTerminating |= type == WatchEventType.Modified && pod.Metadata.DeletionTimestamp is not null;
            if (type == WatchEventType.Deleted)
            {
                last = pod;
                break;
            }
        }
        Assert.True(sawTerminating);
        Assert.NotNull(last);
        Assert.Equal(137, last.Status.ContainerStatuses[0].State.Terminated?.ExitCode);
        var e = await FailsAsync(() => client.CoreV1.ReadNamespacedPodAsync("doomed", "default"));
        Assert.Equal(HttpStatusCode.NotFound, e.Response.StatusCode);
        var events = await client.CoreV1.ListNamespacedEventAsync("default", fieldSelector: "involvedObject.name=doomed");
        Assert.Contains(events.Items, ev => ev.Reason == "Killing");
    }

    [Fact]
    public async Task Log_FollowWithTimestamps_StreamsUntilContainerEnds()
    {
        await using var sim = await Sim.StartAsync(Sim.Fast("timeScale: 40"));
        using var client = Sim.Client(sim);
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("followed"), "default");
        await Sim.WaitForPhaseAsync(client, "followed", "Running", "Succeeded");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await using var stream = await client.CoreV1.ReadNamespacedPodLogAsync("followed", "default", follow: true, timestamps: true, cancellationToken: cts.Token);
        using var reader = new StreamReader(stream);
        var text = await reader.ReadToEndAsync(cts.Token);
        Assert.False(cts.IsCancellationRequested);
        var lines = text.TrimEnd('\n').Split('\n');
        Assert.All(lines, l => Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ", l));
        Assert.Matches(@"Pushed registry\.example\.com/team/app@sha256:[0-9a-f]{64} $", lines[^1]);
        var pod = await Sim.WaitForPhaseAsync(client, "followed", "Succeeded");
        Assert.Equal(lines[^1][(lines[^1].IndexOf('@', StringComparison.Ordinal) + 1)..].TrimEnd(), pod.Status.ContainerStatuses[0].State.Terminated.Message);

        await using var tail = await client.CoreV1.ReadNamespacedPodLogAsync("followed", "default", tailLines: 2);
        using var tailReader = new StreamReader(tail);
        var tailLines = (await tailReader.ReadToEndAsync()).TrimEnd('\n').Split('\n');
        Assert.Equal(2, tailLines.Length);
        Assert.StartsWith("\u001b[36mINFO\u001b[0m[", tailLines[0], StringComparison.Ordinal);
        Assert.Contains("Pushing image to registry.example.com/team/app:1", tailLines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Log_DroppedFollow_EndsBeforeTheContainer()
    {
        await using var sim = await Sim.StartAsync(Sim.Fast("timeScale: 2\napi: { dropLogRate: 1, dropAfterMilliseconds: 200 }"));
        using var client = Sim.Client(sim);
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("dropped-log"), "default");
        await Sim.WaitForPhaseAsync(client, "dropped-log", "Running");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var text = string.Empty;
        try
        {
            await using var stream = await client.CoreV1.ReadNamespacedPodLogAsync("dropped-log", "default", follow: true, cancellationToken: cts.Token);
            using var reader = new StreamReader(stream);
            text = await reader.ReadToEndAsync(cts.Token);
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            // The connection was aborted mid-stream: what a dropped log stream looks like to a client.
        }
        Assert.False(cts.IsCancellationRequested, "the dropped log stream should end by itself");
        Assert.DoesNotContain("Pushed ", text, StringComparison.Ordinal);
        Assert.Equal("Running", (await client.CoreV1.ReadNamespacedPodAsync("dropped-log", "default")).Status.Phase);
    }

    [Fact]
    public async Task Log_PodNotStarted_Is400WaitingToStart()
    {
        await using var sim = await Sim.StartAsync(Sim.Fast("timeScale: 0.01"));
        using var client = Sim.Client(sim);
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("slow"), "default");
        var e = await FailsAsync(() => client.CoreV1.ReadNamespacedPodLogAsync("slow", "default"));
        Assert.Equal(HttpStatusCode.BadRequest, e.Response.StatusCode);
        Assert.StartsWith("container \"kaniko\" in pod \"slow\" is waiting to start", Status(e).GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_OverNamespaceQuota_Is403ExceededQuota()
    {
        await using var sim = await Sim.StartAsync(Sim.Fast("quota: { podsPerNamespace: 2 }\ntimeScale: 0.01"));
        using var client = Sim.Client(sim);
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("q1"), "default");
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("q2"), "default");
        var e = await FailsAsync(() => client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("q3"), "default"));
        Assert.Equal(HttpStatusCode.Forbidden, e.Response.StatusCode);
        Assert.Equal("Forbidden", Status(e).GetProperty("reason").GetString());
        Assert.Contains("exceeded quota", Status(e).GetProperty("message").GetString(), StringComparison.Ordinal);
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("q3"), "other");
    }

    [Fact]
    public async Task Create_ContainerMemoryLimitAboveTheLimitRange_Is403_LikeLimitRanger()
    {
        await using var sim = await Sim.StartAsync(Sim.Fast("quota: { maxContainerMemory: 6Gi }\ntimeScale: 0.01"));
        using var client = Sim.Client(sim);
        var big = Sim.KanikoPod("big");
        big.Spec.Containers[0].Resources = new V1ResourceRequirements { Limits = new Dictionary<string, ResourceQuantity> { ["memory"] = new("8Gi") } };
        var e = await FailsAsync(() => client.CoreV1.CreateNamespacedPodAsync(big, "default"));
        Assert.Equal(HttpStatusCode.Forbidden, e.Response.StatusCode);
        Assert.Equal("Forbidden", Status(e).GetProperty("reason").GetString());
        Assert.Equal("pods \"big\" is forbidden: maximum memory usage per Container is 6Gi, but limit is 8Gi", Status(e).GetProperty("message").GetString());

        var fits = Sim.KanikoPod("fits");
        fits.Spec.Containers[0].Resources = new V1ResourceRequirements { Limits = new Dictionary<string, ResourceQuantity> { ["memory"] = new("6Gi") } };
        await client.CoreV1.CreateNamespacedPodAsync(fits, "default");
        await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("no-limit"), "default");
    }

    [Fact]
    public async Task Auth_WrongOrMissingToken_Is401_RightTokenWorks()
    {
        await using var sim = await Sim.StartAsync(token: "s3cret");
        using var client = Sim.Client(sim);
        Assert.Empty((await client.CoreV1.ListNamespacedPodAsync("default")).Items);
        using var anonymous = new Kubernetes(new KubernetesClientConfiguration { Host = sim.Address.ToString() });
        var e = await FailsAsync(() => anonymous.CoreV1.ListNamespacedPodAsync("default"));
        Assert.Equal(HttpStatusCode.Unauthorized, e.Response.StatusCode);
        Assert.Equal("Unauthorized", Status(e).GetProperty("reason").GetString());
        using var wrong = new Kubernetes(new KubernetesClientConfiguration { Host = sim.Address.ToString(), AccessToken = "nope" });
        Assert.Equal(HttpStatusCode.Unauthorized, (await FailsAsync(() => wrong.CoreV1.ListNamespacedPodAsync("default"))).Response.StatusCode);
    }

    [Fact]
    public async Task Tls_KubeconfigCarriesCa_ClientTrustsServer()
    {
        await using var sim = await Sim.StartAsync(tls: true, token: "t");
        Assert.Equal("https", sim.Address.Scheme);
        using var client = Sim.Client(sim);
        var pod = await client.CoreV1.CreateNamespacedPodAsync(Sim.KanikoPod("secure"), "default");
        Assert.Equal("secure", pod.Metadata.Name);
    }

    [Fact]
    public async Task ApiFaults_ThrottleAndError_AreStatusWithRetryAfter()
    {
        await using var sim = await Sim.StartAsync(Sim.Fast("api: { throttleRate: 1, retryAfterSeconds: 3 }"));
        using var http = new HttpClient();
        var response = await http.GetAsync(new Uri(sim.Address, "/api/v1/namespaces/default/pods"));
        Assert.Equal((HttpStatusCode)429, response.StatusCode);
        Assert.Equal("3", response.Headers.GetValues("Retry-After").Single());
        var status = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("TooManyRequests", status.GetProperty("reason").GetString());
        // Discovery is never faulted.
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(sim.Address, "/version"))).StatusCode);

        await using var broken = await Sim.StartAsync(Sim.Fast("api: { errorRate: 1 }"));
        var r500 = await http.GetAsync(new Uri(broken.Address, "/api/v1/namespaces/default/pods/x"));
        Assert.Equal(HttpStatusCode.InternalServerError, r500.StatusCode);
        Assert.Equal("InternalError", JsonDocument.Parse(await r500.Content.ReadAsStringAsync()).RootElement.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task UnknownPath_Is404Status()
    {
        await using var sim = await Sim.StartAsync();
        using var http = new HttpClient();
        var response = await http.GetAsync(new Uri(sim.Address, "/apis/apps/v1/deployments"));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var status = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(("Status", "NotFound", 404), (status.GetProperty("kind").GetString(), status.GetProperty("reason").GetString(), status.GetProperty("code").GetInt32()));
    }

    [Fact]
    public async Task Version_Reports132()
    {
        await using var sim = await Sim.StartAsync();
        using var client = Sim.Client(sim);
        var version = await client.Version.GetCodeAsync();
        Assert.Equal(("1", "32"), (version.Major, version.Minor));
    }
}
