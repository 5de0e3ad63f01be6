using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using BuildFarm.Client;
using BuildFarm.Contracts;

namespace BuildFarm.Api.Tests;

/// <summary>The RabbitMQ transport: unreachable (a closed port) → 503 and nothing stored; the real broker that
/// ./test.sh starts (BUILDFARM_TEST_RABBITMQ) → 202 once the broker confirmed.</summary>
public sealed class BrokerTests
{
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static ApiFactory Unreachable() => new(new()
    {
        ["Bus:Transport"] = "RabbitMq",
        ["Bus:Host"] = "127.0.0.1",
        ["Bus:Port"] = ClosedPort().ToString(CultureInfo.InvariantCulture),
        ["Api:PublishTimeout"] = "00:00:01",
        ["Api:RetryAfter"] = "00:00:07",
    });

    [Fact]
    public async Task SubmitBuild_BrokerUnreachable_Is503WithRetryAfterAndStoresNothing()
    {
        await using var api = Unreachable();
        using var http = api.Http();

        using var response = await http.PostAsJsonAsync(new Uri("/v1/builds", UriKind.Relative), Samples.Build(), BuildFarmJson.Options);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(7), response.Headers.RetryAfter?.Delta);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("nothing was submitted", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Empty((await api.Store.ListBuildsAsync(new(), CancellationToken.None)).Items);
        Assert.Empty(api.Published.Messages);
    }

    [Fact]
    public async Task SubmitBatch_BrokerUnreachable_Is503AndTheBatchIsGone()
    {
        await using var api = Unreachable();

        var error = await Assert.ThrowsAsync<BuildFarmApiException>(() => api.Client().SubmitBatchAsync(Samples.Batch(), "after-outage"));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, error.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(7), error.RetryAfter);
        Assert.Empty((await api.Store.ListBuildsAsync(new(), CancellationToken.None)).Items);
    }

    [Fact]
    public async Task Readyz_BrokerUnreachable_Is503()
    {
        await using var api = Unreachable();
        using var http = api.Http(apiKey: null);

        using var ready = await http.GetAsync(new Uri("/readyz", UriKind.Relative));
        using var live = await http.GetAsync(new Uri("/healthz", UriKind.Relative));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
    }

    [NeedsServer(Server.RabbitMq)]
    [Fact]
    public async Task SubmitBuild_RealRabbitMq_Is202AfterTheConfirmAndRetryIsIdempotent()
    {
        var uri = TestEnvironment.RabbitMq;
        var user = uri.UserInfo.Split(':');
        await using var api = new ApiFactory(new()
        {
            ["Bus:Transport"] = "RabbitMq",
            ["Bus:Host"] = uri.Host,
            ["Bus:Port"] = uri.Port.ToString(CultureInfo.InvariantCulture),
            ["Bus:Username"] = Uri.UnescapeDataString(user[0]),
            ["Bus:Password"] = Uri.UnescapeDataString(user.Length > 1 ? user[1] : ""),
        });
        var client = api.Client();

        var first = await client.SubmitBuildAsync(Samples.Build(), "rabbit-retry");
        var again = await client.SubmitBuildAsync(Samples.Build(), "rabbit-retry");
        var batch = await client.SubmitBatchAsync(Samples.Batch());

        Assert.Equal(first.BuildId, again.BuildId);
        Assert.Equal(first.BuildId, Assert.Single(api.Published.Of<BuildImage>()).BuildId);
        Assert.Equal(batch.BatchId, Assert.Single(api.Published.Of<SubmitBatch>()).BatchId);
    }
}
