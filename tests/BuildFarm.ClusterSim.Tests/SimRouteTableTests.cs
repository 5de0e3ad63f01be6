using System.Net;
using System.Text.Json;
using BuildFarm.ClusterSim.Api;

namespace BuildFarm.ClusterSim.Tests;

public sealed class SimRouteTableTests
{
    private static readonly SimRouteHandler Nothing = (_, _) => Task.CompletedTask;

    private static readonly SimRouteTable Table = new SimRouteTable()
        .Map("/api/v1/namespaces/{namespace}/pods", "pods", SimRouteKind.Collection, ("GET", Nothing), ("POST", Nothing))
        .Map("/api/v1/namespaces/{namespace}/pods/{name}/log", "pods/log", SimRouteKind.Log, ("GET", Nothing))
        .MapPublic("/healthz", Nothing);

    private static string[] Segments(string path) => path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void Match_CapturesNamespaceAndName()
    {
        var match = Table.Match("GET", Segments("/api/v1/namespaces/ci/pods/build-1/log"));

        Assert.Equal("pods/log", match.Route?.Resource);
        Assert.NotNull(match.Handler);
        Assert.Equal(new SimRouteValues("ci", "build-1"), match.Values);
    }

    [Fact]
    public void Match_MethodNotServed_RouteWithoutHandler()
    {
        var match = Table.Match("DELETE", Segments("/api/v1/namespaces/ci/pods"));

        Assert.Equal("pods", match.Route?.Resource);
        Assert.Null(match.Handler);
    }

    [Theory]
    [InlineData("/api/v1/namespaces/ci/pods/build-1")] // no such template
    [InlineData("/api/v1/namespaces/ci/pods/build-1/log/more")] // longer than any
    [InlineData("/API/v1/namespaces/ci/pods")] // literals are case-sensitive
    public void Match_NoTemplateFits_NoRoute(string path)
    {
        Assert.Null(Table.Match("GET", Segments(path)).Route);
    }

    [Fact]
    public void MapPublic_AnyMethod_NoToken()
    {
        var match = Table.Match("HEAD", Segments("/healthz"));

        Assert.True(match.Route is { Public: true, Resource: "discovery" });
        Assert.NotNull(match.Handler);
    }

    [Fact]
    public void Map_UnknownCapture_IsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => new SimRouteTable().Map("/api/v1/{kind}", "x", SimRouteKind.Discovery, ("GET", Nothing)));

        Assert.Contains("only {namespace} and {name}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Server_MethodNotServed_Is405Status_UnknownSimEndpoint_Is404()
    {
        await using var sim = await Sim.StartAsync();
        using var http = new HttpClient();

        var put = await http.PutAsync(new Uri(sim.Address, "/api/v1/namespaces/default/pods"), new StringContent("{}"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, put.StatusCode);
        var status = JsonDocument.Parse(await put.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(("Status", "MethodNotAllowed", 405), (status.GetProperty("kind").GetString(), status.GetProperty("reason").GetString(), status.GetProperty("code").GetInt32()));

        var unknown = await http.GetAsync(new Uri(sim.Address, "/_sim/nothing"));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("unknown simulator endpoint", await unknown.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
