using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using BuildFarm.Contracts;
using BuildFarm.Kaniko.Specs;
using BuildFarm.Manifests.Graph;
using BuildFarm.Manifests.Model;

namespace BuildFarm.Manifests.Planning;

/// <summary>What to plan: which revision, when, which images, and the batch's identity.</summary>
public sealed record ManifestPlanRequest
{
    /// <summary>The batch id (the producer chooses it; the build ids derive from it).</summary>
    public required string BatchId { get; init; }

    /// <summary>The revision templates use (<c>{sha}</c>, <c>{short_sha}</c>): a commit sha, or a tag-safe word.</summary>
    public required string Sha { get; init; }

    /// <summary>The submit time: <c>{date}</c> is its UTC date; copied to <see cref="SubmitBatch.SubmittedAt"/>.</summary>
    public required DateTimeOffset SubmittedAt { get; init; }

    public ManifestSelection Selection { get; init; } = ManifestSelection.All;

    /// <summary>For people; defaults to <c>&lt;manifest source&gt;@&lt;sha&gt;</c>.</summary>
    public string? Source { get; init; }

    public string? RequestedBy { get; init; }
    public int Priority { get; init; }
    public DateTimeOffset? Deadline { get; init; }

    /// <summary>Limits and allow-list the expanded specs are checked against; the defaults when null.</summary>
    public BuildSpecValidationOptions? Validation { get; init; }
}

/// <summary>
/// Turns a manifest into one <see cref="SubmitBatch"/> (pure): selects the images, expands the templates, gives each
/// image a deterministic build id and lists its dependencies inside the batch. A dependency's pinned reference is not
/// in the spec: <see cref="BatchDependency"/> names the build arg and the orchestrator fills it in once the dependency
/// succeeded. A dependency outside the selection (an unchanged base under <c>--changed</c>) is left out: the dependent
/// then builds on its Dockerfile's default <c>ARG</c> value, like a plain <c>docker build</c> would.
/// </summary>
public static partial class ManifestPlanner
{
    /// <summary>Longest build id <see cref="BuildId"/> returns; leaves room in pod names (<c>bf-&lt;id&gt;-&lt;attempt&gt;-debug</c> ≤ 63).</summary>
    public const int MaxBuildIdLength = 40;

    private const int NameRoom = 27;
    private const int HashLength = 12;

    /// <exception cref="ManifestException">An expanded spec does not validate (each error names the image and its line).</exception>
    /// <exception cref="ManifestSelectionException">The selection names an unknown image or a bad path.</exception>
    /// <exception cref="ArgumentException">The batch id or the sha is not usable.</exception>
    public static SubmitBatch Plan(Manifest manifest, ManifestPlanRequest request)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(request);
        if (string.IsNullOrWhiteSpace(request.BatchId) || request.BatchId.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            throw new ArgumentException("the batch id must be non-empty, without whitespace or control characters", nameof(request));
        }
        if (!ManifestTemplates.TryNormalizeSha(request.Sha, out var sha, out var shaError))
        {
            throw new ArgumentException(shaError, nameof(request));
        }
        var selected = ManifestGraph.Select(manifest, request.Selection);
        var inBatch = selected.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var validation = request.Validation ?? BuildSpecValidationOptions.Default;
        var errors = new List<ManifestError>();
        var images = new List<BatchImage>(selected.Count);
        foreach (var image in selected)
        {
            var spec = Expand(image, new TemplateValues(sha, request.SubmittedAt, image.Name));
            foreach (var problem in BuildSpecValidator.Validate(spec, validation).Errors)
            {
                var at = image.LocationOf(problem.Field);
                errors.Add(new ManifestError(image.Name, problem.Field, at.Line, at.Column, problem.Message));
            }
            images.Add(new BatchImage
            {
                Name = image.Name,
                BuildId = BuildId(request.BatchId, image.Name),
                Spec = spec,
                DependsOn = [.. image.DependsOn.Where(d => inBatch.Contains(d.Image)).Select(d => new BatchDependency(d.Image, d.BuildArg))],
            });
        }
        if (errors.Count > 0)
        {
            throw new ManifestException(manifest.Source, errors);
        }
        return new SubmitBatch
        {
            BatchId = request.BatchId,
            Images = images,
            Source = request.Source ?? $"{manifest.Source}@{sha}",
            RequestedBy = request.RequestedBy,
            SubmittedAt = request.SubmittedAt,
            Deadline = request.Deadline,
            Priority = request.Priority,
        };
    }

    /// <summary>The image's spec with every template expanded (context, destinations, cacheRepo, build-arg and label values).</summary>
    public static BuildSpec Expand(ManifestImage image, TemplateValues values)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(values);
        var spec = image.Spec;
        return spec with
        {
            Context = ManifestTemplates.Expand(spec.Context, values),
            Destinations = [.. spec.Destinations.Select(d => ManifestTemplates.Expand(d, values))],
            CacheRepo = spec.CacheRepo is null ? null : ManifestTemplates.Expand(spec.CacheRepo, values),
            BuildArgs = spec.BuildArgs.ToDictionary(a => a.Key, a => ManifestTemplates.Expand(a.Value, values), StringComparer.Ordinal),
            Labels = spec.Labels.ToDictionary(a => a.Key, a => ManifestTemplates.Expand(a.Value, values), StringComparer.Ordinal),
        };
    }

    /// <summary>
    /// The build id of <paramref name="imageName"/> in batch <paramref name="batchId"/>: the image name (lower case,
    /// <c>[a-z0-9-]</c>, at most 27 characters) and 12 hex digits of SHA-256(batch id, image name), e.g.
    /// <c>api-gateway-3f9c0a1b2c4d</c>. Deterministic (a redelivered batch makes the same builds and pods), at most
    /// <see cref="MaxBuildIdLength"/> characters, and already a valid pod-name part, so <c>KanikoPodNames</c> keeps it as is.
    /// </summary>
    public static string BuildId(string batchId, string imageName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(batchId);
        ArgumentException.ThrowIfNullOrWhiteSpace(imageName);
        var name = NonDnsRegex().Replace(imageName.ToLowerInvariant(), "-");
        name = DashesRegex().Replace(name, "-").Trim('-');
        if (name.Length > NameRoom)
        {
            name = name[..NameRoom].TrimEnd('-');
        }
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(batchId + "\n" + imageName)))[..HashLength];
        return name.Length == 0 ? hash : $"{name}-{hash}";
    }

    [GeneratedRegex("[^a-z0-9-]", RegexOptions.CultureInvariant)]
    private static partial Regex NonDnsRegex();

    [GeneratedRegex("-{2,}", RegexOptions.CultureInvariant)]
    private static partial Regex DashesRegex();
}
