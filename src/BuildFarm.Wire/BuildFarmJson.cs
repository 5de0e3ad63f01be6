using System.Text.Json;
using System.Text.Json.Serialization;

namespace BuildFarm.Wire;

/// <summary>The JSON form of the HTTP API: camelCase properties, enums as lower-case snake-case strings
/// (<c>"queued"</c>), nulls left out. The API host and the client both use it.</summary>
public static class BuildFarmJson
{
    public static JsonSerializerOptions Options { get; } = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    /// <summary>Applies the API's settings to <paramref name="options"/> (the host's HTTP JSON options).</summary>
    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
        return options;
    }
}
