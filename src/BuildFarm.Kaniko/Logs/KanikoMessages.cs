namespace BuildFarm.Kaniko.Logs;

/// <summary>What a Kaniko message that the analyzer acts on says, from its prefix (docs/kaniko-log-analysis.md).</summary>
internal enum KanikoMessageKind : byte
{
    /// <summary>No known prefix: the line ends pull and extract and leaves the rest as it is.</summary>
    Other,

    /// <summary>Nothing to do (a memo answer, a registry-map fallback inside pull).</summary>
    Ignored,
    RetrievingManifest,
    RetrievingImage,
    BeginPull,
    BeginExtract,

    /// <summary>A line of the instruction being executed.</summary>
    BuildWork,

    /// <summary>Build work that does not revoke a provisional final push (between stages, after --cleanup).</summary>
    BuildWorkAfterPush,

    /// <summary>Stage set-up: base names, dockerignore, stage starts.</summary>
    StageSetup,
    CacheHit,
    CacheMiss,
    CheckingCachedLayer,

    /// <summary>"Executing … build triggers" (the rest of the line decides).</summary>
    Executing,
    CacheUploadError,

    /// <summary>Every destination is done (a push-less build, or the v1.4–v1.7 summary line).</summary>
    AllDestinationsPushed,
    PushingImage,
    PushedReference,
    PushingLayer,
    ImmutableTagIgnored,
    SnapshotTimeout,
}

/// <summary>
/// What a Kaniko message says, for the analyzer. The prefixes it acts on are matched case-insensitively. The table is bucketed by
/// first letter once, so a message costs one bucket look-up and a few <c>StartsWith</c> checks, and no allocation.
/// Within a letter the first matching prefix wins, so a longer prefix goes before a shorter one it starts with.
/// </summary>
internal static class KanikoMessages
{
    private static readonly (string Prefix, KanikoMessageKind Kind)[] Table =
    [
        ("Retrieving image manifest", KanikoMessageKind.RetrievingManifest),
        // "… from registry X", "… from registry mirror X", "… from mapped registry X".
        ("Retrieving image ", KanikoMessageKind.RetrievingImage),
        ("Returning cached image manifest", KanikoMessageKind.Ignored),
        ("Running:", KanikoMessageKind.BuildWork),
        ("Resolved base name", KanikoMessageKind.StageSetup),

        ("Downloading base image", KanikoMessageKind.BeginPull),
        ("Deleting filesystem", KanikoMessageKind.BuildWorkAfterPush),

        ("Unpacking rootfs", KanikoMessageKind.BeginExtract),
        ("Using caching version of cmd", KanikoMessageKind.CacheHit),
        ("Using dockerignore file", KanikoMessageKind.StageSetup),
        ("Util.Lookup", KanikoMessageKind.BuildWork),

        ("Storing source image", KanikoMessageKind.BeginExtract),
        ("Skipping push to container registry", KanikoMessageKind.AllDestinationsPushed),
        ("Skipping unpacking", KanikoMessageKind.StageSetup),
        ("Saving file", KanikoMessageKind.BuildWork),

        ("Found cached layer, extracting", KanikoMessageKind.BeginExtract),
        ("Failed to retrieve image", KanikoMessageKind.Ignored),

        ("Pushing image to ", KanikoMessageKind.PushingImage),
        // v1.4-v1.7: one line after every destination was written.
        ("Pushed image to ", KanikoMessageKind.AllDestinationsPushed),
        ("Pushed images to ", KanikoMessageKind.AllDestinationsPushed),
        ("Pushed ", KanikoMessageKind.PushedReference),
        ("Pushing layer ", KanikoMessageKind.PushingLayer),
        ("Performing slow lookup", KanikoMessageKind.BuildWork),

        ("No cached layer found for cmd", KanikoMessageKind.CacheMiss),
        ("No base image", KanikoMessageKind.StageSetup),
        ("No files", KanikoMessageKind.BuildWork),

        ("Cache entry expired", KanikoMessageKind.CacheMiss),
        ("Checking for cached layer ", KanikoMessageKind.CheckingCachedLayer),
        ("Cmd:", KanikoMessageKind.BuildWork),
        ("Changed working directory", KanikoMessageKind.BuildWork),
        ("Creating directory", KanikoMessageKind.BuildWork),

        ("Built cross stage deps", KanikoMessageKind.StageSetup),
        ("Building stage", KanikoMessageKind.StageSetup),
        ("Base image from previous stage", KanikoMessageKind.StageSetup),

        ("Executing ", KanikoMessageKind.Executing),
        ("Error uploading layer to cache", KanikoMessageKind.CacheUploadError),

        ("Args:", KanikoMessageKind.BuildWork),

        ("Initializing snapshotter", KanikoMessageKind.BuildWork),
        ("Immutable tag error ignored for ", KanikoMessageKind.ImmutableTagIgnored),

        ("Taking snapshot", KanikoMessageKind.BuildWork),
        ("Timed out snapshotting FS", KanikoMessageKind.SnapshotTimeout),
    ];

