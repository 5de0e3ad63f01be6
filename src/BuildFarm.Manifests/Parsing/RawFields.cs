using BuildFarm.Manifests.Model;

namespace BuildFarm.Manifests.Parsing;

/// <summary>A scalar value and where it was written.</summary>
internal readonly record struct Located<T>(T Value, ManifestLocation Location);

/// <summary>A map entry (build arg, label) in the order written.</summary>
internal sealed record RawEntry(string Key, string Value, ManifestLocation Location);

internal sealed record RawDependency(int Index, string Image, string? BuildArg, ManifestLocation Location, ManifestLocation BuildArgLocation);

/// <summary>What one <c>images:</c> entry or the <c>defaults:</c> block says, before merging; null = not written.</summary>
internal sealed class RawFields
{
    public ManifestLocation Start { get; set; }

    /// <summary>Errors recorded while reading this entry: when any, the spec is not checked as a whole (it would only echo them).</summary>
    public int ReadErrors { get; set; }
    public Located<string>? Name { get; set; }
    public Located<string>? Context { get; set; }
    public Located<string>? ContextSubPath { get; set; }
    public Located<string>? Dockerfile { get; set; }
    public Located<string>? Target { get; set; }
    public Located<string>? Platform { get; set; }
    public Located<string>? CacheRepo { get; set; }
    public Located<string>? Schedule { get; set; }
    public Located<bool>? Cache { get; set; }
    public Located<int>? DeadlineSeconds { get; set; }
    public ManifestLocation PlatformsLocation { get; set; }
    public List<Located<string>>? Platforms { get; set; }
    public ManifestLocation DestinationsLocation { get; set; }
    public List<Located<string>>? Destinations { get; set; }
    public ManifestLocation BuildArgsLocation { get; set; }
    public List<RawEntry>? BuildArgs { get; set; }
    public ManifestLocation LabelsLocation { get; set; }
    public List<RawEntry>? Labels { get; set; }
    public ManifestLocation ResourcesLocation { get; set; }
    public Dictionary<string, Located<string>>? Resources { get; set; }
    public ManifestLocation DependsOnLocation { get; set; }
    public List<RawDependency>? DependsOn { get; set; }
}
