using System.Text.RegularExpressions;
using BuildFarm.Contracts;
using BuildFarm.Kaniko.Specs;
using BuildFarm.Manifests.Model;
using BuildFarm.Manifests.Planning;
using Cronos;
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

    /// <summary>Reads one field into <paramref name="raw"/>; false when the key is unknown.</summary>
    private static bool ReadField(YamlFieldReader reader, RawFields raw, string? image, string prefix, string key, YamlNode value)
    {
        var field = prefix + key;
        switch (key)
        {
            case "context":
                raw.Context = reader.String(value, image, field);
                break;
            case "contextSubPath":
                raw.ContextSubPath = reader.String(value, image, field);
                break;
            case "dockerfile":
                raw.Dockerfile = reader.String(value, image, field);
                break;
            case "target":
                raw.Target = reader.String(value, image, field);
                break;
            case "platform":
                raw.Platform = reader.String(value, image, field);
                break;
            case "cacheRepo":
                raw.CacheRepo = reader.String(value, image, field);
                break;
            case "cache":
                raw.Cache = reader.Bool(value, image, field);
                break;
            case "deadlineSeconds":
                raw.DeadlineSeconds = reader.Int(value, image, field);
                break;
            case "platforms":
                raw.PlatformsLocation = YamlFieldReader.At(value);
                raw.Platforms = reader.StringList(value, image, field);
                break;
            case "destinations":
                raw.DestinationsLocation = YamlFieldReader.At(value);
                raw.Destinations = reader.StringList(value, image, field);
                break;
            case "buildArgs":
                raw.BuildArgsLocation = YamlFieldReader.At(value);
                raw.BuildArgs = reader.StringMap(value, image, field);
                break;
            case "labels":
                raw.LabelsLocation = YamlFieldReader.At(value);
                raw.Labels = reader.StringMap(value, image, field);
                break;
            case "resources":
                raw.ResourcesLocation = YamlFieldReader.At(value);
                raw.Resources = ReadResources(reader, value, image, field);
                break;
            case "schedule":
                raw.Schedule = reader.String(value, image, field);
                break;
            case "dependsOn":
                raw.DependsOnLocation = YamlFieldReader.At(value);
                raw.DependsOn = ReadDependsOn(reader, value, image, field);
                break;
            default:
                return false;
        }
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

    private static ManifestImage? BuildImage(
        YamlFieldReader reader, RawFields raw, RawFields? defaults, Dictionary<string, RawFields> named, BuildSpecValidationOptions validation)
    {
        var name = raw.Name!.Value.Value;
        var locations = new Dictionary<string, ManifestLocation>(StringComparer.Ordinal);
        string? Pick(string field, Located<string>? own, Located<string>? fallback)
        {
            var chosen = own ?? fallback;
            if (chosen is { } value)
            {
                locations[field] = value.Location;
            }
            return chosen?.Value;
        }

        var context = Pick("context", raw.Context, defaults?.Context);
        var subPath = Pick("contextSubPath", raw.ContextSubPath, null);
        var dockerfile = Pick("dockerfile", raw.Dockerfile, defaults?.Dockerfile);
        var target = Pick("target", raw.Target, defaults?.Target);
        // An image naming platform or platforms takes neither from the defaults (naming both is refused by the spec check).
        var ownPlatforms = raw.Platform is not null || raw.Platforms is not null;
        var platform = Pick("platform", raw.Platform, ownPlatforms ? null : defaults?.Platform);
        var platforms = ownPlatforms ? raw.Platforms : defaults?.Platforms;
        if (platforms is not null)
        {
            locations["platforms"] = ownPlatforms ? raw.PlatformsLocation : defaults!.PlatformsLocation;
            for (var i = 0; i < platforms.Count; i++)
            {
                locations[$"platforms[{i}]"] = platforms[i].Location;
            }
        }
        var cacheRepo = Pick("cacheRepo", raw.CacheRepo, defaults?.CacheRepo);

        var cache = raw.Cache ?? defaults?.Cache;
        if (cache is { } c)
        {
            locations["cache"] = c.Location;
        }
        var deadline = raw.DeadlineSeconds ?? defaults?.DeadlineSeconds;
        if (deadline is { } d)
        {
            locations["deadlineSeconds"] = d.Location;
        }

        // Lists are replaced whole; maps merge key by key (the image's value wins).
        var destinations = raw.Destinations ?? defaults?.Destinations ?? [];
        locations["destinations"] = raw.Destinations is not null ? raw.DestinationsLocation
            : defaults?.Destinations is not null ? defaults.DestinationsLocation : raw.Start;
        for (var i = 0; i < destinations.Count; i++)
        {
            locations[$"destinations[{i}]"] = destinations[i].Location;
        }
        var buildArgs = MergeMap("buildArgs", defaults?.BuildArgs, raw.BuildArgs, locations);
        var labels = MergeMap("labels", defaults?.Labels, raw.Labels, locations);
        var resources = MergeResources(defaults?.Resources, raw.Resources, locations);
        if (raw.BuildArgs is not null)
        {
            locations["buildArgs"] = raw.BuildArgsLocation;
        }
        else if (defaults?.BuildArgs is not null)
        {
            locations["buildArgs"] = defaults.BuildArgsLocation;
        }

        var errorsBefore = reader.ErrorCount - raw.ReadErrors;
        CheckTemplate(reader, name, "context", context, locations);
        CheckTemplate(reader, name, "cacheRepo", cacheRepo, locations);
        for (var i = 0; i < destinations.Count; i++)
        {
            CheckTemplate(reader, name, $"destinations[{i}]", destinations[i].Value, locations);
        }
        foreach (var (key, value) in buildArgs)
        {
            CheckTemplate(reader, name, $"buildArgs[{key}]", value, locations);
        }
        foreach (var (key, value) in labels)
        {
            CheckTemplate(reader, name, $"labels[{key}]", value, locations);
        }

        // The whole spec is checked only when its parts read cleanly (otherwise it would echo those errors).
        var specCheckable = reader.ErrorCount == errorsBefore;
        var dependencies = CheckDependencies(reader, raw, name, buildArgs, named, defaults);
        if (raw.DependsOn is not null)
        {
            locations["dependsOn"] = raw.DependsOnLocation;
            foreach (var dependency in raw.DependsOn)
            {
                locations[$"dependsOn[{dependency.Index}]"] = dependency.Location;
            }
        }

        CronExpression? cron = null;
        if (raw.Schedule is { } schedule)
        {
            locations["schedule"] = schedule.Location;
            cron = ParseCron(reader, name, schedule);
        }

        var spec = new BuildSpec
        {
            Context = context ?? "",
            ContextSubPath = subPath,
            Dockerfile = dockerfile ?? "Dockerfile",
            Destinations = [.. destinations.Select(x => x.Value)],
            BuildArgs = buildArgs,
            Target = target,
            Labels = labels,
            Cache = cache?.Value ?? false,
            CacheRepo = cacheRepo,
            Platform = platform,
            Platforms = platforms is null ? null : [.. platforms.Select(x => x.Value)],
            Resources = resources,
            DeadlineSeconds = deadline?.Value,
        };
        var image = new ManifestImage
        {
            Name = name,
            Spec = spec,
            DependsOn = dependencies,
            Schedule = raw.Schedule?.Value,
            ScheduleExpression = cron,
            Location = raw.Start,
            FieldLocations = locations,
        };
        if (specCheckable)
        {
            // The spec as a batch would send it, with a stand-in revision: every problem BuildSpecValidator sees.
            var expanded = ManifestPlanner.Expand(image, new TemplateValues(ManifestTemplates.PlaceholderSha, CheckTime, name));
            foreach (var problem in BuildSpecValidator.Validate(expanded, validation).Errors)
            {
                reader.Error(name, problem.Field, image.LocationOf(problem.Field), problem.Message);
            }
        }
        return image;
    }

    private static Dictionary<string, string> MergeMap(
        string field, List<RawEntry>? defaults, List<RawEntry>? own, Dictionary<string, ManifestLocation> locations)
    {
        var merged = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in (defaults ?? []).Concat(own ?? []))
        {
            merged[entry.Key] = entry.Value;
            locations[$"{field}[{entry.Key}]"] = entry.Location;
        }
        return merged;
    }

    private static BuildResources? MergeResources(
        Dictionary<string, Located<string>>? defaults, Dictionary<string, Located<string>>? own, Dictionary<string, ManifestLocation> locations)
    {
        if (defaults is null && own is null)
        {
            return null;
        }
        var merged = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in (defaults ?? []).Concat(own ?? []))
        {
            merged[key] = value.Value;
            locations[$"resources.{key}"] = value.Location;
        }
        return new BuildResources
        {
            CpuRequest = merged.GetValueOrDefault("cpuRequest"),
            MemoryRequest = merged.GetValueOrDefault("memoryRequest"),
            CpuLimit = merged.GetValueOrDefault("cpuLimit"),
            MemoryLimit = merged.GetValueOrDefault("memoryLimit"),
            EphemeralStorageLimit = merged.GetValueOrDefault("ephemeralStorageLimit"),
        };
    }

    private static void CheckTemplate(YamlFieldReader reader, string image, string field, string? value, Dictionary<string, ManifestLocation> locations)
    {
        if (value is not null && !ManifestTemplates.TryCheck(value, out var error))
        {
            reader.Error(image, field, locations.GetValueOrDefault(field), error);
        }
    }

    private static List<ManifestDependency> CheckDependencies(
        YamlFieldReader reader, RawFields raw, string name, Dictionary<string, string> buildArgs, Dictionary<string, RawFields> named, RawFields? defaults)
    {
        var dependencies = new List<ManifestDependency>();
        var seenImages = new Dictionary<string, int>(StringComparer.Ordinal);
        var seenArgs = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var dependency in raw.DependsOn ?? [])
        {
            var field = $"dependsOn[{dependency.Index}]";
            var ok = true;
            if (!named.ContainsKey(dependency.Image))
            {
                reader.Error(name, field, dependency.Location, $"unknown image '{dependency.Image}'" + Closest(dependency.Image, named.Keys));
                ok = false;
            }
            else if (!seenImages.TryAdd(dependency.Image, dependency.Index))
            {
                reader.Error(name, field, dependency.Location, $"'{dependency.Image}' is already listed at dependsOn[{seenImages[dependency.Image]}]");
                ok = false;
            }
            if (dependency.BuildArg is { } arg)
            {
                var argField = field + ".buildArg";
                if (!BuildArgRegex().IsMatch(arg))
                {
                    reader.Error(name, argField, dependency.BuildArgLocation, $"'{arg}' is not a valid build arg name (letters, digits and '_', not starting with a digit)");
                    ok = false;
                }
                else if (!seenArgs.TryAdd(arg, dependency.Index))
                {
                    reader.Error(name, argField, dependency.BuildArgLocation, $"'{arg}' already receives dependsOn[{seenArgs[arg]}]'s reference");
                    ok = false;
                }
                else if (buildArgs.ContainsKey(arg))
                {
                    var own = raw.BuildArgs?.FirstOrDefault(e => e.Key == arg);
                    var where = own is not null ? $"buildArgs at {own.Location}" : $"defaults.buildArgs at {defaults?.BuildArgs?.First(e => e.Key == arg).Location}";
                    reader.Error(name, argField, dependency.BuildArgLocation,
                        $"'{arg}' is also set in {where}; the dependency's pinned reference fills it, so remove one of the two");
                    ok = false;
                }
            }
            if (ok)
            {
                dependencies.Add(new ManifestDependency(dependency.Image, dependency.BuildArg));
            }
        }
        return dependencies;
    }

    private static CronExpression? ParseCron(YamlFieldReader reader, string image, Located<string> schedule)
    {
        var text = schedule.Value.Trim();
        var fields = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (!text.StartsWith('@') && fields.Length != 5)
        {
            reader.Error(image, "schedule", schedule.Location,
                $"'{schedule.Value}' must have 5 fields (minute hour day-of-month month day-of-week, UTC), e.g. '0 3 * * *'; it has {fields.Length}");
            return null;
        }
        try
        {
            return CronExpression.Parse(text, CronFormat.Standard);
        }
        catch (CronFormatException e)
        {
            reader.Error(image, "schedule", schedule.Location, $"'{schedule.Value}' is not a valid cron expression: {e.Message}");
            return null;
        }
    }

    /// <summary>Reports each dependency cycle once, as a path, at the dependsOn entry that closes it.</summary>
    private static void CheckCycles(YamlFieldReader reader, List<ManifestImage> images, Dictionary<string, RawFields> named)
    {
        var byName = images.ToDictionary(i => i.Name, StringComparer.Ordinal);
        var state = new Dictionary<string, int>(StringComparer.Ordinal); // 1 = on the stack, 2 = done
        var stack = new List<string>();
        var reported = new HashSet<string>(StringComparer.Ordinal);

        void Visit(string name)
        {
            state[name] = 1;
            stack.Add(name);
            var image = byName[name];
            for (var i = 0; i < image.DependsOn.Count; i++)
            {
                var next = image.DependsOn[i].Image;
                if (!byName.ContainsKey(next))
                {
                    continue;
                }
                var s = state.GetValueOrDefault(next);
                if (s == 1)
                {
                    var cycle = stack.Skip(stack.IndexOf(next)).Append(next).ToList();
                    var key = string.Join(",", cycle.Skip(1).Order(StringComparer.Ordinal));
                    if (reported.Add(key))
                    {
                        var entry = named[name].DependsOn!.First(d => d.Image == next);
                        reader.Error(name, $"dependsOn[{entry.Index}]", entry.Location, $"dependency cycle: {string.Join(" -> ", cycle)}");
                    }
                }
                else if (s == 0)
                {
                    Visit(next);
                }
            }
            stack.RemoveAt(stack.Count - 1);
            state[name] = 2;
        }

        foreach (var image in images)
        {
            if (state.GetValueOrDefault(image.Name) == 0)
            {
                Visit(image.Name);
            }
        }
    }

    private static void CheckSharedDestinations(YamlFieldReader reader, List<ManifestImage> images)
    {
        var owners = new Dictionary<string, (string Image, ManifestLocation Location)>(StringComparer.Ordinal);
        foreach (var image in images)
        {
            if (!image.Spec.Destinations.All(d => ManifestTemplates.TryCheck(d, out _)) || !ManifestTemplates.TryCheck(image.Spec.Context, out _)
                || !image.Spec.BuildArgs.Values.Concat(image.Spec.Labels.Values).Append(image.Spec.CacheRepo ?? "").All(v => ManifestTemplates.TryCheck(v, out _)))
            {
                continue; // already reported
            }
            var expanded = ManifestPlanner.Expand(image, new TemplateValues(ManifestTemplates.PlaceholderSha, CheckTime, image.Name));
            for (var i = 0; i < expanded.Destinations.Count; i++)
            {
                if (!ImageReference.TryParse(expanded.Destinations[i], out var reference))
                {
                    continue;
                }
                var key = reference.ToString();
                var at = image.LocationOf($"destinations[{i}]");
                if (owners.TryGetValue(key, out var owner) && owner.Image != image.Name)
                {
                    reader.Error(image.Name, $"destinations[{i}]", at,
                        $"'{image.Spec.Destinations[i]}' is also pushed by image '{owner.Image}' ({owner.Location}); two images of a batch must not push the same tag");
                }
                else
                {
                    owners.TryAdd(key, (image.Name, at));
                }
            }
        }
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
