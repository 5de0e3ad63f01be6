using System.Text.Json.Nodes;
using k8s.Models;

namespace BuildFarm.ClusterSim.Api;

/// <summary>An API error, answered as a Kubernetes <c>Status</c> with this code and reason.</summary>
public sealed class SimApiException : Exception
{
    public int Code { get; }
    public string Reason { get; }
    public V1StatusDetails? Details { get; }

    public SimApiException(int code, string reason, string message, V1StatusDetails? details = null) : base(message)
    {
        Code = code;
        Reason = reason;
        Details = details;
    }

    public SimApiException()
    {
        Reason = "InternalError";
        Code = 500;
    }

    public SimApiException(string message) : base(message)
    {
        Reason = "InternalError";
        Code = 500;
    }

    public SimApiException(string message, Exception inner) : base(message, inner)
    {
        Reason = "InternalError";
        Code = 500;
    }

    public V1Status ToStatus() => Status(Code, Reason, Message, Details);

    /// <summary>The <c>Status</c> wire JSON (KubernetesClient's V1Status converter only reads).</summary>
    public string ToJson() => Json(ToStatus());

    public static string Json(V1Status status)
    {
        ArgumentNullException.ThrowIfNull(status);
        var o = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = status.Status,
            ["message"] = status.Message,
            ["reason"] = status.Reason,
        };
        if (status.Details is { } d)
        {
            var details = new JsonObject();
            if (d.Name is not null)
            {
                details["name"] = d.Name;
            }
            if (d.Group is not null)
            {
                details["group"] = d.Group;
            }
            if (d.Kind is not null)
            {
                details["kind"] = d.Kind;
            }
            if (d.Causes is { Count: > 0 })
            {
                details["causes"] = new JsonArray(d.Causes.Select(c => (JsonNode?)new JsonObject
                {
                    ["reason"] = c.Reason,
                    ["message"] = c.Message,
                    ["field"] = c.Field,
                }).ToArray());
            }
            if (d.RetryAfterSeconds is { } r)
            {
                details["retryAfterSeconds"] = r;
            }
            o["details"] = details;
        }
        o["code"] = status.Code;
        return o.ToJsonString();
    }

    public static V1Status Status(int code, string reason, string message, V1StatusDetails? details = null) => new()
    {
        ApiVersion = "v1",
        Kind = "Status",
        Metadata = new V1ListMeta(),
        Status = "Failure",
        Message = message,
        Reason = reason,
        Details = details,
        Code = code,
    };

    public static SimApiException NotFound(string resource, string name) =>
        new(404, "NotFound", $"{resource} \"{name}\" not found", new V1StatusDetails { Name = name, Kind = resource });

    public static SimApiException AlreadyExists(string resource, string name) =>
        new(409, "AlreadyExists", $"{resource} \"{name}\" already exists", new V1StatusDetails { Name = name, Kind = resource });

    public static SimApiException BadRequest(string message) => new(400, "BadRequest", message);

    public static SimApiException Expired(string message) => new(410, "Expired", message);

    /// <summary>422 Invalid for a pod, with one cause per problem (<c>field: message</c>).</summary>
    public static SimApiException Invalid(string name, IReadOnlyList<(string Field, string Type, string Message)> causes) =>
        new(422, "Invalid",
            $"Pod \"{name}\" is invalid: " + string.Join(", ", causes.Select(c => $"{c.Field}: {c.Message}")),
            new V1StatusDetails
            {
                Name = name,
                Kind = "Pod",
                Causes = causes.Select(c => new V1StatusCause { Field = c.Field, Reason = c.Type, Message = c.Message }).ToList(),
            });
}
