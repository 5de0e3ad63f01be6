using BuildFarm.Worker.Builds;
using BuildFarm.Worker.Hosting;
using BuildFarm.Worker.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace BuildFarm.Worker.Tests;

public sealed class RetryBackoffTests
{
    [Theory]
    [InlineData(1, 0.0, 1000)]
    [InlineData(1, 0.999, 1999)]
    [InlineData(2, 0.0, 2000)]
    [InlineData(3, 0.5, 6000)]
    [InlineData(6, 0.0, 30000)]   // 64 s capped at 60 s, half fixed
    [InlineData(30, 0.0, 30000)]
    public void Delay_ExponentialCappedWithEqualJitter_Expected(int attempt, double jitter, int expectedMilliseconds)
    {
        var delay = RetryBackoff.Delay(attempt, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(60), jitter);
        Assert.Equal(expectedMilliseconds, delay.TotalMilliseconds, 0);
    }

    [Fact]
    public void Delay_NeverBelowHalfNorAboveCap()
    {
        var random = new Random(3);
        for (var attempt = 1; attempt <= 12; attempt++)
        {
            var exponential = Math.Min(2000 * Math.Pow(2, attempt - 1), 60000);
            var delay = RetryBackoff.Delay(attempt, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(60), random.NextDouble()).TotalMilliseconds;
            Assert.InRange(delay, exponential / 2, exponential);
        }
    }

    [Theory]
    [InlineData(0, 0.5)]
    [InlineData(1, 1.0)]
    [InlineData(1, -0.1)]
    public void Delay_BadArguments_Throw(int attempt, double jitter) =>
        Assert.ThrowsAny<ArgumentOutOfRangeException>(() => RetryBackoff.Delay(attempt, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), jitter));
}

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

public sealed class WorkerOptionsTests
{
    [Theory]
    [InlineData("Worker:Slots", "0", "Worker:Slots")]
    [InlineData("Worker:MaxAttempts", "0", "Worker:MaxAttempts")]
    [InlineData("Worker:LeaseRenewInterval", "00:00:20", "Worker:LeaseRenewInterval")]
    [InlineData("Worker:MaxBackoff", "00:00:00.010", "Worker:MaxBackoff")]
    [InlineData("Kaniko:ExecutorImage", "gcr.io/kaniko-project/executor:latest", "Kaniko:ExecutorImage")]
    [InlineData("Bus:Transport", "Kafka", "Bus:Transport")]
    [InlineData("Kubernetes:KubeconfigPath", "/nonexistent/kubeconfig", "Kubernetes:KubeconfigPath")]
    [InlineData("Kubernetes:MaxRetries", "-1", "Kubernetes:MaxRetries")]
    [InlineData("Kubernetes:RetryBaseDelay", "00:00:00", "Kubernetes:RetryBaseDelay")]
    [InlineData("Worker:UnavailableRetries", "-1", "Worker:UnavailableRetries")]
    [InlineData("Worker:UnavailableRetryMaxDelay", "00:00:00.001", "Worker:UnavailableRetryDelay/UnavailableRetryMaxDelay")]
    [InlineData("Worker:CancelMarkerTtl", "00:00:00", "Worker:CancelMarkerTtl")]
    [InlineData("Worker:RedisProbeInterval", "00:00:00", "Worker:RedisProbeInterval")]
    [InlineData("Worker:MaxMessageHold", "00:00:00", "Worker:MaxMessageHold")]
    public async Task Start_InvalidSetting_FailsNamingTheSetting(string key, string value, string named)
    {
        var kubeconfig = Path.Combine(Path.GetTempPath(), $"worker-options-{Guid.NewGuid():N}.kubeconfig");
        // A valid kubeconfig (nothing listens there): only the setting under test is wrong.
        await File.WriteAllTextAsync(kubeconfig, """
            apiVersion: v1
            kind: Config
            clusters: [{ name: c, cluster: { server: "http://127.0.0.1:1" } }]
            users: [{ name: u, user: { token: t } }]
            contexts: [{ name: x, context: { cluster: c, user: u } }]
            current-context: x
            """);
        try
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.ClearProviders();
            builder.Configuration.AddInMemoryCollection(WorkerHarness.Settings(kubeconfig, new Dictionary<string, string?> { [key] = value }));
            builder.Services.AddBuildFarmWorkerCore();
            using var host = builder.Build();
            var error = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());
            var messages = error is OptionsValidationException o ? string.Join("\n", o.Failures) : error.Message;
            Assert.Contains(named, messages, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(kubeconfig);
        }
    }

    [Fact]
    public void RunningBuilds_CancelRunningBuild_TrueAndTokenFires_UnknownFalse()
    {
        var running = new RunningBuilds();
        using (var build = running.Register("b1"))
        {
            Assert.True(running.Cancel("b1", "me"));
            Assert.True(build.Token.IsCancellationRequested);
            Assert.Equal("me", build.RequestedBy);
            Assert.False(running.Cancel("b2", "me"));
        }
        Assert.False(running.IsRunning("b1"));
    }
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

public sealed class WorkerPreflightTests
{
    private static readonly BuildFarm.Contracts.BuildSpec Spec = WorkerHarness.Spec();

    [Theory]
    [InlineData("FROM alpine:3.19\nWORKDIR /kaniko/work\n", "filesystem_conflict")]
    [InlineData("FROM alpine:3.19\nRUN rm -rf /workspace\n", "filesystem_conflict")]
    [InlineData("FROM alpine:3.19\nFROBNICATE x\n", "dockerfile_invalid")]
    public void Reject_ErrorFindings_ReasonAndCodes(string dockerfile, string reason)
    {
        var rejection = BuildFarm.Worker.Builds.WorkerPreflight.Reject(dockerfile, Spec);

        Assert.NotNull(rejection);
        Assert.Equal(reason, rejection.Reason);
        Assert.StartsWith("Dockerfile preflight: BFK", rejection.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("dir:///workspace", true)] // the build context is /workspace itself (kaniko#1508)
    [InlineData("dir:///workspace/monorepo", true)]
    [InlineData("dir:///mnt/contexts/app", false)]
    [InlineData("s3://ctx-bucket/app.tar.gz", false)]
    public void Reject_WritingIntoWorkspace_OnlyWithTheSpecsContextInWorkspace(string context, bool rejected)
    {
        var rejection = BuildFarm.Worker.Builds.WorkerPreflight.Reject("FROM golang:1.23\nWORKDIR /workspace\nCOPY . .\n", Spec with { Context = context });

        Assert.Equal(rejected, rejection is not null);
        if (rejection is not null)
        {
            Assert.Equal("filesystem_conflict", rejection.Reason);
            Assert.Contains("BFK002", rejection.Detail, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Reject_OnlyWarnings_Null() =>
        Assert.Null(BuildFarm.Worker.Builds.WorkerPreflight.Reject("FROM alpine:latest\nRUN echo hi\n", Spec));

    [Theory]
    [InlineData("s3://ctx-bucket/app.tar.gz")]
    [InlineData("git://github.com/acme/app.git#main")]
    public void DockerfilePath_NotADirContext_Null(string context) =>
        Assert.Null(BuildFarm.Worker.Builds.WorkerPreflight.DockerfilePath(Spec with { Context = context }));
}
