using BuildFarm.Contracts;
using BuildFarm.Kaniko.Dockerfiles;
using BuildFarm.Kaniko.Specs;

namespace BuildFarm.Worker.Builds;

/// <summary>A Dockerfile the preflight rejects: the build fails with <see cref="Reason"/> before any pod starts.</summary>
/// <param name="Reason"><c>filesystem_conflict</c> (it touches /workspace or /kaniko) or <c>dockerfile_invalid</c>.</param>
/// <param name="Detail">Every error finding: code, line and rule, never the Dockerfile's text.</param>
public sealed record PreflightRejection(string Reason, string Detail);

/// <summary>
/// The worker's Dockerfile preflight (Kaniko rule 5 in docs/architecture.md): where the Dockerfile is readable by the worker — a
/// <c>dir://</c> context on a path the worker sees too (a shared volume) — it runs <see cref="DockerfilePreflight"/>
/// before any pod is created. Other contexts (git, tarballs) are fetched by Kaniko itself and are not checked here.
/// <para>
/// A <c>dir://</c> context names a path on the farm's own machines, so it is the one place where a request makes the farm
/// read its own disk. It is refused unless it lies under one of <c>Worker:AllowedContextRoots</c> once <c>..</c> and
/// symbolic links are resolved (<see cref="ContextRoots"/>); only a regular file of at most
/// <c>Worker:MaxDockerfileBytes</c> is read; and a rejection names each finding's code, line and rule but never quotes
/// the file (docs/security.md "dir:// contexts").
/// </para>
/// </summary>
public static class WorkerPreflight
{
    /// <summary>The context directory and the Dockerfile's path on this machine for a <c>dir://</c> context, or null for
    /// any other context.</summary>
    public static (string Directory, string Dockerfile)? Paths(BuildSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (!BuildContext.TryParse(spec.Context, out var context, out _) || context.Kind != BuildContextKind.Directory)
        {
            return null;
        }
        var directory = "/" + context.Normalized["dir:///".Length..];
        var subPath = string.IsNullOrEmpty(spec.ContextSubPath) ? "" : spec.ContextSubPath.TrimStart('/');
        return (directory, Path.Combine(directory, subPath, string.IsNullOrEmpty(spec.Dockerfile) ? "Dockerfile" : spec.Dockerfile));
    }

    /// <summary>The Dockerfile's path on this machine for a <c>dir://</c> context, or null for any other context.</summary>
    public static string? DockerfilePath(BuildSpec spec) => Paths(spec)?.Dockerfile;

    /// <summary>
    /// The rejection for a <c>dir://</c> context outside <paramref name="allowedRoots"/>, a Dockerfile over
    /// <paramref name="maxBytes"/>, or a readable Dockerfile with preflight errors; null when the build may go on (clean,
    /// not a <c>dir://</c> context, or not readable here: Kaniko reports it then).
    /// </summary>
    public static async Task<PreflightRejection?> CheckAsync(BuildSpec spec, IEnumerable<string> allowedRoots, long maxBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(allowedRoots);
        if (Paths(spec) is not var (directory, path))
        {
            return null;
        }
        if (!ContextRoots.IsAllowed(directory, path, allowedRoots, out var refused))
        {
            return new PreflightRejection(FailureReasons.DockerfileInvalid, $"context: {refused} (Worker:AllowedContextRoots)");
        }
        // Read the resolved path: what was checked is what is read.
        if (!ContextRoots.TryResolve(path, out var resolved))
        {
            return null;
        }
        var info = new FileInfo(resolved);
        // Only a regular file with a size: a FIFO, a device or a /proc file has length 0 and is never opened.
        if (!info.Exists || info.Length == 0 || info.Attributes.HasFlag(FileAttributes.Directory))
        {
            return info.Exists && info.Length == 0 ? Reject("", spec) : null;
        }
        if (info.Length > maxBytes)
        {
            return new PreflightRejection(FailureReasons.DockerfileInvalid,
                $"dockerfile: {info.Length} bytes, over the limit of {maxBytes} (Worker:MaxDockerfileBytes)");
        }
        string text;
        try
        {
            await using var stream = new FileStream(resolved, FileMode.Open, FileAccess.Read, FileShare.Read, 4096, FileOptions.Asynchronous);
            var buffer = new byte[maxBytes + 1];
            var total = 0;
            int read;
            while (total < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(total), cancellationToken).ConfigureAwait(false)) > 0)
            {
                total += read;
            }
            if (total > maxBytes)
            {
                return new PreflightRejection(FailureReasons.DockerfileInvalid, $"dockerfile: over the limit of {maxBytes} bytes (Worker:MaxDockerfileBytes)");
            }
            text = new System.Text.UTF8Encoding(false, false).GetString(buffer, 0, total);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        return Reject(text, spec);
    }

    /// <summary>The rejection for <paramref name="dockerfile"/> (pure): null without error findings. The detail names each
    /// error's code, line and rule, never the Dockerfile's text (it was read from this machine's disk).</summary>
    public static PreflightRejection? Reject(string dockerfile, BuildSpec spec)
    {
        ArgumentNullException.ThrowIfNull(dockerfile);
        ArgumentNullException.ThrowIfNull(spec);
        var errors = DockerfilePreflight.Check(dockerfile, new PreflightOptions { BuildArgs = spec.BuildArgs, Context = spec.Context })
            .Where(f => f.Severity == PreflightSeverity.Error)
            .ToList();
        if (errors.Count == 0)
        {
            return null;
        }
        // A filesystem conflict is the more specific reason: it names what breaks Kaniko.
        var reason = errors.Any(f => f.Reason == FailureReasons.FilesystemConflict) ? FailureReasons.FilesystemConflict : FailureReasons.DockerfileInvalid;
        var detail = "Dockerfile preflight: " + string.Join("; ", errors.Select(f => $"{f.Code} line {f.Line}: {PreflightCodes.Rule(f.Code)}"))
            + " (run 'buildfarm kaniko preflight' on the Dockerfile for the full messages)";
        return new PreflightRejection(reason, detail);
    }
}
