using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace BuildFarm.Kaniko.Specs;

/// <summary>The kinds of build context the farm accepts (docs/architecture.md, Kaniko rule 6).</summary>
public enum BuildContextKind
{
    /// <summary><c>git://host/repo.git[#ref[#commit]]</c>: cloned by Kaniko; private repositories may not work.</summary>
    Git,

    /// <summary><c>https://host/path/ctx.tar.gz</c> (or <c>.tgz</c>).</summary>
    HttpsTarball,

    /// <summary><c>s3://bucket/key</c>: a gzipped tarball in S3.</summary>
    S3,

    /// <summary><c>gs://bucket/key</c>: a gzipped tarball in Google Cloud Storage.</summary>
    Gcs,

    /// <summary><c>dir:///absolute/path</c>: a directory inside the Kaniko container (a mounted volume).</summary>
    Directory,
}

/// <summary>
/// A parsed, checked build context URL. <see cref="Normalized"/> is what the build key hashes: the
/// scheme and host lower-cased, a git context pinned to a commit reduced to that commit (the branch
/// name does not change the source), a directory path without <c>.</c>/<c>..</c> or a trailing slash.
/// </summary>
public sealed partial record BuildContext(BuildContextKind Kind, string Value, string Normalized)
{
    /// <summary>The forms the farm accepts, for error messages and docs.</summary>
    public const string AllowedForms =
        "git://host/repo.git[#ref[#commit]], https://host/path/context.tar.gz (or .tgz), s3://bucket/key, gs://bucket/key, dir:///absolute/path";

    public static bool TryParse(string? value, [NotNullWhen(true)] out BuildContext? context, [NotNullWhen(false)] out string? error)
    {
        context = null;
        if (string.IsNullOrWhiteSpace(value))
        {
            error = $"is required; allowed forms: {AllowedForms}";
            return false;
        }
        if (value.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            error = "must not contain whitespace or control characters";
            return false;
        }
        var schemeEnd = value.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd <= 0)
        {
            error = $"'{value}' has no scheme; allowed forms: {AllowedForms}";
            return false;
        }
        var scheme = value[..schemeEnd].ToLowerInvariant();
        var rest = value[(schemeEnd + 3)..];
        switch (scheme)
        {
            case "git":
                return TryParseGit(value, rest, out context, out error);
            case "https":
                return TryParseHttps(value, rest, out context, out error);
            case "s3":
            case "gs":
                return TryParseBucket(value, scheme, rest, out context, out error);
            case "dir":
                return TryParseDirectory(value, rest, out context, out error);
            default:
                error = $"scheme '{scheme}://' is not supported; allowed forms: {AllowedForms}";
                return false;
        }
    }

    private static bool TryParseGit(string value, string rest, out BuildContext? context, out string? error)
    {
        context = null;
        var fragments = rest.Split('#');
        if (fragments.Length > 3)
        {
            error = $"'{value}' has too many '#' parts; use git://host/repo.git#ref#commit";
            return false;
        }
        var location = fragments[0];
        var slash = location.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || slash == location.Length - 1)
        {
            error = $"'{value}' must name a host and a repository path, e.g. git://github.com/acme/app.git";
            return false;
        }
        var host = location[..slash];
        if (!HostPortRegex().IsMatch(host))
        {
            error = $"git host '{host}' is invalid";
            return false;
        }
        var gitRef = fragments.Length > 1 ? fragments[1] : "";
        var commit = fragments.Length > 2 ? fragments[2] : "";
        if (commit.Length > 0 && !CommitRegex().IsMatch(commit))
        {
            error = $"git commit '{commit}' must be 7 to 64 hex digits";
            return false;
        }
        var normalizedLocation = host.ToLowerInvariant() + location[slash..];
        var normalized = commit.Length > 0
            ? $"git://{normalizedLocation}##{commit.ToLowerInvariant()}"
            : gitRef.Length > 0 ? $"git://{normalizedLocation}#{gitRef}" : $"git://{normalizedLocation}";
        context = new BuildContext(BuildContextKind.Git, value, normalized);
        error = null;
        return true;
    }

    private static bool TryParseHttps(string value, string rest, out BuildContext? context, out string? error)
    {
        context = null;
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            error = $"'{value}' is not a valid https URL";
            return false;
        }
        if (!uri.AbsolutePath.EndsWith(".tar.gz", StringComparison.OrdinalIgnoreCase)
            && !uri.AbsolutePath.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase))
        {
            error = $"'{value}' must point at a .tar.gz or .tgz archive";
            return false;
        }
        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            error = "must not carry credentials in the URL";
            return false;
        }
        var hostAndPort = uri.IsDefaultPort ? uri.Host : $"{uri.Host}:{uri.Port}";
        var pathAndQuery = rest[(rest.IndexOf('/', StringComparison.Ordinal) is var i and >= 0 ? i : rest.Length)..];
        context = new BuildContext(BuildContextKind.HttpsTarball, value, $"https://{hostAndPort.ToLowerInvariant()}{pathAndQuery}");
        error = null;
        return true;
    }

    private static bool TryParseBucket(string value, string scheme, string rest, out BuildContext? context, out string? error)
    {
        context = null;
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        var bucket = slash < 0 ? rest : rest[..slash];
        var key = slash < 0 ? "" : rest[(slash + 1)..];
        if (!BucketRegex().IsMatch(bucket))
        {
            error = $"bucket '{bucket}' is invalid (3-63 lower-case letters, digits, '.', '-', '_')";
            return false;
        }
        if (key.Length == 0 || key.EndsWith('/'))
        {
            error = $"'{value}' must name an object: {scheme}://bucket/path/context.tar.gz";
            return false;
        }
        context = new BuildContext(scheme == "s3" ? BuildContextKind.S3 : BuildContextKind.Gcs, value, $"{scheme}://{bucket}/{key}");
        error = null;
        return true;
    }

    private static bool TryParseDirectory(string value, string rest, out BuildContext? context, out string? error)
    {
        context = null;
        if (!rest.StartsWith('/'))
        {
            error = $"'{value}' must be an absolute path: dir:///path/in/the/kaniko/container";
            return false;
        }
        if (!RelativePath.TryNormalize(rest.TrimStart('/'), out var normalizedPath, out var pathError))
        {
            error = $"directory path {pathError}";
            return false;
        }
        context = new BuildContext(BuildContextKind.Directory, value, "dir:///" + normalizedPath);
        error = null;
        return true;
    }

    [GeneratedRegex(@"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?\z", RegexOptions.CultureInvariant)]
    private static partial Regex HostPortRegex();

    [GeneratedRegex(@"^[0-9a-fA-F]{7,64}\z", RegexOptions.CultureInvariant)]
    private static partial Regex CommitRegex();

    [GeneratedRegex(@"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]\z", RegexOptions.CultureInvariant)]
    private static partial Regex BucketRegex();
}