    // Table entries by lower-case first letter ('a' … 'z'), in table order.
    private static readonly (string Prefix, KanikoMessageKind Kind)[][] ByLetter = BuildBuckets();

    /// <summary>The kind of <paramref name="message"/> and the length of the prefix that told it (0 for <see cref="KanikoMessageKind.Other"/>).</summary>
    public static KanikoMessageKind Classify(ReadOnlySpan<char> message, out int prefixLength)
    {
        prefixLength = 0;
        var bucket = message.Length > 0 ? char.ToLowerInvariant(message[0]) - 'a' : -1;
        if ((uint)bucket >= (uint)ByLetter.Length)
        {
            return KanikoMessageKind.Other;
        }

        foreach (var (prefix, kind) in ByLetter[bucket])
        {
            if (message.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                prefixLength = prefix.Length;
                return kind;
            }
        }

        return KanikoMessageKind.Other;
    }

    /// <summary>The host after the last " registry " (or "registry mirror "), trimmed; null when absent.</summary>
    public static string? RegistryOf(ReadOnlySpan<char> m)
    {
        var at = m.LastIndexOf(" registry ", StringComparison.OrdinalIgnoreCase);
        if (at < 0)
        {
            return null;
        }
        var rest = m[(at + " registry ".Length)..].Trim();
        if (rest.StartsWith("mirror ", StringComparison.OrdinalIgnoreCase))
        {
            rest = rest["mirror ".Length..].Trim();
        }
        var end = rest.IndexOfAny(' ', '"');
        if (end >= 0)
        {
            rest = rest[..end];
        }
        return rest.IsEmpty ? null : rest.ToString().ToLowerInvariant();
    }

    public static bool IsInstructionEcho(ReadOnlySpan<char> m)
    {
        if (m.Length < 3 || !char.IsAsciiLetterUpper(m[0]))
        {
            return false;
        }

        var space = m.IndexOf(' ');
        var word = space < 0 ? m : m[..space];
        return word switch
        {
            "RUN" or "COPY" or "ADD" or "WORKDIR" or "ENV" or "ARG" or "LABEL" or "EXPOSE" or "USER" or "VOLUME"
                or "CMD" or "ENTRYPOINT" or "HEALTHCHECK" or "SHELL" or "STOPSIGNAL" or "ONBUILD" or "MAINTAINER" => true,
            _ => false,
        };
    }

    private static (string Prefix, KanikoMessageKind Kind)[][] BuildBuckets()
    {
        var buckets = new (string Prefix, KanikoMessageKind Kind)[26][];
        for (var letter = 0; letter < buckets.Length; letter++)
        {
            buckets[letter] = [.. Table.Where(e => char.ToLowerInvariant(e.Prefix[0]) - 'a' == letter)];
        }

        return buckets;
    }
}
