using System.Net;
using System.Text.Json;

namespace BuildFarm.Worker.Pods;

/// <summary>What the worker does when the Kubernetes API refuses to create an attempt's pod.</summary>
public enum PodCreateRefusal
{
    /// <summary>Not a refusal this class decides (409 is adoption; 429 and 5xx are the API being unavailable).</summary>
    None,

    /// <summary>A ResourceQuota is full (or its usage not computed yet): wait and create again; not a failure.</summary>
    WaitForCapacity,

    /// <summary>The farm's own set-up is wrong (RBAC, a missing namespace, credentials): the message goes back to the queue.</summary>
    FarmMisconfigured,

    /// <summary>This pod can never be created as it is (admission, LimitRange, PodSecurity, invalid): the build fails.</summary>
    Rejected,
}

/// <summary>
/// Sorts a refused pod create by the API server's status code and <c>Status</c> message. The messages are the ones the
/// Kubernetes API server writes: the ResourceQuota admission plugin's "exceeded quota: …" and "status unknown for quota: …"
/// (both mean "not now"; its "failed quota: …: must specify …" means the pod lacks what the quota requires, a rejection),
/// RBAC's "User … cannot create resource "pods" …", and everything else admission refuses (LimitRanger's "maximum memory
/// usage per Container is …", PodSecurity's "violates PodSecurity …").
/// </summary>
public static class PodCreateRefusals
{
    public static PodCreateRefusal Classify(HttpStatusCode code, string? message)
    {
        var text = message ?? string.Empty;
        return (int)code switch
        {
            403 when text.Contains("exceeded quota", StringComparison.OrdinalIgnoreCase)
                || text.Contains("status unknown for quota", StringComparison.OrdinalIgnoreCase) => PodCreateRefusal.WaitForCapacity,
            403 when text.Contains("cannot create resource", StringComparison.OrdinalIgnoreCase) => PodCreateRefusal.FarmMisconfigured,
            401 or 404 => PodCreateRefusal.FarmMisconfigured,
            400 or 403 or 422 => PodCreateRefusal.Rejected,
            _ => PodCreateRefusal.None,
        };
    }

    /// <summary>The <c>message</c> of a Kubernetes <c>Status</c> response body, else the body itself (trimmed), else null.</summary>
    public static string? StatusMessage(string? body)
    {
        if (string.IsNullOrWhiteSpace(body))
        {
            return null;
        }
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String)
            {
                return message.GetString();
            }
        }
        catch (JsonException)
        {
            // Not JSON (a proxy's error page): the text itself says what happened.
        }
        var trimmed = body.Trim();
        return trimmed.Length <= 500 ? trimmed : trimmed[..500] + "…";
    }
}
