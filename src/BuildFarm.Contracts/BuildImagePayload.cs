using System.Text.Json;

namespace BuildFarm.Contracts;

/// <summary>
/// A <see cref="BuildImage"/> as text, for a build that waits in the admission store (docs/scheduling.md "Admission") until
/// it is released to the broker. Producers and releasers use this one format, so any of them may release any build.
/// </summary>
public static class BuildImagePayload
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);

    public static string Serialize(BuildImage command) => JsonSerializer.Serialize(command, Options);

    /// <summary>The command a payload holds; <see cref="JsonException"/> when it holds none.</summary>
    public static BuildImage Deserialize(string payload) =>
        JsonSerializer.Deserialize<BuildImage>(payload, Options) ?? throw new JsonException("an admission payload holds no BuildImage");
}
