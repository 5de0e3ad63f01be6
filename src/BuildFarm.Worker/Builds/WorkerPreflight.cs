using BuildFarm.Contracts;
using BuildFarm.Kaniko.Dockerfiles;
using BuildFarm.Kaniko.Specs;

namespace BuildFarm.Worker.Builds;

/// <summary>A Dockerfile the preflight rejects: the build fails with <see cref="Reason"/> before any pod starts.</summary>
/// <param name="Reason"><c>filesystem_conflict</c> (it touches /workspace or /kaniko) or <c>dockerfile_invalid</c>.</param>
/// <param name="Detail">Every error finding: code, line and message.</param>
public sealed record PreflightRejection(string Reason, string Detail);

/// <summary>
/// The worker's Dockerfile preflight (Kaniko rule 5 in docs/architecture.md): where the Dockerfile is readable by the worker — a
/// <c>dir://</c> context on a path the worker sees too (a shared volume) — it runs <see cref="DockerfilePreflight"/>
/// before any pod is created. Other contexts (git, tarballs) are fetched by Kaniko itself and are not checked here.
/// </summary>
public static class WorkerPreflight
{
    /// <summary>The Dockerfile's path on this machine for a <c>dir://</c> context, or null for any other context.</summary>
    public static string? DockerfilePath(BuildSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (!BuildContext.TryParse(spec.Context, out var context, out _) || context.Kind != BuildContextKind.Directory)
        {
            return null;
        }
        var directory = "/" + context.Normalized["dir:///".Length..];
        var subPath = string.IsNullOrEmpty(spec.ContextSubPath) ? "" : spec.ContextSubPath.TrimStart('/');
        return Path.Combine(directory, subPath, string.IsNullOrEmpty(spec.Dockerfile) ? "Dockerfile" : spec.Dockerfile);
    }

    /// <summary>The rejection for a readable Dockerfile with preflight errors; null when it is clean or cannot be read here.</summary>
    public static async Task<PreflightRejection?> CheckAsync(BuildSpec spec, CancellationToken cancellationToken)
    {
        var path = DockerfilePath(spec);
        if (path is null || !File.Exists(path))
        {
            return null;
        }
        string text;
        try
        {
            text = await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        return Reject(text, spec);
    }

    /// <summary>The rejection for <paramref name="dockerfile"/> (pure): null without error findings.</summary>
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
        var detail = "Dockerfile preflight: " + string.Join("; ", errors.Select(f => $"{f.Code} line {f.Line}: {f.Message}"));
        return new PreflightRejection(reason, detail);
    }
}
