using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.RegularExpressions;
using BuildFarm.Contracts;

namespace BuildFarm.Kaniko.Specs;

/// <summary>One problem in a build spec, naming the field it is about (<c>destinations[1]</c>).</summary>
public sealed record SpecProblem(string Field, string Message)
{
    public override string ToString() => $"{Field}: {Message}";
}

/// <summary>The outcome of <see cref="BuildSpecValidator.Validate"/>: errors block the build, warnings do not.</summary>
public sealed record BuildSpecValidation(IReadOnlyList<SpecProblem> Errors, IReadOnlyList<SpecProblem> Warnings)
{
    public bool IsValid => Errors.Count == 0;
}

/// <summary>
/// Checks a <see cref="BuildSpec"/> before anything is published or started. Every problem names its
/// field. Pure: no I/O (it does not check that a context or registry exists).
/// </summary>
public static partial class BuildSpecValidator
{
    public static BuildSpecValidation Validate(BuildSpec spec, BuildSpecValidationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        options ??= BuildSpecValidationOptions.Default;
        var errors = new List<SpecProblem>();
        var warnings = new List<SpecProblem>();
        var allowList = CompileAllowList(options.AllowedDestinations, errors);

        ValidateContext(spec, errors, warnings);
        ValidateRelativePath("contextSubPath", spec.ContextSubPath, allowEmpty: true, errors);
        ValidateRelativePath("dockerfile", spec.Dockerfile, allowEmpty: false, errors);
        ValidateDestinations(spec, options, allowList, errors, warnings);
        ValidateBuildArgs(spec, options, errors);
        ValidateLabels(spec, options, errors);
        ValidateTarget(spec, errors);
        ValidatePlatform(spec, options, errors);
        ValidateCache(spec, allowList, errors, warnings);
        ValidateDeadline(spec, options, errors);
        ValidateResources("resources", spec.Resources, errors, options.MaxResources);

        return new BuildSpecValidation(errors, warnings);
    }

    /// <summary>
    /// Checks Kubernetes resource quantities (<c>500m</c>, <c>2Gi</c>): each must parse, be positive, and a
    /// request must not exceed its limit. Shared with the pod options' default resources.
    /// </summary>
    /// <param name="field">The field name the problems are reported under.</param>
    /// <param name="resources">The quantities; null checks nothing.</param>
    /// <param name="errors">Where problems are added.</param>
    /// <param name="limits">The largest quantity allowed per resource; null checks only the quantities' form and size
    /// (<see cref="Quantity"/>).</param>
    public static void ValidateResources(string field, BuildResources? resources, ICollection<SpecProblem> errors, BuildResourceLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(errors);
        if (resources is null)
        {
            return;
        }
        var maxCpu = Limit(limits?.Cpu);
        var maxMemory = Limit(limits?.Memory);
        var maxStorage = Limit(limits?.EphemeralStorage);
        var cpuRequest = CheckQuantity($"{field}.cpuRequest", resources.CpuRequest, maxCpu, limits?.Cpu, errors);
        var cpuLimit = CheckQuantity($"{field}.cpuLimit", resources.CpuLimit, maxCpu, limits?.Cpu, errors);
        var memoryRequest = CheckQuantity($"{field}.memoryRequest", resources.MemoryRequest, maxMemory, limits?.Memory, errors);
        var memoryLimit = CheckQuantity($"{field}.memoryLimit", resources.MemoryLimit, maxMemory, limits?.Memory, errors);
        CheckQuantity($"{field}.ephemeralStorageLimit", resources.EphemeralStorageLimit, maxStorage, limits?.EphemeralStorage, errors);
        if (cpuRequest > cpuLimit)
        {
            errors.Add(new($"{field}.cpuRequest", $"'{resources.CpuRequest}' exceeds cpuLimit '{resources.CpuLimit}'"));
        }
        if (memoryRequest > memoryLimit)
        {
            errors.Add(new($"{field}.memoryRequest", $"'{resources.MemoryRequest}' exceeds memoryLimit '{resources.MemoryLimit}'"));
        }
    }

    /// <summary>True when <paramref name="reference"/>'s name matches one of the allow-list patterns (or the list is empty).</summary>
    public static bool IsAllowedDestination(ImageReference reference, IEnumerable<string> allowedPatterns)
    {
        ArgumentNullException.ThrowIfNull(reference);
        var compiled = CompileAllowList(allowedPatterns.ToList(), errors: null);
        return compiled.Count == 0 || compiled.Any(p => p.IsMatch(reference.Name));
    }

