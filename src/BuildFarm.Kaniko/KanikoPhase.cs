namespace BuildFarm.Kaniko;

/// <summary>Phases of a Kaniko run, in the order they happen. Wire names are lower case.</summary>
public enum KanikoPhase
{
    /// <summary>Start-up and the push-permission probe, before the base image is fetched.</summary>
    Preflight,

    /// <summary>Base-image manifest and config retrieval.</summary>
    Pull,

    /// <summary>Layer download and untar (<c>Unpacking rootfs</c>, <c>Storing source image</c>, cached layers).</summary>
    Extract,

    /// <summary>Dockerfile instructions.</summary>
    Build,

    /// <summary>Pushing the final image to its destinations.</summary>
    Push,
}

public static class KanikoPhaseExtensions
{
    /// <summary>The wire name: <c>preflight</c>, <c>pull</c>, <c>extract</c>, <c>build</c>, <c>push</c>.</summary>
    public static string ToWire(this KanikoPhase phase) => phase switch
    {
        KanikoPhase.Preflight => "preflight",
        KanikoPhase.Pull => "pull",
        KanikoPhase.Extract => "extract",
        KanikoPhase.Build => "build",
        KanikoPhase.Push => "push",
        _ => throw new ArgumentOutOfRangeException(nameof(phase), phase, "unknown Kaniko phase"),
    };
}
