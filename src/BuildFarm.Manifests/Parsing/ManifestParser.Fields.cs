using YamlDotNet.RepresentationModel;

namespace BuildFarm.Manifests.Parsing;

// Reading the raw fields of defaults and images (types and keys checked, nothing merged yet).
public static partial class ManifestParser
{
    private static RawFields? ReadDefaults(YamlFieldReader reader, YamlNode node)
    {
        if (YamlFieldReader.IsNull(node))
        {
            return null;
        }
        if (node is not YamlMappingNode mapping)
        {
            reader.Error(null, "defaults", YamlFieldReader.At(node), $"must be a mapping of image fields, not {YamlFieldReader.Describe(node)}");
            return null;
        }
        var allowed = YamlFieldReader.ImageKeys.Except(YamlFieldReader.ImageOnlyKeys).ToList();
        var raw = new RawFields { Start = YamlFieldReader.At(node) };
        foreach (var (key, keyNode, value) in reader.Entries(mapping, null, "defaults"))
        {
            if (YamlFieldReader.ImageOnlyKeys.Contains(key, StringComparer.Ordinal))
            {
                reader.Error(null, "defaults." + key, YamlFieldReader.At(keyNode), "is set per image; it is not allowed in defaults");
                continue;
            }
            if (!ReadField(reader, raw, null, "defaults.", key, value))
            {
                reader.UnknownKey(null, "defaults.", key, keyNode, allowed);
            }
        }
        return raw;
    }

    private static RawFields? ReadImage(YamlFieldReader reader, YamlNode node, int index)
    {
        if (node is not YamlMappingNode mapping)
        {
            reader.Error(null, $"images[{index}]", YamlFieldReader.At(node), $"must be a mapping with at least 'name', not {YamlFieldReader.Describe(node)}");
            return null;
        }
        var errorsAtStart = reader.ErrorCount;
        // The name first, so that every other error can name the image.
        string? name = null;
        var raw = new RawFields { Start = YamlFieldReader.At(node) };
        var nameEntry = mapping.Children.FirstOrDefault(e => e.Key is YamlScalarNode { Value: "name" });
        if (nameEntry.Value is { } nameNode)
        {
            raw.Name = reader.String(nameNode, null, $"images[{index}].name");
            if (raw.Name is { } n)
            {
                if (!NameRegex().IsMatch(n.Value) || n.Value.Length > 63)
                {
                    reader.Error(null, $"images[{index}].name", n.Location,
                        $"'{n.Value}' is not a valid image name (1-63 lower-case letters and digits, separated by single '.', '_' or '-')");
                    raw.Name = null;
                }
                else
                {
                    name = n.Value;
                }
            }
        }
        else
        {
            reader.Error(null, $"images[{index}].name", raw.Start, "is required");
        }

        foreach (var (key, keyNode, value) in reader.Entries(mapping, name, ""))
        {
            if (key == "name")
            {
                continue;
            }
            if (!ReadField(reader, raw, name, "", key, value))
            {
                reader.UnknownKey(name, "", key, keyNode, YamlFieldReader.ImageKeys);
            }
        }
        raw.ReadErrors = reader.ErrorCount - errorsAtStart;
        return raw.Name is null ? null : raw;
    }

    /// <summary>How each image field is read into <see cref="RawFields"/> (the keys of <see cref="YamlFieldReader.ImageKeys"/>
    /// except <c>name</c>, which is read first).</summary>
    private static readonly Dictionary<string, Action<YamlFieldReader, RawFields, string?, string, YamlNode>> FieldReaders =
        new(StringComparer.Ordinal)
        {
            ["context"] = (reader, raw, image, field, value) => raw.Context = reader.String(value, image, field),
            ["contextSubPath"] = (reader, raw, image, field, value) => raw.ContextSubPath = reader.String(value, image, field),
            ["dockerfile"] = (reader, raw, image, field, value) => raw.Dockerfile = reader.String(value, image, field),
            ["target"] = (reader, raw, image, field, value) => raw.Target = reader.String(value, image, field),
            ["platform"] = (reader, raw, image, field, value) => raw.Platform = reader.String(value, image, field),
            ["cacheRepo"] = (reader, raw, image, field, value) => raw.CacheRepo = reader.String(value, image, field),
            ["cache"] = (reader, raw, image, field, value) => raw.Cache = reader.Bool(value, image, field),
            ["deadlineSeconds"] = (reader, raw, image, field, value) => raw.DeadlineSeconds = reader.Int(value, image, field),
            ["schedule"] = (reader, raw, image, field, value) => raw.Schedule = reader.String(value, image, field),
            ["platforms"] = (reader, raw, image, field, value) =>
            {
                raw.PlatformsLocation = YamlFieldReader.At(value);
                raw.Platforms = reader.StringList(value, image, field);
            },
            ["destinations"] = (reader, raw, image, field, value) =>
            {
                raw.DestinationsLocation = YamlFieldReader.At(value);
                raw.Destinations = reader.StringList(value, image, field);
            },
            ["buildArgs"] = (reader, raw, image, field, value) =>
            {
                raw.BuildArgsLocation = YamlFieldReader.At(value);
                raw.BuildArgs = reader.StringMap(value, image, field);
            },
            ["labels"] = (reader, raw, image, field, value) =>
            {
                raw.LabelsLocation = YamlFieldReader.At(value);
                raw.Labels = reader.StringMap(value, image, field);
            },
            ["resources"] = (reader, raw, image, field, value) =>
            {
                raw.ResourcesLocation = YamlFieldReader.At(value);
                raw.Resources = ReadResources(reader, value, image, field);
            },
            ["dependsOn"] = (reader, raw, image, field, value) =>
            {
                raw.DependsOnLocation = YamlFieldReader.At(value);
                raw.DependsOn = ReadDependsOn(reader, value, image, field);
            },
        };

