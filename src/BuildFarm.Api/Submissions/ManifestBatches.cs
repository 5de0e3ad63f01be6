using System.Text;
using BuildFarm.Api.Options;
using BuildFarm.Contracts;
using BuildFarm.Manifests.Graph;
using BuildFarm.Manifests.Model;
using BuildFarm.Manifests.Parsing;
using BuildFarm.Manifests.Planning;
using Microsoft.Extensions.Primitives;

namespace BuildFarm.Api.Submissions;

/// <summary>
/// A manifest submit (<c>POST /v1/batches</c>, <c>Content-Type: application/yaml</c>): parses the YAML, reads the query
/// (<c>sha</c> required; <c>only</c> or <c>changed</c>, repeated or comma-separated) and returns a planner for the batch
/// id the submitter reserves. Every problem becomes a field error: manifest problems are keyed
/// <c>manifest.images[&lt;name&gt;].&lt;field&gt;</c> (or <c>manifest.&lt;field&gt;</c>) with their line and column.
/// </summary>
public static class ManifestBatches
{
    public static Func<string, SubmitBatch>? Plan(
        byte[] body, IQueryCollection query, ApiOptions options, DateTimeOffset now, out Dictionary<string, List<string>> errors)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(options);
        errors = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var sha = query["sha"].ToString();
        if (string.IsNullOrWhiteSpace(sha))
        {
            Add(errors, "sha", "is required with a manifest: the commit the images are built at ({sha}, {short_sha})");
        }
        else if (!ManifestTemplates.TryNormalizeSha(sha, out _, out var shaError))
        {
            Add(errors, "sha", shaError);
        }
        var only = Values(query["only"]);
        var changed = Values(query["changed"]);
        if (only.Count > 0 && changed.Count > 0)
        {
            Add(errors, "only", "cannot be combined with changed");
        }
        var selection = only.Count > 0 ? ManifestSelection.Only(only) : changed.Count > 0 ? ManifestSelection.Changed(changed) : ManifestSelection.All;

        Manifest manifest;
        try
        {
            manifest = ManifestParser.Parse(new UTF8Encoding(false, true).GetString(body), "manifest", options.SpecValidation());
        }
        catch (ManifestException e)
        {
            AddManifestErrors(errors, e);
            return null;
        }
        catch (DecoderFallbackException)
        {
            Add(errors, "manifest", "is not valid UTF-8");
            return null;
        }
        if (errors.Count > 0)
        {
            return null;
        }
        SubmitBatch Make(string batchId) => ManifestPlanner.Plan(manifest, new ManifestPlanRequest
        {
            BatchId = batchId,
            Sha = sha,
            SubmittedAt = now,
            Selection = selection,
            Validation = options.SpecValidation(),
        });
        try
        {
            var trial = Make("batch-trial");
            if (trial.Images.Count == 0)
            {
                Add(errors, selection.Kind == ManifestSelectionKind.Changed ? "changed" : "manifest", $"selects no image ({selection}); nothing to build");
                return null;
            }
        }
        catch (ManifestException e)
        {
            AddManifestErrors(errors, e);
            return null;
        }
        catch (ManifestSelectionException e)
        {
            Add(errors, only.Count > 0 ? "only" : "changed", e.Message);
            return null;
        }
        return Make;
    }

    private static List<string> Values(StringValues values) =>
        [.. values.SelectMany(v => (v ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))];

    private static void AddManifestErrors(Dictionary<string, List<string>> errors, ManifestException e)
    {
        if (e.Errors.Count == 0)
        {
            Add(errors, "manifest", e.Message);
        }
        foreach (var error in e.Errors)
        {
            var field = error.Image is null
                ? error.Field.Length == 0 ? "manifest" : $"manifest.{error.Field}"
                : error.Field.Length == 0 ? $"manifest.images[{error.Image}]" : $"manifest.images[{error.Image}].{error.Field}";
            Add(errors, field, $"line {error.Line}, column {error.Column}: {error.Message}");
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
}
