using BuildFarm.Worker.Metrics;

namespace BuildFarm.Worker.Tests;

public sealed class KubeApiVerbTests
{
    [Theory]
    [InlineData("POST", "https://k/api/v1/namespaces/b/pods", "create")]
    [InlineData("DELETE", "https://k/api/v1/namespaces/b/pods/bf-x-1", "delete")]
    [InlineData("GET", "https://k/api/v1/namespaces/b/pods/bf-x-1", "get")]
    [InlineData("GET", "https://k/api/v1/namespaces/b/pods?labelSelector=a%3Db", "list")]
    [InlineData("GET", "https://k/api/v1/namespaces/b/pods?watch=true&resourceVersion=5", "watch")]
    [InlineData("GET", "https://k/api/v1/namespaces/b/pods/bf-x-1/log?follow=true&timestamps=true", "log")]
    public void Verb_OfPodRequests_Expected(string method, string uri, string verb) =>
        Assert.Equal(verb, KubeApiMetricsHandler.Verb(new HttpMethod(method), new Uri(uri)));
}

public sealed class KubeApiResilienceTests
{
    [Theory]
    [InlineData(429, true)]
    [InlineData(500, true)]
    [InlineData(503, true)]
    [InlineData(504, true)]
    [InlineData(409, false)]
    [InlineData(422, false)]
    [InlineData(403, false)]
    [InlineData(404, false)]
    [InlineData(408, false)]
    [InlineData(200, false)]
    public void ShouldRetry_ByStatusCode_Expected(int code, bool retry)
    {
        using var response = new HttpResponseMessage((System.Net.HttpStatusCode)code);
        Assert.Equal(retry, BuildFarm.Worker.Pods.KubeApiResilienceHandler.ShouldRetry(Polly.Outcome.FromResult(response), CancellationToken.None));
    }

    [Fact]
    public void ShouldRetry_ConnectionError_True_CallerCancelled_False()
    {
        Assert.True(BuildFarm.Worker.Pods.KubeApiResilienceHandler.ShouldRetry(Polly.Outcome.FromException<HttpResponseMessage>(new HttpRequestException("refused")), CancellationToken.None));
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.False(BuildFarm.Worker.Pods.KubeApiResilienceHandler.ShouldRetry(Polly.Outcome.FromException<HttpResponseMessage>(new TaskCanceledException()), cancelled.Token));
    }

    [Fact]
    public void RetryAfter_Seconds_Honoured_AndCapped()
    {
        using var response = new HttpResponseMessage(System.Net.HttpStatusCode.TooManyRequests);
        response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(3));
        Assert.Equal(TimeSpan.FromSeconds(3), BuildFarm.Worker.Pods.KubeApiResilienceHandler.RetryAfter(response));
        response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromMinutes(5));
        Assert.Equal(TimeSpan.FromSeconds(30), BuildFarm.Worker.Pods.KubeApiResilienceHandler.RetryAfter(response));
        using var none = new HttpResponseMessage(System.Net.HttpStatusCode.InternalServerError);
        Assert.Null(BuildFarm.Worker.Pods.KubeApiResilienceHandler.RetryAfter(none));
    }
}