    /// <summary>Reads one field into <paramref name="raw"/>; false when the key is unknown.</summary>
    private static bool ReadField(YamlFieldReader reader, RawFields raw, string? image, string prefix, string key, YamlNode value)
    {
        if (!FieldReaders.TryGetValue(key, out var read))
        {
            return false;
        }
        read(reader, raw, image, prefix + key, value);
        return true;
    }

    private static Dictionary<string, Located<string>>? ReadResources(YamlFieldReader reader, YamlNode node, string? image, string field)
    {
        if (YamlFieldReader.IsNull(node))
        {
            return null;
        }
        if (node is not YamlMappingNode mapping)
        {
            reader.Error(image, field, YamlFieldReader.At(node), $"must be a mapping ({string.Join(", ", YamlFieldReader.ResourceKeys)}), not {YamlFieldReader.Describe(node)}");
            return null;
        }
        var resources = new Dictionary<string, Located<string>>(StringComparer.Ordinal);
        foreach (var (key, keyNode, value) in reader.Entries(mapping, image, field))
        {
            if (!YamlFieldReader.ResourceKeys.Contains(key, StringComparer.Ordinal))
            {
                reader.UnknownKey(image, field + ".", key, keyNode, YamlFieldReader.ResourceKeys);
            }
            else if (reader.String(value, image, $"{field}.{key}") is { } quantity)
            {
                resources[key] = quantity;
            }
        }
        return resources;
    }

    private static List<RawDependency>? ReadDependsOn(YamlFieldReader reader, YamlNode node, string? image, string field)
    {
        if (YamlFieldReader.IsNull(node))
        {
            return null;
        }
        IEnumerable<YamlNode> items = node switch
        {
            YamlSequenceNode sequence => sequence.Children,
            YamlScalarNode => [node],
            _ => [],
        };
        if (node is YamlMappingNode)
        {
            reader.Error(image, field, YamlFieldReader.At(node), "must be a list (of image names or {image: NAME, buildArg: ARG} entries), not a mapping");
            return null;
        }
        var dependencies = new List<RawDependency>();
        var index = 0;
        foreach (var item in items)
        {
            var itemField = $"{field}[{index}]";
            var at = YamlFieldReader.At(item);
            switch (item)
            {
                case YamlScalarNode when YamlFieldReader.IsNull(item):
                    reader.Error(image, itemField, at, "is empty; name an image");
                    break;
                case YamlScalarNode { Value: { } name }:
                    dependencies.Add(new RawDependency(index, name, null, at, at));
                    break;
                case YamlMappingNode mapping:
                    Located<string>? dependency = null;
                    Located<string>? buildArg = null;
                    foreach (var (key, keyNode, value) in reader.Entries(mapping, image, itemField))
                    {
                        switch (key)
                        {
                            case "image":
                                dependency = reader.String(value, image, itemField + ".image");
                                break;
                            case "buildArg":
                                buildArg = reader.String(value, image, itemField + ".buildArg");
                                break;
                            default:
                                reader.UnknownKey(image, itemField + ".", key, keyNode, DependencyKeys);
                                break;
                        }
                    }
                    if (dependency is null)
                    {
                        reader.Error(image, itemField + ".image", at, "is required: the name of the image depended on");
                    }
                    else
                    {
                        dependencies.Add(new RawDependency(index, dependency.Value.Value, buildArg?.Value, dependency.Value.Location, buildArg?.Location ?? at));
                    }
                    break;
                default:
                    reader.Error(image, itemField, at, $"must be an image name or {{image: NAME, buildArg: ARG}}, not {YamlFieldReader.Describe(item)}");
                    break;
            }
            index++;
        }
        return dependencies;
    }
}
