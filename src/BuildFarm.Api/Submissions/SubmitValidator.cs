using System.Text.RegularExpressions;
using BuildFarm.Api.Options;
using BuildFarm.Contracts;
using BuildFarm.Kaniko.Specs;

namespace BuildFarm.Api.Submissions;

/// <summary>
/// Checks submit requests before anything is stored or published. Each problem is keyed by the JSON path of the
/// field it is about (<c>spec.destinations[0]</c>, <c>images[3].spec.buildArgs[X]</c>, <c>images[2].dependsOn[0].image</c>).
/// Pure: no I/O.
/// </summary>
public static partial class SubmitValidator
{
    public const int MaxPriority = 9;
    public const int MaxSourceLength = 1024;

    public static Dictionary<string, List<string>> Validate(SubmitBuildRequest request, ApiOptions options, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(options);
        var errors = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        ValidateSpec(request.Spec, "spec", options, errors);
        ValidateCommon(request.Deadline, request.Priority, now, options, errors);
        return errors;
    }

    /// <summary>A batch as the orchestrator will receive it (a JSON batch converted, or a planned manifest).</summary>
    public static Dictionary<string, List<string>> Validate(SubmitBatch batch, ApiOptions options, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(options);
        var errors = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        ValidateCommon(batch.Deadline, batch.Priority, now, options, errors);
        if (batch.Source is { Length: > MaxSourceLength })
        {
            Add(errors, "source", $"is {batch.Source.Length} characters, over the limit of {MaxSourceLength}");
        }
        var images = batch.Images;
        if (images is null || images.Count == 0)
        {
            Add(errors, "images", "at least one image is required");
            return errors;
        }
        if (images.Count > options.MaxImagesPerBatch)
        {
            Add(errors, "images", $"{images.Count} images exceed the limit of {options.MaxImagesPerBatch} per batch");
            return errors;
        }
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < images.Count; i++)
        {
            var image = images[i];
            if (image is null)
            {
                Add(errors, $"images[{i}]", "is null");
                continue;
            }
            if (string.IsNullOrEmpty(image.Name))
            {
                Add(errors, $"images[{i}].name", "is required");
            }
            else if (!ImageNameRegex().IsMatch(image.Name))
            {
                Add(errors, $"images[{i}].name", $"'{image.Name}' is invalid (1-63 lower-case letters, digits, '.', '_', '-', starting with a letter or digit)");
            }
            else if (!names.TryAdd(image.Name, i))
            {
                Add(errors, $"images[{i}].name", $"'{image.Name}' is already the name of images[{names[image.Name]}]");
            }
            ValidateSpec(image.Spec, $"images[{i}].spec", options, errors);
        }
        for (var i = 0; i < images.Count; i++)
        {
            if (images[i] is not { } image)
            {
                continue;
            }
            var dependsOn = image.DependsOn ?? [];
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (var j = 0; j < dependsOn.Count; j++)
            {
                var field = $"images[{i}].dependsOn[{j}]";
                var dependency = dependsOn[j];
                if (dependency is null || string.IsNullOrEmpty(dependency.Image))
                {
                    Add(errors, $"{field}.image", "is required (the name of another image of the batch)");
                    continue;
                }
                if (dependency.Image == image.Name)
                {
                    Add(errors, $"{field}.image", $"'{dependency.Image}' is the image itself");
                }
                else if (!names.ContainsKey(dependency.Image))
                {
                    Add(errors, $"{field}.image", $"'{dependency.Image}' is not an image of this batch");
                }
                else if (!seen.Add(dependency.Image))
                {
                    Add(errors, $"{field}.image", $"'{dependency.Image}' is listed twice");
                }
                if (dependency.BuildArg is { } arg && !BuildArgRegex().IsMatch(arg))
                {
                    Add(errors, $"{field}.buildArg", $"'{arg}' is not a valid build arg name (letters, digits and '_', not starting with a digit)");
                }
                else if (dependency.BuildArg is { } setArg && image.Spec?.BuildArgs is { } args && args.ContainsKey(setArg))
                {
                    Add(errors, $"{field}.buildArg", $"'{setArg}' is also set in the image's buildArgs; the dependency's reference would replace it");
                }
            }
        }
        if (errors.Count == 0 && FindCycle(images) is { } cycle)
        {
            Add(errors, $"images[{names[cycle[0]]}].dependsOn", $"dependency cycle: {string.Join(" -> ", cycle)}");
        }
        return errors;
    }

    private static void ValidateCommon(DateTimeOffset? deadline, int priority, DateTimeOffset now, ApiOptions options, Dictionary<string, List<string>> errors)
    {
        if (deadline is { } d && d <= now)
        {
            Add(errors, "deadline", $"{d:O} is not in the future");
        }
        else if (deadline is { } far && far - now > options.MaxDeadline)
        {
            Add(errors, "deadline", $"{far:O} is more than {options.MaxDeadline} away; the farm's maximum is Api:MaxDeadline");
        }
        if (priority is < 0 or > MaxPriority)
        {
            Add(errors, "priority", $"{priority} must be between 0 and {MaxPriority}");
        }
    }

    private static void ValidateSpec(BuildSpec? spec, string prefix, ApiOptions options, Dictionary<string, List<string>> errors)
    {
        if (spec is null)
        {
            Add(errors, prefix, "is required");
            return;
        }
        var problems = BuildSpecValidator.Validate(spec, options.SpecValidation()).Errors;
        foreach (var problem in problems)
        {
            var separator = problem.Field.StartsWith('[') ? "" : ".";
            Add(errors, prefix + separator + problem.Field, problem.Message);
        }
        if (!problems.Any(p => p.Field is "context" or "contextSubPath" or "dockerfile") && ContextRefusal(spec, options) is { } refusal)
        {
            Add(errors, prefix + ".context", refusal);
        }
    }

    /// <summary>Why a <c>dir://</c> context is refused (not under <c>Api:AllowedContextRoots</c>), or null.</summary>
    public static string? ContextRefusal(BuildSpec spec, ApiOptions options)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(options);
        if (!BuildContext.TryParse(spec.Context, out var context, out _) || context.Kind != BuildContextKind.Directory)
        {
            return null;
        }
        var directory = "/" + context.Normalized["dir:///".Length..];
        var dockerfile = Path.Combine(directory, (spec.ContextSubPath ?? "").TrimStart('/'), string.IsNullOrEmpty(spec.Dockerfile) ? "Dockerfile" : spec.Dockerfile);
        return ContextRoots.IsAllowed(directory, dockerfile, options.AllowedContextRoots, out var error) ? null : error + " (Api:AllowedContextRoots)";
    }

    /// <summary>A cycle in the dependency graph as image names (first = last), or null.</summary>
    public static IReadOnlyList<string>? FindCycle(IReadOnlyList<BatchImage> images)
    {
        ArgumentNullException.ThrowIfNull(images);
        var edges = images.ToDictionary(i => i.Name, i => (i.DependsOn ?? []).Select(d => d.Image).ToList(), StringComparer.Ordinal);
        var state = new Dictionary<string, int>(StringComparer.Ordinal); // 1 = on the path, 2 = done
        var path = new List<string>();
        foreach (var start in edges.Keys)
        {
            if (Visit(start) is { } cycle)
            {
                return cycle;
            }
        }
        return null;

        List<string>? Visit(string node)
        {
            if (state.TryGetValue(node, out var s))
            {
                if (s == 2)
                {
                    return null;
                }
                var from = path.IndexOf(node);
                return [.. path[from..], node];
            }
            state[node] = 1;
            path.Add(node);
            foreach (var next in edges.TryGetValue(node, out var list) ? list : [])
            {
                if (Visit(next) is { } cycle)
                {
                    return cycle;
                }
            }
            path.RemoveAt(path.Count - 1);
            state[node] = 2;
            return null;
        }
    }

    private static void Add(Dictionary<string, List<string>> errors, string field, string message)
    {
        if (!errors.TryGetValue(field, out var list))
        {
            errors[field] = list = [];
        }
        list.Add(message);
    }

    [GeneratedRegex(@"^[a-z0-9][a-z0-9._-]{0,62}\z", RegexOptions.CultureInvariant)]
    private static partial Regex ImageNameRegex();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*\z", RegexOptions.CultureInvariant)]
    private static partial Regex BuildArgRegex();
}
