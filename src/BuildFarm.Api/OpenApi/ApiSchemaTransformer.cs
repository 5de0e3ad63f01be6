using System.Globalization;
using System.Reflection;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using BuildFarm.Api.Options;
using BuildFarm.Api.Submissions;
using BuildFarm.Contracts;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;

namespace BuildFarm.Api.OpenApi;

/// <summary>
/// Makes the document's schemas say what the API does (docs/api.md "The OpenAPI document"):
/// <list type="bullet">
/// <item>enums are <c>"type": "string"</c> with their wire names (<see cref="BuildState"/>);</item>
/// <item>numbers are numbers: the API writes them as JSON numbers, so the <c>["integer", "string"]</c> that ASP.NET
/// derives from the serializer's lenient reading is narrowed to <c>integer</c>;</item>
/// <item>an answer's schema requires exactly the fields the API always sends (non-null by the type's nullable
/// annotations; nulls are left out), so <c>continue</c> of the last page is optional;</item>
/// <item>a request's schema requires and bounds what the validators require and bound (<see cref="SubmitValidator"/>,
/// <see cref="Kaniko.Specs.BuildSpecValidator"/>), with the limits of this API's settings.</item>
/// </list>
/// </summary>
internal sealed class ApiSchemaTransformer(IOptions<ApiOptions> options) : IOpenApiSchemaTransformer
{
    /// <summary>Types the API only sends: their required fields are the ones it always writes.</summary>
    private static readonly HashSet<Type> Answers = [typeof(BuildRecord), typeof(AttemptRecord), typeof(BatchStatus), typeof(BatchImageStatus), typeof(BuildPage)];

    /// <summary>A batch image's name (SubmitValidator's pattern, as a JSON Schema pattern).</summary>
    public const string ImageNamePattern = "^[a-z0-9][a-z0-9._-]{0,62}$";

    /// <summary>A dependency's build arg (SubmitValidator's pattern).</summary>
    public const string BuildArgPattern = "^[A-Za-z_][A-Za-z0-9_]*$";

    public Task TransformAsync(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentNullException.ThrowIfNull(context);
        NarrowNumber(schema);
        var type = context.JsonTypeInfo.Type;
        if ((Nullable.GetUnderlyingType(type) ?? type) == typeof(BuildState))
        {
            schema.Type = type == typeof(BuildState) ? JsonSchemaType.String : JsonSchemaType.String | JsonSchemaType.Null;
            schema.Enum = [.. Enum.GetValues<BuildState>().Select(s => (JsonNode)JsonValue.Create(s.ToWire()))];
            schema.Description ??= "Where a build stands: waiting (a batch image whose dependencies have not succeeded), queued, running, retrying, succeeded, failed, cancelled";
            return Task.CompletedTask;
        }
        // An object's schema: also when it is met as another type's property (BuildSpec is only ever "spec").
        if (schema.Properties is null)
        {
            return Task.CompletedTask;
        }
        if (Answers.Contains(type))
        {
            schema.Required = new SortedSet<string>(context.JsonTypeInfo.Properties.Where(AlwaysSent).Select(p => p.Name), StringComparer.Ordinal);
        }
        if (type == typeof(AttemptRecord))
        {
            // Null in the stored record, always set in an answer (BuildRecord.AsWire).
            Require(schema, "log");
            if (Property(schema, "log") is { } log)
            {
                log.Type = JsonSchemaType.String;
                log.Description = "The attempt's log: /v1/builds/{id}/logs?attempt=N (GET it as text/plain, or with follow=true as Server-Sent Events)";
            }
        }
        var api = options.Value;
        var spec = api.SpecValidation();
        if (type == typeof(SubmitBuildRequest))
        {
            Require(schema, "spec");
            Range(Property(schema, "priority"), 0, SubmitValidator.MaxPriority);
        }
        else if (type == typeof(SubmitBatchRequest))
        {
            Require(schema, "images");
            Range(Property(schema, "priority"), 0, SubmitValidator.MaxPriority);
            if (Property(schema, "images") is { } images)
            {
                images.MinItems = 1;
                images.MaxItems = api.MaxImagesPerBatch;
            }
            if (Property(schema, "source") is { } source)
            {
                source.MaxLength = SubmitValidator.MaxSourceLength;
            }
        }
        else if (type == typeof(BatchImageRequest))
        {
            Require(schema, "name", "spec");
            if (Property(schema, "name") is { } name)
            {
                name.Pattern = ImageNamePattern;
                name.MinLength = 1;
                name.MaxLength = 63;
            }
        }
        else if (type == typeof(BatchDependency))
        {
            schema.Required = new SortedSet<string>(["image"], StringComparer.Ordinal);
            if (Property(schema, "buildArg") is { } arg)
            {
                arg.Pattern = BuildArgPattern;
            }
        }
        else if (type == typeof(BuildSpec))
        {
            Require(schema, "context", "destinations");
            if (Property(schema, "dockerfile") is { } dockerfile)
            {
                dockerfile.Default = JsonValue.Create(new BuildSpec { Context = "" }.Dockerfile);
            }
            if (Property(schema, "destinations") is { } destinations)
            {
                destinations.MinItems = 1;
                destinations.MaxItems = spec.MaxDestinations;
            }
            if (Property(schema, "buildArgs") is { } buildArgs)
            {
                buildArgs.MaxProperties = spec.MaxBuildArgs;
            }
            if (Property(schema, "labels") is { } labels)
            {
                labels.MaxProperties = spec.MaxLabels;
            }
            Range(Property(schema, "deadlineSeconds"), 1, spec.MaxDeadlineSeconds);
        }
        else if (type == typeof(BuildResources))
        {
            foreach (var quantity in schema.Properties.Values.OfType<OpenApiSchema>())
            {
                quantity.MaxLength = 32;
            }
        }
        return Task.CompletedTask;
    }

    /// <summary>The API writes numbers as numbers: <c>["integer", "string"]</c> (the serializer also reads "5") becomes
    /// <c>integer</c>, keeping <c>null</c> where the type had it.</summary>
    private static void NarrowNumber(OpenApiSchema schema)
    {
        if (schema.Type is { } t && t.HasFlag(JsonSchemaType.String) && (t.HasFlag(JsonSchemaType.Integer) || t.HasFlag(JsonSchemaType.Number)))
        {
            schema.Type = t & ~JsonSchemaType.String;
            schema.Pattern = null;
        }
    }

    /// <summary>Sent on every answer: a non-nullable value type, or a reference annotated non-null (the API leaves nulls out).</summary>
    private static bool AlwaysSent(JsonPropertyInfo property)
    {
        var type = property.PropertyType;
        if (type.IsValueType)
        {
            return Nullable.GetUnderlyingType(type) is null;
        }
        return property.AttributeProvider is PropertyInfo info && new NullabilityInfoContext().Create(info).ReadState == NullabilityState.NotNull;
    }

    private static OpenApiSchema? Property(OpenApiSchema schema, string name) =>
        schema.Properties is { } properties && properties.TryGetValue(name, out var property) ? property as OpenApiSchema : null;

    private static void Require(OpenApiSchema schema, params string[] names)
    {
        schema.Required ??= new SortedSet<string>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            schema.Required.Add(name);
        }
    }

    private static void Range(OpenApiSchema? schema, int minimum, int maximum)
    {
        if (schema is null)
        {
            return;
        }
        schema.Minimum = minimum.ToString(CultureInfo.InvariantCulture);
        schema.Maximum = maximum.ToString(CultureInfo.InvariantCulture);
    }
}
