using System.Globalization;
using BuildFarm.Manifests.Model;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace BuildFarm.Manifests.Parsing;

/// <summary>Reads typed values out of YAML nodes, recording an error (image, field, line, column) for each bad one.</summary>
internal sealed class YamlFieldReader(List<ManifestError> errors)
{
    public static readonly string[] ImageKeys =
    [
        "name", "context", "contextSubPath", "dockerfile", "destinations", "buildArgs", "target", "platform", "platforms", "dependsOn",
        "schedule", "labels", "cache", "cacheRepo", "resources", "deadlineSeconds",
    ];

    /// <summary>Per-image keys that make no sense as defaults.</summary>
    public static readonly string[] ImageOnlyKeys = ["name", "contextSubPath", "dependsOn", "schedule"];

    public static readonly string[] ResourceKeys = ["cpuRequest", "memoryRequest", "cpuLimit", "memoryLimit", "ephemeralStorageLimit"];

    public static ManifestLocation At(YamlNode node) => At(node.Start);

    public static ManifestLocation At(Mark mark) => new((int)mark.Line, (int)mark.Column);

    public int ErrorCount => errors.Count;

    public void Error(string? image, string field, ManifestLocation at, string message) =>
        errors.Add(new ManifestError(image, field, at.Line, at.Column, message));

    public static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any } scalar
        && scalar.Value is null or "" or "~" or "null" or "Null" or "NULL";

    public static string Describe(YamlNode node) => node switch
    {
        YamlSequenceNode => "a list",
        YamlMappingNode => "a mapping",
        _ when IsNull(node) => "null",
        YamlScalarNode s => $"'{s.Value}'",
        _ => "an unknown node",
    };

    /// <summary>Reads a mapping's entries with string keys; reports non-scalar keys.</summary>
    public IEnumerable<(string Key, YamlNode KeyNode, YamlNode Value)> Entries(YamlMappingNode mapping, string? image, string field)
    {
        foreach (var (keyNode, value) in mapping.Children)
        {
            if (keyNode is YamlScalarNode { Value: { } key })
            {
                yield return (key, keyNode, value);
            }
            else
            {
                Error(image, field, At(keyNode), $"a key must be a plain string, not {Describe(keyNode)}");
            }
        }
    }

    public void UnknownKey(string? image, string prefix, string key, YamlNode keyNode, IReadOnlyList<string> allowed)
    {
        var hint = Suggest(key, allowed) is { } suggestion ? $" (did you mean '{suggestion}'?)" : "";
        Error(image, prefix + key, At(keyNode), $"unknown key{hint}; allowed: {string.Join(", ", allowed)}");
    }

    public Located<string>? String(YamlNode node, string? image, string field)
    {
        if (IsNull(node))
        {
            return null;
        }
        if (node is YamlScalarNode { Value: { } value })
        {
            return new Located<string>(value, At(node));
        }
        Error(image, field, At(node), $"must be a string, not {Describe(node)}");
        return null;
    }

    public Located<bool>? Bool(YamlNode node, string? image, string field)
    {
        if (IsNull(node))
        {
            return null;
        }
        if (node is YamlScalarNode { Value: { } value })
        {
            switch (value)
            {
                case "true" or "True" or "TRUE":
                    return new Located<bool>(true, At(node));
                case "false" or "False" or "FALSE":
                    return new Located<bool>(false, At(node));
                default:
                    break;
            }
        }
        Error(image, field, At(node), $"must be true or false, not {Describe(node)}");
        return null;
    }

    public Located<int>? Int(YamlNode node, string? image, string field)
    {
        if (IsNull(node))
        {
            return null;
        }
        if (node is YamlScalarNode { Value: { } value }
            && int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number))
        {
            return new Located<int>(number, At(node));
        }
        Error(image, field, At(node), $"must be a whole number, not {Describe(node)}");
        return null;
    }

    /// <summary>A list of strings; a single string is taken as a list of one.</summary>
    public List<Located<string>>? StringList(YamlNode node, string? image, string field)
    {
        if (IsNull(node))
        {
            return null;
        }
        if (node is YamlScalarNode)
        {
            return String(node, image, field) is { } single ? [single] : null;
        }
        if (node is not YamlSequenceNode sequence)
        {
            Error(image, field, At(node), $"must be a list of strings, not {Describe(node)}");
            return null;
        }
        var items = new List<Located<string>>();
        var index = 0;
        foreach (var item in sequence.Children)
        {
            var itemField = $"{field}[{index}]";
            if (IsNull(item))
            {
                Error(image, itemField, At(item), "is empty");
            }
            else if (String(item, image, itemField) is { } value)
            {
                items.Add(value);
            }
            index++;
        }
        return items;
    }

    /// <summary>A mapping of names to string values (build args, labels).</summary>
    public List<RawEntry>? StringMap(YamlNode node, string? image, string field)
    {
        if (IsNull(node))
        {
            return null;
        }
        if (node is not YamlMappingNode mapping)
        {
            Error(image, field, At(node), $"must be a mapping of names to values, not {Describe(node)}");
            return null;
        }
        var entries = new List<RawEntry>();
        foreach (var (key, keyNode, value) in Entries(mapping, image, field))
        {
            var entryField = $"{field}[{key}]";
            if (IsNull(value))
            {
                Error(image, entryField, At(keyNode), "value is null; write \"\" for an empty value");
            }
            else if (String(value, image, entryField) is { } text)
            {
                entries.Add(new RawEntry(key, text.Value, text.Location));
            }
        }
        return entries;
    }

    private static string? Suggest(string key, IReadOnlyList<string> allowed)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in allowed)
        {
            var distance = string.Equals(candidate, key, StringComparison.OrdinalIgnoreCase) ? 0 : Distance(key, candidate);
            if (distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }
        return bestDistance <= 2 ? best : null;
    }

    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 1]) ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
