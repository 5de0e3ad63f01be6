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
    public void RecordEvent_PastTheEventLimit_TrimsOldestWrittenFirst_KeepsOneWrittenAgainLately()
    {
        var store = Store();
        var pod = store.CreatePod(Pod());
        store.RecordEvent(pod, "Normal", "Pulling", "the first event, repeated later");
        for (var i = 1; i < 50_000; i++)
        {
            store.RecordEvent(pod, "Normal", "Started", $"event {i}");
        }
        // Written again: now the newest, although it was created first.
        var repeated = store.RecordEvent(pod, "Normal", "Pulling", "the first event, repeated later");

        store.RecordEvent(pod, "Normal", "Started", "event 50000");

        var (items, _) = store.ListEvents(null);
        Assert.Equal(45_000, items.Count);
        var messages = items.Select(e => e.Message).ToHashSet(StringComparer.Ordinal);
        Assert.Contains("the first event, repeated later", messages);
        Assert.Equal(2, items.Single(e => e.Message == "the first event, repeated later").Count);
        // The 5,001 oldest by last write went: events 1 … 5001; 5002 and the newest stayed.
        Assert.DoesNotContain("event 1", messages);
        Assert.DoesNotContain("event 5001", messages);
        Assert.Contains("event 5002", messages);
        Assert.Contains("event 50000", messages);
        Assert.Equal(repeated.Metadata.Name, items.Single(e => e.Reason == "Pulling").Metadata.Name);
    }

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
