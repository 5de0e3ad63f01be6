using BuildFarm.Kaniko.Pods;

namespace BuildFarm.Worker.Options;

/// <summary>Option checks that name their section (the options adapter itself is BuildFarm.Hosting's SectionValidator).</summary>
internal static class SectionValidators
{
    public static IReadOnlyList<string> Kaniko(KanikoPodOptions options) =>
        [.. options.Validate().Select(e => $"{KanikoPodOptions.SectionName}:{e}")];
}
