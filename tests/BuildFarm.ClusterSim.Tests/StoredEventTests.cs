using System.Text;
using System.Text.Json;
using BuildFarm.ClusterSim.Api;
using k8s;
using k8s.Models;

namespace BuildFarm.ClusterSim.Tests;

public sealed class StoredEventTests
{
    private static V1Pod Pod() => new()
    {
        ApiVersion = "v1",
        Kind = "Pod",
        Metadata = new V1ObjectMeta { Name = "p-é", NamespaceProperty = "default", ResourceVersion = "7", Labels = new Dictionary<string, string> { ["app"] = "x" } },
        Status = new V1PodStatus { Phase = "Running" },
    };

    [Fact]
    public void WireLine_OwnType_IsTypeAndObjectJsonOnOneLine()
    {
        var pod = Pod();
        var ev = new StoredEvent(7, "MODIFIED", "pods", pod, null);

        var line = Encoding.UTF8.GetString(ev.WireLine("MODIFIED"));

        Assert.Equal($"{{\"type\":\"MODIFIED\",\"object\":{KubernetesJson.Serialize(pod)}}}\n", line);
        Assert.Same(ev.WireLine("MODIFIED"), ev.WireLine("MODIFIED"));
    }

    [Theory]
    [InlineData("ADDED")]
    [InlineData("DELETED")]
    public void WireLine_OtherType_CarriesTheSameObject(string type)
    {
        var pod = Pod();
        var ev = new StoredEvent(7, "MODIFIED", "pods", pod, null);
        _ = ev.WireLine("MODIFIED");

        var line = ev.WireLine(type);

        Assert.Equal((byte)'\n', line[^1]);
        using var doc = JsonDocument.Parse(line.AsMemory(0, line.Length - 1));
        Assert.Equal(type, doc.RootElement.GetProperty("type").GetString());
        Assert.Equal(KubernetesJson.Serialize(pod), doc.RootElement.GetProperty("object").GetRawText());
        Assert.Equal("p-é", doc.RootElement.GetProperty("object").GetProperty("metadata").GetProperty("name").GetString());
    }
}
