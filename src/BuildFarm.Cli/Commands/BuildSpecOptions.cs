using System.CommandLine;
using System.Globalization;
using BuildFarm.Contracts;
using BuildFarm.Kaniko.Specs;

namespace BuildFarm.Cli.Commands;

/// <summary>
/// The options of one build: one option per field of <see cref="BuildSpec"/>, defined once and used by every command
/// that takes a build on its command line (<c>buildfarm submit --context …</c> and <c>buildfarm kaniko pod</c>), so that
/// the set of options of a build is the same everywhere and reaches every field the API accepts (docs/cli.md).
/// </summary>
public sealed class BuildSpecOptions
{
    public BuildSpecOptions()
    {
        Context = new Option<string>("--context") { Description = $"Build context: {BuildContext.AllowedForms}." };
        Destination = new Option<string[]>("--destination", "-d") { Description = "Image reference to push to; repeat for more (at least one)." };
        ContextSubPath = new Option<string>("--context-sub-path") { Description = "Folder inside the context that is the image's context." };
        Dockerfile = new Option<string>("--dockerfile", "-f") { Description = "Dockerfile path relative to the context (default Dockerfile)." };
        BuildArg = new Option<string[]>("--build-arg") { Description = "Build argument KEY=VALUE; repeat for more." };
        Target = new Option<string>("--target") { Description = "Stage to build." };
        Label = new Option<string[]>("--label") { Description = "Image label KEY=VALUE; repeat for more." };
        Cache = new Option<bool>("--cache") { Description = "Use Kaniko's registry layer cache (in <destination repository>/cache unless --cache-repo)." };
        CacheRepo = new Option<string>("--cache-repo") { Description = "Use Kaniko's layer cache in this repository (implies --cache)." };
        Platform = new Option<string>("--platform") { Description = "Target platform os/arch[/variant] (Kaniko's --custom-platform; not emulation)." };
        Platforms = new Option<string[]>("--platforms")
        {
            Description = "Platforms of a multi-platform image, comma-separated or repeated (linux/amd64,linux/arm64): one pod per platform on a node of that architecture, then one image index.",
        };
        CpuRequest = new Option<string>("--cpu-request") { Description = "CPU request of the Kaniko container, e.g. 500m (default: the farm's)." };
        MemoryRequest = new Option<string>("--memory-request") { Description = "Memory request of the Kaniko container, e.g. 1Gi (default: the farm's)." };
        CpuLimit = new Option<string>("--cpu-limit") { Description = "CPU limit of the Kaniko container (default: the farm's)." };
        MemoryLimit = new Option<string>("--memory-limit") { Description = "Memory limit of the Kaniko container (default: the farm's)." };
        EphemeralStorageLimit = new Option<string>("--ephemeral-storage-limit") { Description = "Ephemeral storage limit of the Kaniko container (default: the farm's)." };
        DeadlineSeconds = new Option<string>("--deadline-seconds") { Description = "Seconds one attempt may run (the pod's activeDeadlineSeconds; default: the farm's)." };

        // A value-taking option given without its value parses as empty and is reported by Read, like every other input error.
        foreach (var option in SingleValued)
        {
            option.Arity = ArgumentArity.ZeroOrOne;
        }
        foreach (var option in new[] { Destination, BuildArg, Label })
        {
            option.Arity = ArgumentArity.ZeroOrMore;
        }
    }

    public Option<string> Context { get; }
    public Option<string[]> Destination { get; }
    public Option<string> ContextSubPath { get; }
    public Option<string> Dockerfile { get; }
    public Option<string[]> BuildArg { get; }
    public Option<string> Target { get; }
    public Option<string[]> Label { get; }
    public Option<bool> Cache { get; }
    public Option<string> CacheRepo { get; }
    public Option<string> Platform { get; }

    public Option<string[]> Platforms { get; }
    public Option<string> CpuRequest { get; }
    public Option<string> MemoryRequest { get; }
    public Option<string> CpuLimit { get; }
    public Option<string> MemoryLimit { get; }
    public Option<string> EphemeralStorageLimit { get; }
    public Option<string> DeadlineSeconds { get; }

    private Option<string>[] SingleValued =>
    [
        Context, ContextSubPath, Dockerfile, Target, CacheRepo, Platform, CpuRequest, MemoryRequest, CpuLimit, MemoryLimit,
        EphemeralStorageLimit, DeadlineSeconds,
    ];

