using System.Globalization;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;

namespace BuildFarm.ClusterSim.Api;

/// <summary>The server-side <c>meta.k8s.io/v1 Table</c> form of pods that <c>kubectl get pods</c> prints.</summary>
public static class PodTable
{
    public static JsonArray ColumnDefinitions() =>
    [
        Column("Name", "string", "name", "Name must be unique within a namespace.", 0),
        Column("Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic.", 0),
        Column("Status", "string", "", "The aggregate status of the containers in this pod.", 0),
        Column("Restarts", "string", "", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.", 0),
        Column("Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0),
        Column("IP", "string", "", "podIP is the IP address allocated to the pod.", 1),
        Column("Node", "string", "", "NodeName is a request to schedule this pod onto a specific node.", 1),
        Column("Nominated Node", "string", "", "nominatedNodeName is set when this pod preempts other pods on the node.", 1),
        Column("Readiness Gates", "string", "", "If specified, all readiness gates will be evaluated for pod readiness.", 1),
    ];

    internal static JsonObject Column(string name, string type, string format, string description, int priority) => new()
    {
        ["name"] = name,
        ["type"] = type,
        ["format"] = format,
        ["description"] = description,
        ["priority"] = priority,
    };

    /// <summary>A Table of <paramref name="pods"/>; <paramref name="includeObject"/> is None, Metadata (default) or Object.</summary>
    public static JsonObject Table(IEnumerable<V1Pod> pods, DateTimeOffset now, string? includeObject, bool withColumns,
        string resourceVersion, string? continueToken = null)
    {
        var rows = new JsonArray();
        foreach (var pod in pods)
        {
            rows.Add(Row(pod, now, includeObject));
        }
        return Envelope(resourceVersion, continueToken, withColumns ? ColumnDefinitions() : new JsonArray(), rows);
    }

    /// <summary>The Table object around <paramref name="rows"/> (pods' or events').</summary>
    internal static JsonObject Envelope(string resourceVersion, string? continueToken, JsonArray columns, JsonArray rows)
    {
        var metadata = new JsonObject { ["resourceVersion"] = resourceVersion };
        if (!string.IsNullOrEmpty(continueToken))
        {
            metadata["continue"] = continueToken;
        }
        return new JsonObject
        {
            ["kind"] = "Table",
            ["apiVersion"] = "meta.k8s.io/v1",
            ["metadata"] = metadata,
            ["columnDefinitions"] = columns,
            ["rows"] = rows,
        };
    }

    private static JsonObject Row(V1Pod pod, DateTimeOffset now, string? includeObject)
    {
        var statuses = pod.Status?.ContainerStatuses ?? [];
        var total = pod.Spec?.Containers?.Count ?? 0;
        var ready = statuses.Count(s => s.Ready);
        var restarts = statuses.Sum(s => s.RestartCount);
        var row = new JsonObject
        {
            ["cells"] = new JsonArray(
                pod.Metadata.Name,
                $"{ready}/{total}",
                Status(pod),
                restarts.ToString(CultureInfo.InvariantCulture),
                Age(pod.Metadata.CreationTimestamp, now),
                pod.Status?.PodIP ?? "<none>",
                pod.Spec?.NodeName ?? "<none>",
                pod.Status?.NominatedNodeName ?? "<none>",
                "<none>"),
        };
        switch (includeObject)
        {
            case "None":
                break;
            case "Object":
                row["object"] = JsonNode.Parse(KubernetesJson.Serialize(pod));
                break;
            default:
                var meta = JsonNode.Parse(KubernetesJson.Serialize(pod.Metadata));
                row["object"] = new JsonObject
                {
                    ["kind"] = "PartialObjectMetadata",
                    ["apiVersion"] = "meta.k8s.io/v1",
                    ["metadata"] = meta,
                };
                break;
        }
        return row;
    }

    /// <summary>kubectl's STATUS column: the phase, refined by status reason, container waiting/terminated reasons and deletion.</summary>
    public static string Status(V1Pod pod)
    {
        var reason = pod.Status?.Phase ?? "Pending";
        if (!string.IsNullOrEmpty(pod.Status?.Reason))
        {
            reason = pod.Status.Reason;
        }
        var hasRunning = false;
        foreach (var c in Enumerable.Reverse(pod.Status?.ContainerStatuses ?? []))
        {
            if (c.State?.Waiting?.Reason is { Length: > 0 } w)
            {
                reason = w;
            }
            else if (c.State?.Terminated is { } t)
            {
                reason = !string.IsNullOrEmpty(t.Reason) ? t.Reason
                    : t.Signal is { } sig && sig != 0 ? $"Signal:{sig}" : $"ExitCode:{t.ExitCode}";
            }
            else if (c.Ready && c.State?.Running is not null)
            {
                hasRunning = true;
            }
        }
        if (reason == "Completed" && hasRunning)
        {
            reason = "Running";
        }
        if (pod.Metadata.DeletionTimestamp is not null)
        {
            reason = pod.Status?.Reason == "NodeLost" ? "Unknown" : "Terminating";
        }
        return reason;
    }

    /// <summary>Kubernetes' <c>duration.HumanDuration</c>.</summary>
    public static string Age(DateTime? created, DateTimeOffset now)
    {
        if (created is null)
        {
            return "<unknown>";
        }
        var d = now - new DateTimeOffset(DateTime.SpecifyKind(created.Value, DateTimeKind.Utc));
        if (d < TimeSpan.Zero)
        {
            d = TimeSpan.Zero;
        }
        var seconds = (long)d.TotalSeconds;
        var inv = CultureInfo.InvariantCulture;
        if (seconds < 60 * 2)
        {
            return string.Create(inv, $"{seconds}s");
        }
        var minutes = seconds / 60;
        if (minutes < 10)
        {
            return TwoUnits(minutes, 'm', seconds % 60, 's');
        }
        if (minutes < 60 * 3)
        {
            return string.Create(inv, $"{minutes}m");
        }
        var hours = minutes / 60;
        if (hours < 8)
        {
            return TwoUnits(hours, 'h', minutes % 60, 'm');
        }
        if (hours < 48)
        {
            return string.Create(inv, $"{hours}h");
        }
        if (hours < 24 * 8)
        {
            return TwoUnits(hours / 24, 'd', hours % 24, 'h');
        }
        if (hours < 24 * 365 * 2)
        {
            return string.Create(inv, $"{hours / 24}d");
        }
        return string.Create(inv, $"{hours / 24 / 365}y");
    }

    /// <summary><c>5m</c>, or <c>5m30s</c> when the smaller unit is not zero.</summary>
    private static string TwoUnits(long big, char bigUnit, long small, char smallUnit) => small == 0
        ? string.Create(CultureInfo.InvariantCulture, $"{big}{bigUnit}")
        : string.Create(CultureInfo.InvariantCulture, $"{big}{bigUnit}{small}{smallUnit}");
}
