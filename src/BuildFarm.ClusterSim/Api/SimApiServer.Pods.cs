using System.Globalization;
using System.Text;
using System.Text.Json;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Http;

namespace BuildFarm.ClusterSim.Api;

// Creating and deleting pods.
public sealed partial class SimApiServer
{
    private async Task CreatePodAsync(HttpContext context, string ns)
    {
        string body;
        using (var reader = new StreamReader(context.Request.Body, Encoding.UTF8))
        {
            body = await reader.ReadToEndAsync(context.RequestAborted);
        }
        V1Pod? pod;
        try
        {
            pod = KubernetesJson.Deserialize<V1Pod>(body);
        }
        catch (JsonException e)
        {
            throw SimApiException.BadRequest($"the body of the request was in an unknown format - accepted media types include: application/json; json parse error: {e.Message}");
        }
        if (pod is null)
        {
            throw SimApiException.BadRequest("the body of the request is empty: a Pod is required");
        }
        if (pod.Kind is { Length: > 0 } kind && kind != "Pod")
        {
            throw SimApiException.BadRequest($"the API version in the data ({pod.ApiVersion}) does not match the expected API version (v1) or the kind ({kind}) is not Pod");
        }
        pod.Metadata ??= new V1ObjectMeta();
        if (!string.IsNullOrEmpty(pod.Metadata.NamespaceProperty) && pod.Metadata.NamespaceProperty != ns)
        {
            throw SimApiException.BadRequest("the namespace of the provided object does not match the namespace sent on the request");
        }
        pod.Metadata.NamespaceProperty = ns;
        pod.Metadata.ResourceVersion = null;
        Random nameRandom;
        lock (_randomLock)
        {
            nameRandom = new Random(_random.Next());
        }
        PodValidation.ValidateAndDefault(pod, nameRandom);
        if (context.Request.Query["dryRun"] == "All")
        {
            pod.Metadata.CreationTimestamp = SimStore.Truncate(_clock.Now);
            await WriteObjectAsync(context, pod, 201);
            return;
        }
        var created = _store.CreatePod(pod);
        _kubelet.OnCreated(created);
        await WriteObjectAsync(context, created, 201);
    }

    private async Task DeletePodAsync(HttpContext context, string ns, string name)
    {
        long? grace = null;
        if (long.TryParse(context.Request.Query["gracePeriodSeconds"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var g))
        {
            grace = g;
        }
        if (context.Request.ContentLength is > 0 || context.Request.Headers.TransferEncoding.Count > 0)
        {
            using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
            var body = await reader.ReadToEndAsync(context.RequestAborted);
            if (!string.IsNullOrWhiteSpace(body))
            {
                V1DeleteOptions? options;
                try
                {
                    options = KubernetesJson.Deserialize<V1DeleteOptions>(body);
                }
                catch (JsonException e)
                {
                    throw SimApiException.BadRequest($"invalid DeleteOptions: {e.Message}");
                }
                if (options?.PropagationPolicy is { } policy && policy is not ("Orphan" or "Background" or "Foreground"))
                {
                    throw new SimApiException(422, "Invalid", $"DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{policy}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"");
                }
                grace ??= options?.GracePeriodSeconds;
                if (options?.Preconditions?.Uid is { } uid && _store.GetPod(ns, name) is { } p && p.Metadata.Uid != uid)
                {
                    throw new SimApiException(409, "Conflict",
                        $"Operation cannot be fulfilled on Pod \"{name}\": Precondition failed: UID in precondition: {uid}, UID in object meta: {p.Metadata.Uid}");
                }
            }
        }
        if (grace is < 0)
        {
            grace = 1;
        }
        var pod = _store.GetPod(ns, name) ?? throw SimApiException.NotFound("pods", name);
        var result = _kubelet.RequestDelete(pod, grace);
        await WriteObjectAsync(context, result);
    }
}