    /// <summary>Each field of <see cref="BuildSpec"/> (nested fields as <c>Resources.CpuRequest</c>) and the option that sets it.</summary>
    public IReadOnlyDictionary<string, Option> ByField => new Dictionary<string, Option>(StringComparer.Ordinal)
    {
        [nameof(BuildSpec.Context)] = Context,
        [nameof(BuildSpec.ContextSubPath)] = ContextSubPath,
        [nameof(BuildSpec.Dockerfile)] = Dockerfile,
        [nameof(BuildSpec.Destinations)] = Destination,
        [nameof(BuildSpec.BuildArgs)] = BuildArg,
        [nameof(BuildSpec.Target)] = Target,
        [nameof(BuildSpec.Labels)] = Label,
        [nameof(BuildSpec.Cache)] = Cache,
        [nameof(BuildSpec.CacheRepo)] = CacheRepo,
        [nameof(BuildSpec.Platform)] = Platform,
        [nameof(BuildSpec.Platforms)] = Platforms,
        [$"{nameof(BuildSpec.Resources)}.{nameof(BuildResources.CpuRequest)}"] = CpuRequest,
        [$"{nameof(BuildSpec.Resources)}.{nameof(BuildResources.MemoryRequest)}"] = MemoryRequest,
        [$"{nameof(BuildSpec.Resources)}.{nameof(BuildResources.CpuLimit)}"] = CpuLimit,
        [$"{nameof(BuildSpec.Resources)}.{nameof(BuildResources.MemoryLimit)}"] = MemoryLimit,
        [$"{nameof(BuildSpec.Resources)}.{nameof(BuildResources.EphemeralStorageLimit)}"] = EphemeralStorageLimit,
        [nameof(BuildSpec.DeadlineSeconds)] = DeadlineSeconds,
    };

    /// <summary>Every option, in the order of <see cref="BuildSpec"/>'s fields.</summary>
    public IEnumerable<Option> All => ByField.Values;

    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        foreach (var option in All)
        {
            command.Options.Add(option);
        }
    }

    /// <summary>The names of the options given on the command line (not defaults), in field order.</summary>
    public IReadOnlyList<string> Given(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        return [.. All.Where(o => parse.GetResult(o) is { Implicit: false }).Select(o => o.Name)];
    }

    /// <summary>
    /// The build the options describe, or null with each problem of the command line added to <paramref name="errors"/>
    /// (an option without its value, a KEY=VALUE pair without '=' or given twice, a deadline that is not a number, no
    /// <c>--context</c>). The spec itself is not validated here: <see cref="BuildSpecValidator"/> (or the API) does that.
    /// </summary>
    public BuildSpec? Read(ParseResult parse, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(parse);
        ArgumentNullException.ThrowIfNull(errors);
        var before = errors.Count;
        foreach (var option in SingleValued.Where(o => o != Context))
        {
            if (parse.GetResult(option) is { Implicit: false } && string.IsNullOrEmpty(parse.GetValue(option)))
            {
                errors.Add($"{option.Name}: needs a value");
            }
        }
        var buildArgs = ParsePairs(BuildArg.Name, parse.GetValue(BuildArg), errors);
        var labels = ParsePairs(Label.Name, parse.GetValue(Label), errors);
        int? deadline = null;
        if (parse.GetValue(DeadlineSeconds) is { Length: > 0 } deadlineText)
        {
            if (int.TryParse(deadlineText, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds >= 1)
            {
                deadline = seconds;
            }
            else
            {
                errors.Add($"{DeadlineSeconds.Name}: '{deadlineText}' must be a whole number of seconds, 1 or more");
            }
        }
        var context = parse.GetValue(Context);
        if (string.IsNullOrEmpty(context))
        {
            errors.Add($"{Context.Name}: is required ({BuildContext.AllowedForms})");
        }
        if (errors.Count > before || context is null)
        {
            return null;
        }
        var cacheRepo = NullIfEmpty(parse.GetValue(CacheRepo));
        var resources = new BuildResources
        {
            CpuRequest = NullIfEmpty(parse.GetValue(CpuRequest)),
            MemoryRequest = NullIfEmpty(parse.GetValue(MemoryRequest)),
            CpuLimit = NullIfEmpty(parse.GetValue(CpuLimit)),
            MemoryLimit = NullIfEmpty(parse.GetValue(MemoryLimit)),
            EphemeralStorageLimit = NullIfEmpty(parse.GetValue(EphemeralStorageLimit)),
        };
        return new BuildSpec
        {
            Context = context,
            ContextSubPath = NullIfEmpty(parse.GetValue(ContextSubPath)),
            Dockerfile = NullIfEmpty(parse.GetValue(Dockerfile)) ?? "Dockerfile",
            Destinations = parse.GetValue(Destination) ?? [],
            BuildArgs = buildArgs,
            Target = NullIfEmpty(parse.GetValue(Target)),
            Labels = labels,
            Cache = parse.GetValue(Cache) || cacheRepo is not null,
            CacheRepo = cacheRepo,
            Platform = NullIfEmpty(parse.GetValue(Platform)),
            Platforms = parse.GetValue(Platforms) is { Length: > 0 } platforms
                ? [.. platforms.SelectMany(p => p.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))]
                : null,
            Resources = resources == new BuildResources() ? null : resources,
            DeadlineSeconds = deadline,
        };
    }

    /// <summary>KEY=VALUE pairs in order; each bad or repeated one is an error naming <paramref name="option"/>.</summary>
    internal static Dictionary<string, string> ParsePairs(string option, string[]? values, List<string> errors)
    {
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var value in values ?? [])
        {
            var equals = value.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                errors.Add($"{option}: '{value}' must be KEY=VALUE");
                continue;
            }
            var key = value[..equals];
            if (!pairs.TryAdd(key, value[(equals + 1)..]))
            {
                errors.Add($"{option}: '{key}' is given more than once");
            }
        }
        return pairs;
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