    private static List<Regex> CompileAllowList(ICollection<string> patterns, List<SpecProblem>? errors)
    {
        var compiled = new List<Regex>();
        var index = 0;
        foreach (var pattern in patterns)
        {
            if (string.IsNullOrWhiteSpace(pattern) || pattern.Any(char.IsWhiteSpace))
            {
                errors?.Add(new($"allowedDestinations[{index}]", "pattern must be non-empty and have no whitespace"));
            }
            else
            {
                var regex = new StringBuilder("^");
                for (var i = 0; i < pattern.Length; i++)
                {
                    if (pattern[i] == '*' && i + 1 < pattern.Length && pattern[i + 1] == '*')
                    {
                        regex.Append(".*");
                        i++;
                    }
                    else if (pattern[i] == '*')
                    {
                        regex.Append("[^/]*");
                    }
                    else
                    {
                        regex.Append(Regex.Escape(pattern[i].ToString()));
                    }
                }
                regex.Append('$');
                compiled.Add(new Regex(regex.ToString(), RegexOptions.CultureInvariant | RegexOptions.IgnoreCase, TimeSpan.FromSeconds(1)));
            }
            index++;
        }
        return compiled;
    }

    private static void ValidateContext(BuildSpec spec, List<SpecProblem> errors, List<SpecProblem> warnings)
    {
        if (!BuildContext.TryParse(spec.Context, out var context, out var error))
        {
            errors.Add(new("context", error));
            return;
        }
        switch (context.Kind)
        {
            case BuildContextKind.Git:
                warnings.Add(new("context", "git:// context: private repositories may not work (Kaniko clones it itself, with GIT_TOKEN or GIT_USERNAME/GIT_PASSWORD at best; kaniko#719)"));
                break;
            case BuildContextKind.S3 or BuildContextKind.Gcs
                when !context.Value.EndsWith(".tar.gz", StringComparison.OrdinalIgnoreCase) && !context.Value.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase):
                warnings.Add(new("context", "Kaniko expects a gzipped tar archive; the key does not end in .tar.gz or .tgz"));
                break;
            case BuildContextKind.Directory when spec.ContextSubPath is { Length: > 0 }:
                warnings.Add(new("contextSubPath", "a dir:// context can name the sub-directory directly; the sub-path is applied all the same"));
                break;
            default:
                break;
        }
    }

    private static void ValidateRelativePath(string field, string? path, bool allowEmpty, List<SpecProblem> errors)
    {
        if (string.IsNullOrEmpty(path))
        {
            if (!allowEmpty)
            {
                errors.Add(new(field, "is required (a path relative to the context, e.g. Dockerfile)"));
            }
            return;
        }
        if (!RelativePath.TryNormalize(path, out var normalized, out var error))
        {
            errors.Add(new(field, error));
            return;
        }
        if (!allowEmpty && normalized.Length == 0)
        {
            errors.Add(new(field, $"'{path}' names the context root, not a file"));
        }
    }

    private static void ValidateDestinations(
        BuildSpec spec, BuildSpecValidationOptions options, List<Regex> allowList, List<SpecProblem> errors, List<SpecProblem> warnings)
    {
        if (spec.Destinations is null || spec.Destinations.Count == 0)
        {
            errors.Add(new("destinations", "at least one destination is required"));
            return;
        }
        if (spec.Destinations.Count > options.MaxDestinations)
        {
            errors.Add(new("destinations", $"{spec.Destinations.Count} destinations exceed the limit of {options.MaxDestinations}"));
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < spec.Destinations.Count; i++)
        {
            var field = $"destinations[{i}]";
            if (!ImageReference.TryParse(spec.Destinations[i], out var reference, out var error))
            {
                errors.Add(new(field, $"'{spec.Destinations[i]}' is not a valid image reference: {error}"));
                continue;
            }
            if (reference.Digest is not null)
            {
                errors.Add(new(field, $"'{spec.Destinations[i]}' has a digest; a destination is pushed to by tag (drop '@{reference.Digest}')"));
                continue;
            }
            if (allowList.Count > 0 && !allowList.Any(p => p.IsMatch(reference.Name)))
            {
                errors.Add(new(field, $"'{reference.Name}' is not in the destination allow-list ({string.Join(", ", options.AllowedDestinations)})"));
                continue;
            }
            if (!seen.Add(reference.ToString()))
            {
                warnings.Add(new(field, $"'{spec.Destinations[i]}' repeats an earlier destination; it is pushed once"));
            }
        }
    }

    private static void ValidateBuildArgs(BuildSpec spec, BuildSpecValidationOptions options, List<SpecProblem> errors) =>
        ValidateStringMap(
            spec.BuildArgs, "buildArgs", "build args", options.MaxBuildArgs, options.MaxBuildArgValueBytes,
            name => BuildArgNameRegex().IsMatch(name) ? null : $"name '{Shown(name)}' is invalid (1-256 letters, digits and '_', not starting with a digit)",
            errors);

    private static void ValidateLabels(BuildSpec spec, BuildSpecValidationOptions options, List<SpecProblem> errors) =>
        ValidateStringMap(
            spec.Labels, "labels", "labels", options.MaxLabels, options.MaxLabelValueBytes,
            key => LabelKeyRegex().IsMatch(key) ? null : $"key '{Shown(key)}' is invalid (1-256 characters: letters, digits, '.', '-', '_', '/', starting with a letter or digit; no '=')",
            errors);

    /// <summary>Checks a name → value map (build args, labels): count, each name, and each value's content and size.</summary>
    private static void ValidateStringMap(
        IReadOnlyDictionary<string, string>? map, string field, string noun, int maxCount, int maxValueBytes,
        Func<string, string?> nameProblem, List<SpecProblem> errors)
    {
        map ??= new Dictionary<string, string>();
        if (map.Count > maxCount)
        {
            errors.Add(new(field, $"{map.Count} {noun} exceed the limit of {maxCount}"));
        }
        foreach (var (name, value) in map.OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            var entryField = $"{field}[{Shown(name)}]";
            if (nameProblem(name) is { } problem)
            {
                errors.Add(new(entryField, problem));
                continue;
            }
            if (value is null)
            {
                errors.Add(new(entryField, "value is null; use an empty string"));
                continue;
            }
            if (value.Contains('\0', StringComparison.Ordinal))
            {
                errors.Add(new(entryField, "value contains a NUL character"));
            }
            var bytes = Encoding.UTF8.GetByteCount(value);
            if (bytes > maxValueBytes)
            {
                errors.Add(new(entryField, $"value is {bytes} bytes, over the limit of {maxValueBytes}"));
            }
        }
    }

    private static void ValidateTarget(BuildSpec spec, List<SpecProblem> errors)
    {
        if (spec.Target is null)
        {
            return;
        }
        if (!StageNameRegex().IsMatch(spec.Target))
        {
            errors.Add(new("target", $"'{spec.Target}' is not a valid stage name (a letter, then letters, digits, '_', '.', '-'; at most 128)"));
        }
    }

    private static void ValidatePlatform(BuildSpec spec, BuildSpecValidationOptions options, List<SpecProblem> errors)
    {
        if (spec.Platform is not null && !BuildPlatforms.IsWellFormed(spec.Platform))
        {
            errors.Add(new("platform", $"'{Shown(spec.Platform)}' must be os/arch[/variant] in lower case, e.g. linux/amd64 or linux/arm64/v8 (at most {BuildPlatforms.MaxLength} characters)"));
        }
        if (spec.Platforms is not { Count: > 0 } platforms)
        {
            return;
        }
        if (spec.Platform is not null)
        {
            errors.Add(new("platforms", "give either platform or platforms, not both (platforms: [\"linux/amd64\"] is the same build as platform: linux/amd64)"));
        }
        if (platforms.Count > options.MaxPlatforms)
        {
            errors.Add(new("platforms", $"{platforms.Count} platforms exceed the limit of {options.MaxPlatforms}"));
            return;
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < platforms.Count; i++)
        {
            var platform = platforms[i];
            if (!BuildPlatforms.IsWellFormed(platform))
            {
                errors.Add(new($"platforms[{i}]", $"'{Shown(platform ?? "(null)")}' must be os/arch[/variant] in lower case, e.g. linux/amd64 or linux/arm64/v8 (at most {BuildPlatforms.MaxLength} characters)"));
            }
            else if (!seen.Add(platform))
            {
                errors.Add(new($"platforms[{i}]", $"'{platform}' repeats an earlier platform"));
            }
        }
    }

    private static void ValidateCache(BuildSpec spec, List<Regex> allowList, List<SpecProblem> errors, List<SpecProblem> warnings)
    {
        if (spec.CacheRepo is null)
        {
            return;
        }
        if (!ImageReference.TryParse(spec.CacheRepo, out var reference, out var error))
        {
            errors.Add(new("cacheRepo", $"'{spec.CacheRepo}' is not a valid repository: {error}"));
            return;
        }
        if (reference.Tag is not null || reference.Digest is not null)
        {
            errors.Add(new("cacheRepo", $"'{spec.CacheRepo}' must be a repository without tag or digest (Kaniko tags cache layers itself)"));
            return;
        }
        if (allowList.Count > 0 && !allowList.Any(p => p.IsMatch(reference.Name)))
        {
            errors.Add(new("cacheRepo", $"'{reference.Name}' is not in the destination allow-list (cache layers are pushed there)"));
            return;
        }
        if (!spec.Cache)
        {
            warnings.Add(new("cacheRepo", "has no effect while cache is false"));
        }
    }

    private static void ValidateDeadline(BuildSpec spec, BuildSpecValidationOptions options, List<SpecProblem> errors)
    {
        if (spec.DeadlineSeconds is not { } deadline)
        {
            return;
        }
        if (deadline <= 0)
        {
            errors.Add(new("deadlineSeconds", $"{deadline} must be positive"));
        }
        else if (deadline > options.MaxDeadlineSeconds)
        {
            errors.Add(new("deadlineSeconds", $"{deadline} exceeds the maximum of {options.MaxDeadlineSeconds}"));
        }
    }

    private static decimal? Limit(string? limit) => limit is not null && Quantity.TryParse(limit, out var value, out _) ? value : null;

    private static decimal? CheckQuantity(string field, string? value, decimal? max, string? maxText, ICollection<SpecProblem> errors)
    {
        if (value is null)
        {
            return null;
        }
        if (!TryParseQuantity(value, out var amount, out var error))
        {
            errors.Add(new(field, error));
            return null;
        }
        if (amount > max)
        {
            errors.Add(new(field, $"'{value}' exceeds the farm's maximum of {maxText}"));
            return null;
        }
        return amount;
    }

    /// <summary>Parses a positive Kubernetes quantity (<c>500m</c>, <c>2</c>, <c>512Mi</c>, <c>4Gi</c>).</summary>
    public static bool TryParseQuantity(string? value, out decimal amount, [NotNullWhen(false)] out string? error)
    {
        amount = 0;
        // Bounded before anything is computed: Kubernetes' own parser builds a BigInteger of any exponent (1e999999999).
        if (value is null || value.Length > Quantity.MaxLength || !QuantityRegex().IsMatch(value))
        {
            error = value is { Length: > Quantity.MaxLength }
                ? $"is {value.Length} characters long; a quantity has at most {Quantity.MaxLength}"
                : $"'{value}' is not a Kubernetes quantity (e.g. 500m, 2, 512Mi, 4Gi)";
            return false;
        }
        if (!Quantity.TryParse(value, out amount, out error))
        {
            return false;
        }
        if (amount <= 0)
        {
            error = $"'{value}' must be positive";
            return false;
        }
        error = null;
        return true;
    }

    /// <summary>A name as an error quotes it: at most 64 characters, so a huge name is not echoed back whole.</summary>
    private static string Shown(string name) => name.Length <= 64 ? name : string.Concat(name.AsSpan(0, 64), "…");

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]{0,255}\z", RegexOptions.CultureInvariant)]
    private static partial Regex BuildArgNameRegex();

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._/-]{0,255}\z", RegexOptions.CultureInvariant)]
    private static partial Regex LabelKeyRegex();

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9_.-]{0,127}\z", RegexOptions.CultureInvariant)]
    private static partial Regex StageNameRegex();

    // Kubernetes quantity grammar: <signedNumber><suffix>; negative values are rejected afterwards.
    [GeneratedRegex(@"^\+?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?\z", RegexOptions.CultureInvariant)]
    private static partial Regex QuantityRegex();
}
