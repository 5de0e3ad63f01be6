namespace BuildFarm.Contracts;

/// <summary>Accepted by a producer and published to the queue.</summary>
public sealed record BuildQueued
{
    public required string BuildId { get; init; }
    public string? BatchId { get; init; }
    public required string BuildKey { get; init; }
    public DateTimeOffset QueuedAt { get; init; }
}

/// <summary>An identical build (same build key) was in flight or had succeeded: this build took its outcome.</summary>
public sealed record BuildDeduplicated
{
    public required string BuildId { get; init; }
    public string? BatchId { get; init; }

    /// <summary>The build whose outcome was taken.</summary>
    public required string OriginalBuildId { get; init; }

    /// <summary><c>in_flight</c> or <c>completed</c>.</summary>
    public required string Kind { get; init; }

    /// <summary>The digest when the original build succeeded; null when it failed.</summary>
    public string? Digest { get; init; }

    /// <summary>The original build's failure reason, when it failed.</summary>
    public string? Reason { get; init; }

    public DateTimeOffset At { get; init; }
}

/// <summary>An attempt's pod was created (or adopted after a redelivery).</summary>
public sealed record BuildStarted
{
    public required string BuildId { get; init; }
    public string? BatchId { get; init; }
    public required int Attempt { get; init; }
    public required string Pod { get; init; }

    /// <summary>The platform this attempt builds (<c>linux/arm64</c>) in a multi-platform build, whose platforms number their
    /// attempts each on their own; null in a single-platform build.</summary>
    public string? Platform { get; init; }

    /// <summary>The memory limit of the attempt's pod (a Kubernetes quantity, <c>2Gi</c>); null when it has none or an
    /// older worker published the event.</summary>
    public string? MemoryLimit { get; init; }

    /// <summary>True when this attempt's memory was doubled after the previous attempt was OOM-killed; null otherwise.</summary>
    public bool? MemoryRaised { get; init; }

    public DateTimeOffset At { get; init; }
}

/// <summary>An attempt failed. When <see cref="Transient"/>, another attempt follows at <see cref="RetryAt"/>.</summary>
public sealed record BuildAttemptFailed
{
    public required string BuildId { get; init; }
    public string? BatchId { get; init; }
    public required int Attempt { get; init; }

    /// <summary>The platform of the attempt in a multi-platform build (see <see cref="BuildStarted.Platform"/>); null otherwise.</summary>
    public string? Platform { get; init; }

    /// <summary>A reason from <see cref="FailureReasons"/>.</summary>
    public required string Reason { get; init; }

    public bool Transient { get; init; }
    public DateTimeOffset? RetryAt { get; init; }

    /// <summary>The final error line or pod status message, for people.</summary>
    public string? Detail { get; init; }

    /// <summary>"connection reset by peer" seen over this attempt and all before it (so far in the build).</summary>
    public int Resets { get; init; }

    public DateTimeOffset At { get; init; }
}

/// <summary>The image was pushed.</summary>
public sealed record BuildSucceeded
{
    public required string BuildId { get; init; }
    public string? BatchId { get; init; }
    public required string Digest { get; init; }

    /// <summary>Pushed references, <c>repo@sha256:…</c>, one per destination.</summary>
    public IReadOnlyList<string> Pushed { get; init; } = [];

    /// <summary>Seconds per phase of the successful attempt (<c>pull</c>, <c>extract</c>, <c>build</c>, <c>push</c>).</summary>
    public IReadOnlyDictionary<string, double> PhaseSeconds { get; init; } = new Dictionary<string, double>();

    public int Attempts { get; init; }

    /// <summary>"connection reset by peer" seen over all attempts.</summary>
    public int Resets { get; init; }

    /// <summary>A multi-platform build: each platform's image (the manifests the index <see cref="Digest"/> names), in the
    /// spec's order. Empty for a single-platform build.</summary>
    public IReadOnlyList<PlatformImage> Platforms { get; init; } = [];

    public DateTimeOffset At { get; init; }
}

/// <summary>One platform's image of a multi-platform build: the platform and its manifest digest.</summary>
public sealed record PlatformImage
{
    /// <summary><c>os/arch[/variant]</c>, e.g. <c>linux/arm64</c>.</summary>
    public required string Platform { get; init; }

    /// <summary>The platform's image manifest digest (<c>sha256:…</c>), in every destination repository.</summary>
    public required string Digest { get; init; }
}

/// <summary>The build ended without an image.</summary>
public sealed record BuildFailed
{
    public required string BuildId { get; init; }
    public string? BatchId { get; init; }

    /// <summary>A reason from <see cref="FailureReasons"/>.</summary>
    public required string Reason { get; init; }

    public string? Detail { get; init; }
    public int Attempts { get; init; }
    public DateTimeOffset At { get; init; }
}

/// <summary>The build was cancelled on request.</summary>
public sealed record BuildCancelled
{
    public required string BuildId { get; init; }
    public string? BatchId { get; init; }
    public string? RequestedBy { get; init; }
    public int Attempts { get; init; }
    public DateTimeOffset At { get; init; }
}
