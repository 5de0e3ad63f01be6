using System.Text.RegularExpressions;
using BuildFarm.Kaniko.Specs;
using BuildFarm.Manifests.Model;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace BuildFarm.Manifests.Parsing;

/// <summary>
/// Reads a monorepo manifest (docs/manifests.md). Collects every problem before failing: unknown keys, wrong
/// types, duplicate names, bad templates, unknown dependencies, cycles (with their path), bad cron expressions,
/// dependency build args that collide with written ones, destinations two images share, and whatever
/// <see cref="BuildSpecValidator"/> finds in each image's spec after expansion. Each error names the image, the
/// field and the line and column.
/// </summary>
public static partial class ManifestParser
{
    private static readonly string[] TopLevelKeys = ["defaults", "images"];
    private static readonly string[] DependencyKeys = ["image", "buildArg"];

    /// <summary>The submit time used to check templates when parsing (the real one comes with the plan).</summary>
    private static readonly DateTimeOffset CheckTime = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Parses <paramref name="yaml"/>; throws <see cref="ManifestException"/> listing every problem.</summary>
    /// <param name="yaml">The manifest text.</param>
    /// <param name="source">A name for messages (the file path).</param>
    /// <param name="validation">Limits and destination allow-list for the specs; the defaults when null.</param>
    public static Manifest Parse(string yaml, string source = "manifest", BuildSpecValidationOptions? validation = null)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        ArgumentNullException.ThrowIfNull(source);
        var errors = new List<ManifestError>();
        var manifest = Parse(yaml, source, validation ?? BuildSpecValidationOptions.Default, errors);
        if (errors.Count > 0 || manifest is null)
        {
            throw new ManifestException(source, [.. errors.OrderBy(e => e.Line).ThenBy(e => e.Column)]);
        }
        return manifest;
    }

    /// <summary>Reads and parses the file at <paramref name="path"/>.</summary>
    public static Manifest Load(string path, BuildSpecValidationOptions? validation = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        string yaml;
        try
        {
            yaml = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ManifestException(path, [new ManifestError(null, "", 1, 1, $"cannot read the manifest: {e.Message}")]);
        }
        return Parse(yaml, path, validation);
    }

    private static Manifest? Parse(string yaml, string source, BuildSpecValidationOptions validation, List<ManifestError> errors)
    {
        var reader = new YamlFieldReader(errors);
        // Bounded before any node is built: the node builder recurses per nesting level and hashes keys recursively.
        if (YamlPreScan.Check(yaml, YamlLimits.Default) is var (limitAt, limitProblem))
        {
            reader.Error(null, "", limitAt.Line < 1 ? new ManifestLocation(1, 1) : YamlFieldReader.At(limitAt), $"refused: {limitProblem}");
            return null;
        }
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            var detail = e.InnerException is { } inner ? $"{e.Message}: {inner.Message}" : e.Message;
            reader.Error(null, "", YamlFieldReader.At(e.Start), $"not valid YAML: {detail}");
            return null;
        }
        catch (InvalidOperationException)
        {
            // YamlDotNet's node builder can fail without a position; the event parser says where the text stops making sense.
            var (at, detail) = FirstSyntaxProblem(yaml);
            reader.Error(null, "", YamlFieldReader.At(at), $"not valid YAML: {detail}");
            return null;
        }
        if (stream.Documents.Count == 0 || YamlFieldReader.IsNull(stream.Documents[0].RootNode))
        {
            reader.Error(null, "images", new ManifestLocation(1, 1), "the manifest is empty; it needs an 'images:' list");
            return null;
        }
        if (stream.Documents.Count > 1)
        {
            reader.Error(null, "", YamlFieldReader.At(stream.Documents[1].RootNode), "a manifest is one YAML document; remove the second '---'");
        }
        if (stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            var node = stream.Documents[0].RootNode;
            reader.Error(null, "", YamlFieldReader.At(node), $"the manifest must be a mapping with 'defaults:' and 'images:', not {YamlFieldReader.Describe(node)}");
            return null;
        }

        RawFields? defaults = null;
        YamlNode? imagesNode = null;
        foreach (var (key, keyNode, value) in reader.Entries(root, null, ""))
        {
            switch (key)
            {
                case "defaults":
                    defaults = ReadDefaults(reader, value);
                    break;
                case "images":
                    imagesNode = value;
                    break;
                default:
                    reader.UnknownKey(null, "", key, keyNode, TopLevelKeys);
                    break;
            }
        }
        if (imagesNode is null)
        {
            reader.Error(null, "images", YamlFieldReader.At(root), "is required: a list of images");
            return null;
        }
        if (imagesNode is not YamlSequenceNode sequence || sequence.Children.Count == 0)
        {
            reader.Error(null, "images", YamlFieldReader.At(imagesNode),
                imagesNode is YamlSequenceNode ? "the list is empty" : $"must be a list of images, not {YamlFieldReader.Describe(imagesNode)}");
            return null;
        }

        var raws = new List<RawFields>();
        var index = 0;
        foreach (var item in sequence.Children)
        {
            if (ReadImage(reader, item, index) is { } raw)
            {
                raws.Add(raw);
            }
            index++;
        }

        // Names: unique; later checks only look at the first image of a name.
        var named = new Dictionary<string, RawFields>(StringComparer.Ordinal);
        foreach (var raw in raws)
        {
            var name = raw.Name!.Value;
            if (named.TryGetValue(name.Value, out var first))
            {
                reader.Error(name.Value, "name", name.Location, $"duplicate name: image '{name.Value}' is already defined at {first.Name!.Value.Location}");
            }
            else
            {
                named.Add(name.Value, raw);
            }
        }

        var images = new List<ManifestImage>();
        foreach (var raw in named.Values)
        {
            if (BuildImage(reader, raw, defaults, named, validation) is { } image)
            {
                images.Add(image);
            }
        }
        CheckCycles(reader, images, named);
        CheckSharedDestinations(reader, images);
        return errors.Count == 0 ? new Manifest(source, images) : null;
    }

    private static (Mark At, string Detail) FirstSyntaxProblem(string yaml)
    {
        var parser = new Parser(new StringReader(yaml));
        var last = Mark.Empty;
        try
        {
            while (parser.MoveNext())
            {
                last = parser.Current!.End;
            }
        }
        catch (YamlException e)
        {
            return (e.Start, e.Message);
        }
        catch (InvalidOperationException)
        {
            // Fall through: report where the last well-formed element ended.
        }
        return (last, "the structure breaks off after this point (an unclosed '{' or '[' ?)");
    }

    private static string Closest(string name, IEnumerable<string> names)
    {
        var match = names.FirstOrDefault(n => string.Equals(n, name, StringComparison.OrdinalIgnoreCase)
            || n.StartsWith(name, StringComparison.Ordinal) || name.StartsWith(n, StringComparison.Ordinal));
        return match is null ? "" : $" (did you mean '{match}'?)";
    }

    [GeneratedRegex(@"^[a-z0-9]+(?:[._-][a-z0-9]+)*$", RegexOptions.CultureInvariant)]
    private static partial Regex NameRegex();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*$", RegexOptions.CultureInvariant)]
    private static partial Regex BuildArgRegex();
}
