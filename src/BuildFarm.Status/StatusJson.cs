using System.Text.Json;
using System.Text.Json.Serialization;

namespace BuildFarm.Status;

/// <summary>
/// The one JSON form of the status model (Redis values, pub/sub messages; the API may reuse it): web defaults
/// (camelCase), <see cref="BuildState"/> as its lower-case wire name, nulls left out.
/// </summary>
public static class StatusJson
{
    public static JsonSerializerOptions Options { get; } = Create();

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        };
        options.Converters.Add(new BuildStateJsonConverter());
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}

/// <summary><see cref="BuildState"/> as <c>"queued"</c>, <c>"running"</c>…; an unknown name is an error naming it.</summary>
public sealed class BuildStateJsonConverter : JsonConverter<BuildState>
{
    public override BuildState Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var wire = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
        return BuildStates.TryParse(wire, out var state)
            ? state
            : throw new JsonException($"'{wire}' is not a build state (one of {string.Join(", ", Enum.GetValues<BuildState>().Select(s => s.ToWire()))})");
    }

    public override void Write(Utf8JsonWriter writer, BuildState value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.ToWire());
}
