using Microsoft.Extensions.Configuration;

namespace BuildFarm.Messaging.Hosting;

/// <summary>
/// The start-up check of a host's configuration (appsettings files, environment, command line): a section no BuildFarm
/// host reads (a typo such as <c>Reddis__ConnectionString</c>) and a setting under its old name each give a warning, so
/// that a setting is never silently ignored.
/// </summary>
public static class ConfigurationCheck
{
    /// <summary>Sections some BuildFarm host reads. A host given another host's section (one ConfigMap shared by the
    /// worker and the API) ignores it without a warning.</summary>
    public static readonly IReadOnlySet<string> FarmSections = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "Api", "Bus", "Redis", "Status", "Scheduler", "Worker", "Kaniko", "Kubernetes", "Registry",
    };

    /// <summary>Sections of ASP.NET Core and .NET hosting itself.</summary>
    public static readonly IReadOnlySet<string> StandardSections = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "Logging", "Kestrel", "AllowedHosts", "Urls", "HostFiltering", "ForwardedHeaders", "OpenTelemetry", "Otel",
    };

    /// <summary>
    /// One warning per problem, each naming the setting: a section (a key with sub-keys, e.g. <c>Reddis:ConnectionString</c>
    /// or the environment variable <c>Reddis__ConnectionString</c>) that neither this host, another BuildFarm host nor
    /// ASP.NET Core reads; a setting given under its old name. Plain keys without sub-keys are not checked: every
    /// environment variable (<c>PATH</c>, <c>HOME</c>) is one.
    /// </summary>
    public static IReadOnlyList<string> Check(IConfiguration configuration, string host, HostSettings settings)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(settings);
        var warnings = new List<string>();
        var read = new HashSet<string>(settings.Sections, StringComparer.OrdinalIgnoreCase);
        foreach (var section in configuration.GetChildren().OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            if (read.Contains(section.Key) || FarmSections.Contains(section.Key) || StandardSections.Contains(section.Key))
            {
                continue;
            }
            var keys = section.GetChildren().Select(c => $"{section.Key}:{c.Key}").Order(StringComparer.Ordinal).ToList();
            if (keys.Count == 0)
            {
                continue;
            }
            warnings.Add($"configuration section '{section.Key}' ({string.Join(", ", keys.Take(3))}{(keys.Count > 3 ? ", …" : "")}) is not a "
                + $"BuildFarm setting and is ignored; {host} reads {string.Join(", ", settings.Sections)}");
        }
        foreach (var (old, current) in settings.Renamed.OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            if (string.IsNullOrWhiteSpace(configuration[old]))
            {
                continue;
            }
            var both = !string.IsNullOrWhiteSpace(configuration[current]);
            warnings.Add($"{old} is deprecated: use {current} (environment {current.Replace(":", "__", StringComparison.Ordinal)}), the same setting "
                + "on every host; " + (both ? $"{current} is also set and wins" : $"{old} is still honoured for now"));
        }
        return warnings;
    }

    /// <summary>
    /// The settings of <paramref name="settings"/>' <see cref="HostSettings.Requirements"/> that cannot work together
    /// (errors, not warnings: the host must not start with them), each naming its settings.
    /// </summary>
    public static IReadOnlyList<string> Problems(IConfiguration configuration, HostSettings settings)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(settings);
        return [.. (settings.Requirements ?? []).Select(requirement => requirement(configuration)).OfType<string>()];
    }
}
