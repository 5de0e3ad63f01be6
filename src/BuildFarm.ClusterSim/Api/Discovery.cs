using System.Text.Json.Nodes;

namespace BuildFarm.ClusterSim.Api;

/// <summary>The discovery and OpenAPI documents kubectl and the client read before they touch pods.</summary>
public static class Discovery
{
    public const string OpenApiHash = "5f1b0d1a2c3e4f5061728394a5b6c7d8e9f00112233445566778899aabbccddeeff";

    public static JsonObject Version() => new()
    {
        ["major"] = "1",
        ["minor"] = "32",
        ["gitVersion"] = "v1.32.0-buildfarm-sim",
        ["gitCommit"] = "0000000000000000000000000000000000000000",
        ["gitTreeState"] = "clean",
        ["buildDate"] = "2026-01-01T00:00:00Z",
        ["goVersion"] = "go1.23.4",
        ["compiler"] = "gc",
        ["platform"] = "linux/amd64",
    };

    public static JsonObject ApiVersions(string serverAddress) => new()
    {
        ["kind"] = "APIVersions",
        ["versions"] = new JsonArray("v1"),
        ["serverAddressByClientCIDRs"] = new JsonArray(new JsonObject { ["clientCIDR"] = "0.0.0.0/0", ["serverAddress"] = serverAddress }),
    };

    public static JsonObject ApiGroups() => new()
    {
        ["kind"] = "APIGroupList",
        ["apiVersion"] = "v1",
        ["groups"] = new JsonArray(),
    };

    public static JsonObject CoreV1Resources() => new()
    {
        ["kind"] = "APIResourceList",
        ["groupVersion"] = "v1",
        ["resources"] = new JsonArray(
            Resource("events", "Event", true, ["create", "delete", "get", "list", "watch"], ["ev"], null),
            Resource("namespaces", "Namespace", false, ["get", "list"], ["ns"], null),
            Resource("pods", "Pod", true, ["create", "delete", "get", "list", "watch"], ["po"], ["all"]),
            Resource("pods/log", "Pod", true, ["get"], null, null),
            Resource("pods/status", "Pod", true, ["get"], null, null)),
    };

    private static JsonObject Resource(string name, string kind, bool namespaced, string[] verbs, string[]? shortNames, string[]? categories)
    {
        var o = new JsonObject
        {
            ["name"] = name,
            ["singularName"] = name.Contains('/', StringComparison.Ordinal) ? string.Empty : kind.ToLowerInvariant(),
            ["namespaced"] = namespaced,
            ["kind"] = kind,
            ["verbs"] = new JsonArray(verbs.Select(v => (JsonNode?)v).ToArray()),
        };
        if (shortNames is not null)
        {
            o["shortNames"] = new JsonArray(shortNames.Select(v => (JsonNode?)v).ToArray());
        }
        if (categories is not null)
        {
            o["categories"] = new JsonArray(categories.Select(v => (JsonNode?)v).ToArray());
        }
        return o;
    }

    /// <summary><c>/openapi/v3</c>: the index of group-version documents.</summary>
    public static JsonObject OpenApiV3Index() => new()
    {
        ["paths"] = new JsonObject
        {
            ["api/v1"] = new JsonObject { ["serverRelativeURL"] = $"/openapi/v3/api/v1?hash={OpenApiHash}" },
        },
    };

    /// <summary>
    /// <c>/openapi/v3/api/v1</c>: enough for kubectl to see that pod create supports server-side field validation
    /// (the <c>fieldValidation</c> query parameter), so <c>kubectl create -f</c> validates on the server.
    /// </summary>
    public static JsonObject OpenApiV3CoreV1()
    {
        JsonObject Param(string name) => new()
        {
            ["name"] = name,
            ["in"] = "query",
            ["schema"] = new JsonObject { ["type"] = "string", ["uniqueItems"] = true },
        };
        JsonObject Op(string id, string gvkKind, string action = "post") => new()
        {
            ["operationId"] = id,
            ["tags"] = new JsonArray("core_v1"),
            ["parameters"] = new JsonArray(Param("dryRun"), Param("fieldManager"), Param("fieldValidation")),
            ["responses"] = new JsonObject { ["201"] = new JsonObject { ["description"] = "Created" } },
            ["x-kubernetes-action"] = action,
            ["x-kubernetes-group-version-kind"] = new JsonObject { ["group"] = string.Empty, ["version"] = "v1", ["kind"] = gvkKind },
        };
        var nsParam = new JsonObject
        {
            ["name"] = "namespace",
            ["in"] = "path",
            ["required"] = true,
            ["schema"] = new JsonObject { ["type"] = "string", ["uniqueItems"] = true },
        };
        return new JsonObject
        {
            ["openapi"] = "3.0.0",
            ["info"] = new JsonObject { ["title"] = "Kubernetes", ["version"] = "v1.32.0" },
            ["paths"] = new JsonObject
            {
                ["/api/v1/namespaces/{namespace}/pods"] = new JsonObject
                {
                    ["post"] = Op("createCoreV1NamespacedPod", "Pod"),
                    ["parameters"] = new JsonArray(nsParam.DeepClone()),
                },
                // kubectl decides whether the server validates fields by finding the PATCH operation of the kind
                // with a fieldValidation parameter (cli-runtime queryParamVerifierV3).
                ["/api/v1/namespaces/{namespace}/pods/{name}"] = new JsonObject
                {
                    ["patch"] = Op("patchCoreV1NamespacedPod", "Pod", "patch"),
                    ["parameters"] = new JsonArray(nsParam.DeepClone()),
                },
                ["/api/v1/namespaces/{namespace}/events"] = new JsonObject
                {
                    ["post"] = Op("createCoreV1NamespacedEvent", "Event"),
                    ["parameters"] = new JsonArray(nsParam.DeepClone()),
                },
            },
            ["components"] = new JsonObject
            {
                ["schemas"] = new JsonObject
                {
                    ["io.k8s.api.core.v1.Pod"] = new JsonObject
                    {
                        ["type"] = "object",
                        ["description"] = "Pod is a collection of containers that can run on a host.",
                        ["x-kubernetes-group-version-kind"] = new JsonArray(new JsonObject { ["group"] = string.Empty, ["version"] = "v1", ["kind"] = "Pod" }),
                    },
                },
            },
        };
    }
}
