using BuildFarm.Contracts;
using BuildFarm.Kaniko.Specs;
using BuildFarm.Manifests.Model;
using BuildFarm.Manifests.Planning;
using Cronos;

namespace BuildFarm.Manifests.Parsing;

// One image: merging its fields with the defaults and checking them.
public static partial class ManifestParser
{
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
}
