namespace BuildFarm.Contracts;

/// <summary>
/// What to build: everything Kaniko needs for one image. Immutable and serialisable as is.
/// Validated by <c>BuildSpecValidator</c> (BuildFarm.Kaniko) before anything is published or started.
/// </summary>
public sealed record BuildSpec
{
    /// <summary>Build context: <c>git://host/repo.git#ref#commit</c>, <c>https://…/ctx.tar.gz</c>,
    /// <c>s3://bucket/ctx.tar.gz</c>, <c>gs://bucket/ctx.tar.gz</c> or <c>dir:///path</c>.</summary>
    public required string Context { get; init; }

    /// <summary>Folder inside a git or tar context that is the image's context (a monorepo image's folder).</summary>
    public string? ContextSubPath { get; init; }

    /// <summary>Dockerfile path, relative to the context (sub-path). Defaults to <c>Dockerfile</c>.</summary>
    public string Dockerfile { get; init; } = "Dockerfile";

    /// <summary>Image references to push to; at least one.</summary>
    public IReadOnlyList<string> Destinations { get; init; } = [];

    public IReadOnlyDictionary<string, string> BuildArgs { get; init; } = new Dictionary<string, string>();

    /// <summary>Stage to build (<c>--target</c>).</summary>
    public string? Target { get; init; }

    /// <summary>Image labels (<c>--label</c>).</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>Use Kaniko's registry layer cache.</summary>
    public bool Cache { get; init; }

    /// <summary>Cache repository (<c>--cache-repo</c>); Kaniko's default is <c>&lt;destination repo&gt;/cache</c>.</summary>
    public string? CacheRepo { get; init; }

    /// <summary>Target platform, e.g. <c>linux/arm64</c> (<c>--custom-platform</c>; not emulation).</summary>
    public string? Platform { get; init; }

    /// <summary>
    /// Target platforms of a multi-platform image, e.g. <c>["linux/amd64", "linux/arm64"]</c>: one Kaniko pod per platform
    /// on a node of that architecture, then one image index pushed to every destination (docs/multi-platform.md). One
    /// entry is the same build as <see cref="Platform"/>; naming both fields is refused. Null or empty: none.
    /// </summary>
    public IReadOnlyList<string>? Platforms { get; init; }

    /// <summary>Pod resources; null takes the farm's defaults.</summary>
    public BuildResources? Resources { get; init; }

    /// <summary>Seconds one attempt may run; becomes the pod's <c>activeDeadlineSeconds</c>. Null takes the farm's default.</summary>
    public int? DeadlineSeconds { get; init; }
}

/// <summary>Kubernetes quantities for the Kaniko container, e.g. <c>"500m"</c>, <c>"2Gi"</c>.</summary>
public sealed record BuildResources
{
    public string? CpuRequest { get; init; }
    public string? MemoryRequest { get; init; }
    public string? CpuLimit { get; init; }
    public string? MemoryLimit { get; init; }
    public string? EphemeralStorageLimit { get; init; }
}