public sealed class UnavailableErrorTests
{
    public static TheoryData<Exception, bool> Errors() => new()
    {
        { new BuildFarm.Worker.Builds.LeaseLostException("lost"), true },
        { new StackExchange.Redis.RedisConnectionException(StackExchange.Redis.ConnectionFailureType.UnableToConnect, StackExchange.Redis.CommandFlags.None, "down", null, StackExchange.Redis.CommandStatus.Unknown), true },
        { new StackExchange.Redis.RedisTimeoutException(StackExchange.Redis.CommandFlags.None, "slow", StackExchange.Redis.CommandStatus.Sent), true },
        { new HttpRequestException("refused"), true },
        { Http(System.Net.HttpStatusCode.TooManyRequests), true },
        { Http(System.Net.HttpStatusCode.ServiceUnavailable), true },
        { new TaskCanceledException("timeout", new TimeoutException()), true },
        { new BuildFarm.Worker.Builds.FarmMisconfiguredException("rbac", new InvalidOperationException("403")), true },
        { Http(System.Net.HttpStatusCode.Forbidden), false },
        { Http(System.Net.HttpStatusCode.UnprocessableEntity), false },
        { new TaskCanceledException("stopping"), false },
        { new InvalidOperationException("a bug"), false },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void IsUnavailable_InfrastructureErrorsOnly(Exception error, bool unavailable) =>
        Assert.Equal(unavailable, BuildFarm.Worker.Messaging.BuildImageConsumer.IsUnavailable(error));

    private static k8s.Autorest.HttpOperationException Http(System.Net.HttpStatusCode code) => new($"status {(int)code}")
    {
        Response = new k8s.Autorest.HttpResponseMessageWrapper(new HttpResponseMessage(code), ""),
    };
}

public sealed class PodCreateRefusalTests
{
    public static TheoryData<int, string?, BuildFarm.Worker.Pods.PodCreateRefusal> Refusals() => new()
    {
        // The ResourceQuota admission plugin: full, or its usage not computed yet: wait.
        { 403, "pods \"bf-a-1\" is forbidden: exceeded quota: kaniko-pods, requested: pods=1, used: pods=400, limited: pods=400", BuildFarm.Worker.Pods.PodCreateRefusal.WaitForCapacity },
        { 403, "pods \"bf-a-1\" is forbidden: status unknown for quota: kaniko-pods, resources: pods", BuildFarm.Worker.Pods.PodCreateRefusal.WaitForCapacity },
        // The quota needs limits the pod does not set: waiting does not help.
        { 403, "pods \"bf-a-1\" is forbidden: failed quota: compute: must specify limits.cpu for: kaniko", BuildFarm.Worker.Pods.PodCreateRefusal.Rejected },
        { 403, "pods \"bf-a-1\" is forbidden: maximum memory usage per Container is 2Gi, but limit is 4Gi", BuildFarm.Worker.Pods.PodCreateRefusal.Rejected },
        { 403, "pods \"bf-a-1\" is forbidden: violates PodSecurity \"restricted:latest\": runAsNonRoot != true", BuildFarm.Worker.Pods.PodCreateRefusal.Rejected },
        { 422, "Pod \"bf-a-1\" is invalid: spec.containers[0].resources.requests: Invalid value: \"8\": must be less than or equal to cpu limit", BuildFarm.Worker.Pods.PodCreateRefusal.Rejected },
        { 400, null, BuildFarm.Worker.Pods.PodCreateRefusal.Rejected },
        // The worker's own RBAC, namespace or credentials: the farm's set-up, not the build.
        { 403, "pods is forbidden: User \"system:serviceaccount:buildfarm:worker\" cannot create resource \"pods\" in API group \"\" in the namespace \"buildfarm-builds\"", BuildFarm.Worker.Pods.PodCreateRefusal.FarmMisconfigured },
        { 404, "namespaces \"buildfarm-builds\" not found", BuildFarm.Worker.Pods.PodCreateRefusal.FarmMisconfigured },
        { 401, "Unauthorized", BuildFarm.Worker.Pods.PodCreateRefusal.FarmMisconfigured },
        // Not decided here: adoption, throttling and server errors have their own paths.
        { 409, "pods \"bf-a-1\" already exists", BuildFarm.Worker.Pods.PodCreateRefusal.None },
        { 429, "Too many requests", BuildFarm.Worker.Pods.PodCreateRefusal.None },
        { 500, "etcdserver: request timed out", BuildFarm.Worker.Pods.PodCreateRefusal.None },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void Classify_StatusCodeAndMessage_DecidesWaitFailOrRequeue(int code, string? message, BuildFarm.Worker.Pods.PodCreateRefusal expected) =>
        Assert.Equal(expected, BuildFarm.Worker.Pods.PodCreateRefusals.Classify((System.Net.HttpStatusCode)code, message));

    [Theory]
    [InlineData("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"exceeded quota: q\",\"reason\":\"Forbidden\",\"code\":403}", "exceeded quota: q")]
    [InlineData("<html>502 Bad Gateway</html>\n", "<html>502 Bad Gateway</html>")]
    [InlineData("{\"kind\":\"Status\"}", "{\"kind\":\"Status\"}")]
    [InlineData("  ", null)]
    [InlineData(null, null)]
    public void StatusMessage_StatusBodyOrOtherText_ReturnsTheMessage(string? body, string? expected) =>
        Assert.Equal(expected, BuildFarm.Worker.Pods.PodCreateRefusals.StatusMessage(body));
}

public sealed class KubeApiBufferingTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    /// <summary>A server whose response headers come at once and whose body only when <see cref="Body"/> is released.</summary>
    private sealed class SlowBodyServer : HttpMessageHandler
    {
        public TaskCompletionSource Body { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.OK) { Content = new SlowContent(Body.Task) });
    }

    private sealed class SlowContent(Task body) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            await body.WaitAsync(Deadline);
            await stream.WriteAsync("{\"kind\":\"Pod\"}"u8.ToArray());
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    [Theory]
    [InlineData("POST", "https://k/api/v1/namespaces/b/pods")]
    [InlineData("GET", "https://k/api/v1/namespaces/b/pods/bf-x-1")]
    [InlineData("GET", "https://k/api/v1/namespaces/b/pods?labelSelector=a%3Db")]
    [InlineData("DELETE", "https://k/api/v1/namespaces/b/pods/bf-x-1")]
    public async Task AnObjectResponse_IsHandedOverOnlyOnceItsBodyIsRead(string method, string uri)
    {
        var server = new SlowBodyServer();
        using var client = new HttpMessageInvoker(new BuildFarm.Worker.Pods.KubeApiBufferingHandler { InnerHandler = server });
        var sending = client.SendAsync(new HttpRequestMessage(new HttpMethod(method), uri), CancellationToken.None);
        // Headers are in (the server answered synchronously: without buffering the send is complete here); the body is
        // not: the response is held back (the client would block a thread reading it).
        Assert.False(sending.IsCompleted);
        server.Body.SetResult();
        using var response = await sending.WaitAsync(Deadline);
        Assert.Equal("{\"kind\":\"Pod\"}", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("https://k/api/v1/namespaces/b/pods?watch=true&resourceVersion=5")]
    [InlineData("https://k/api/v1/namespaces/b/pods/bf-x-1/log?follow=true&timestamps=true")]
    [InlineData("https://k/api/v1/namespaces/b/pods/bf-x-1/log?timestamps=true")]
    public async Task AWatchOrALog_IsHandedOverAtOnce_AsAStream(string uri)
    {
        var server = new SlowBodyServer();
        using var client = new HttpMessageInvoker(new BuildFarm.Worker.Pods.KubeApiBufferingHandler { InnerHandler = server });
        using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, uri), CancellationToken.None).WaitAsync(Deadline);
        var reading = response.Content.ReadAsStringAsync();
        Assert.False(reading.IsCompleted);
        server.Body.SetResult();
        Assert.Equal("{\"kind\":\"Pod\"}", await reading.WaitAsync(Deadline));
    }
}
