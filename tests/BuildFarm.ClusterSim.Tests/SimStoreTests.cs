using BuildFarm.ClusterSim.Api;
using k8s;
using k8s.Models;

namespace BuildFarm.ClusterSim.Tests;

public sealed class SimStoreTests
{
    private static SimStore Store() => new(() => DateTimeOffset.UnixEpoch, historyLimit: 100);

    private static V1Pod Pod() => new()
    {
        ApiVersion = "v1",
        Kind = "Pod",
        Metadata = new V1ObjectMeta { Name = "p", NamespaceProperty = "default", Labels = new Dictionary<string, string> { ["app"] = "x" } },
        Spec = new V1PodSpec { Containers = [new V1Container { Name = "kaniko", Image = "img" }] },
        Status = new V1PodStatus { Phase = "Pending" },
    };

    [Fact]
    public void UpdatePod_StatusChange_LeavesTheStoredVersionAsItWas()
    {
        var store = Store();
        var created = store.CreatePod(Pod());
        var before = KubernetesJson.Serialize(created);

        var updated = store.UpdatePod("default", "p", p =>
        {
            p.Status.Phase = "Running";
            p.Metadata.Labels["app"] = "y";
        });

        Assert.NotNull(updated);
        Assert.Equal(before, KubernetesJson.Serialize(created));
        Assert.Equal("Running", updated.Status.Phase);
        Assert.Equal("y", updated.Metadata.Labels["app"]);
        Assert.NotEqual(created.Metadata.ResourceVersion, updated.Metadata.ResourceVersion);
    }

    [Fact]
    public void UpdatePod_SpecChangeDeclared_LeavesTheStoredSpecAsItWas()
    {
        var store = Store();
        var created = store.CreatePod(Pod());

        var updated = store.UpdatePod("default", "p", p => p.Spec.NodeName = "node-1", changesSpec: true);

        Assert.Null(created.Spec.NodeName);
        Assert.Equal("node-1", updated!.Spec.NodeName);
    }

    [Fact]
    public void RemovePod_DeletedVersion_HasItsOwnResourceVersionAndTheLastStatus()
    {
        var store = Store();
        store.CreatePod(Pod());
        var running = store.UpdatePod("default", "p", p => p.Status.Phase = "Running")!;

        var gone = store.RemovePod("default", "p");

        Assert.NotNull(gone);
        Assert.Equal("Running", gone.Status.Phase);
        Assert.True(long.Parse(gone.Metadata.ResourceVersion, System.Globalization.CultureInfo.InvariantCulture)
            > long.Parse(running.Metadata.ResourceVersion, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Null(store.GetPod("default", "p"));
    }
}
