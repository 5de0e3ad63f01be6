using System.Globalization;

namespace BuildFarm.ClusterSim.Kaniko;

/// <summary>Kaniko log formats (<c>--log-format</c>).</summary>
public enum KanikoLogFormat
{
    Color,
    Text,
    Json,
}

/// <summary>
/// The executor flags the simulator acts on, read from a pod container's <c>args</c> (or <c>command</c> after
/// <c>/kaniko/executor</c>). Both <c>--flag=value</c> and <c>--flag value</c> spellings are accepted, as cobra does.
/// </summary>
public sealed record KanikoArgs
{
    public string Context { get; init; } = "/workspace/";
    public string Dockerfile { get; init; } = "Dockerfile";
    public IReadOnlyList<string> Destinations { get; init; } = [];
    public bool NoPush { get; init; }
    public int PushRetry { get; init; }
    public int ImageFsExtractRetry { get; init; }
    public int ImageDownloadRetry { get; init; }
    public bool LogTimestamp { get; init; }
    public KanikoLogFormat LogFormat { get; init; } = KanikoLogFormat.Color;
    public bool Cache { get; init; }
    public string? CacheRepo { get; init; }
    public string? DigestFile { get; init; }

    /// <summary><c>--custom-platform</c>: the platform built (Kaniko's default is the node's).</summary>
    public string? CustomPlatform { get; init; }

    private static readonly HashSet<string> s_booleanFlags = new(StringComparer.Ordinal)
    {
        "no-push", "log-timestamp", "cache", "insecure", "insecure-pull", "skip-tls-verify", "skip-tls-verify-pull",
        "reproducible", "single-snapshot", "use-new-run", "cleanup", "force", "skip-unused-stages",
        "skip-push-permission-check", "compressed-caching", "cache-copy-layers", "cache-run-layers", "ignore-var-run",
        "skip-default-registry-fallback", "push-ignore-immutable-tag-errors", "no-push-cache",
    };

    /// <summary>Parses executor arguments. Unknown flags are ignored; a bad value for a known flag throws
    /// <see cref="FormatException"/> naming the flag.</summary>
    public static KanikoArgs Parse(IEnumerable<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var list = args.ToList();
        var result = new KanikoArgs();
        var destinations = new List<string>();
        for (var i = 0; i < list.Count; i++)
        {
            var arg = list[i];
            if (!arg.StartsWith('-'))
            {
                continue;
            }
            var body = arg.TrimStart('-');
            string name;
            string? value;
            var eq = body.IndexOf('=', StringComparison.Ordinal);
            if (eq >= 0)
            {
                name = body[..eq];
                value = body[(eq + 1)..];
            }
            else
            {
                name = body;
                value = null;
                var shortOrValued = !s_booleanFlags.Contains(Long(name));
                if (shortOrValued && i + 1 < list.Count && !list[i + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    value = list[++i];
                }
            }
            name = Long(name);
            switch (name)
            {
                case "context": result = result with { Context = Required(name, value) }; break;
                case "dockerfile": result = result with { Dockerfile = Required(name, value) }; break;
                case "destination": destinations.Add(Required(name, value)); break;
                case "no-push": result = result with { NoPush = Bool(name, value) }; break;
                case "push-retry": result = result with { PushRetry = Int(name, value) }; break;
                case "image-fs-extract-retry": result = result with { ImageFsExtractRetry = Int(name, value) }; break;
                case "image-download-retry": result = result with { ImageDownloadRetry = Int(name, value) }; break;
                case "log-timestamp": result = result with { LogTimestamp = Bool(name, value) }; break;
                case "log-format": result = result with { LogFormat = Format(Required(name, value)) }; break;
                case "cache": result = result with { Cache = Bool(name, value) }; break;
                case "cache-repo": result = result with { CacheRepo = Required(name, value) }; break;
                case "digest-file": result = result with { DigestFile = Required(name, value) }; break;
                case "custom-platform": result = result with { CustomPlatform = Required(name, value) }; break;
                default: break;
            }
        }
        return result with { Destinations = destinations };
    }

    private static string Long(string name) => name switch
    {
        "c" => "context",
        "f" => "dockerfile",
        "d" => "destination",
        _ => name,
    };

    private static string Required(string name, string? value) =>
        string.IsNullOrEmpty(value) ? throw new FormatException($"flag --{name} needs a value") : value;

    private static bool Bool(string name, string? value) => value switch
    {
        null => true,
        _ when bool.TryParse(value, out var b) => b,
        _ => throw new FormatException($"flag --{name}: \"{value}\" is not a boolean"),
    };

    private static int Int(string name, string? value) =>
        int.TryParse(Required(name, value), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= 0
            ? n
            : throw new FormatException($"flag --{name}: \"{value}\" is not a non-negative integer");

    private static KanikoLogFormat Format(string value) => value switch
    {
        "color" => KanikoLogFormat.Color,
        "text" => KanikoLogFormat.Text,
        "json" => KanikoLogFormat.Json,
        _ => throw new FormatException($"flag --log-format: \"{value}\" is not one of color, text, json"),
    };
}
