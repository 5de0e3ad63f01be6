using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace BuildFarm.ClusterSim.Api;

/// <summary>The server-side Table of events: <c>kubectl get events</c> prints LAST SEEN TYPE REASON OBJECT MESSAGE.</summary>
public static class EventTable
{
    private static JsonObject Column(string name, int priority, string description) =>
        PodTable.Column(name, "string", name == "Name" ? "name" : string.Empty, description, priority);

    public static JsonObject Table(IEnumerable<Corev1Event> events, DateTimeOffset now, string? includeObject, string resourceVersion,
        string? continueToken = null)
    {
        var rows = new JsonArray();
        foreach (var e in events)
        {
            var row = new JsonObject
            {
                ["cells"] = new JsonArray(
                    PodTable.Age(e.LastTimestamp ?? e.Metadata.CreationTimestamp, now),
                    e.Type,
                    e.Reason,
                    $"{e.InvolvedObject.Kind?.ToLowerInvariant()}/{e.InvolvedObject.Name}",
                    e.InvolvedObject.FieldPath ?? string.Empty,
                    string.IsNullOrEmpty(e.Source?.Host) ? e.Source?.Component : $"{e.Source.Component}, {e.Source.Host}",
                    e.Message,
                    PodTable.Age(e.FirstTimestamp ?? e.Metadata.CreationTimestamp, now),
                    (e.Count ?? 1).ToString(System.Globalization.CultureInfo.InvariantCulture),
                    e.Metadata.Name),
            };
            if (includeObject == "Object")
            {
                row["object"] = JsonNode.Parse(KubernetesJson.Serialize(e));
            }
            else if (includeObject != "None")
            {
                row["object"] = new JsonObject
                {
                    ["kind"] = "PartialObjectMetadata",
                    ["apiVersion"] = "meta.k8s.io/v1",
                    ["metadata"] = JsonNode.Parse(KubernetesJson.Serialize(e.Metadata)),
                };
            }
            rows.Add(row);
        }
        return PodTable.Envelope(resourceVersion, continueToken, new JsonArray(
            Column("Last Seen", 0, "Time of the most recent occurrence."),
            Column("Type", 0, "Type of this event (Normal, Warning)."),
            Column("Reason", 0, "Why the action was taken."),
            Column("Object", 0, "The object this event is about."),
            Column("Subobject", 1, "The field of the object this event is about."),
            Column("Source", 1, "The component reporting this event."),
            Column("Message", 0, "A human-readable description."),
            Column("First Seen", 1, "Time of the first occurrence."),
            Column("Count", 1, "How many times it occurred."),
            Column("Name", 1, "The event's name.")),
            rows);
    }
}
