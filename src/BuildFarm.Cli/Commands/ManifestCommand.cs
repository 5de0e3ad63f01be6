using System.CommandLine;
using System.Text.Json;
using BuildFarm.Contracts;
using BuildFarm.Manifests.Graph;
using BuildFarm.Manifests.Model;
using BuildFarm.Manifests.Parsing;
using BuildFarm.Manifests.Planning;

namespace BuildFarm.Cli.Commands;

/// <summary><c>buildfarm manifest check</c>: validates a monorepo manifest and prints the batch it would submit.</summary>
public static class ManifestCommand
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web) { WriteIndented = false };

    public static Command Create(CliIO io)
    {
        ArgumentNullException.ThrowIfNull(io);
        var manifest = new Command("manifest", "Monorepo manifests: check one and see the batch it makes.");
        manifest.Subcommands.Add(CreateCheck(io));
        return manifest;
    }

    private static Command CreateCheck(CliIO io)
    {
        var file = new Argument<FileInfo>("MANIFEST") { Description = "The manifest YAML file." };
        var sha = new Option<string?>("--sha") { Description = $"Revision for {{sha}} and {{short_sha}} (default: the placeholder {ManifestTemplates.PlaceholderSha})." };
        var only = new Option<string[]>("--only") { Description = "Build only these images (comma-separated or repeated) plus what they depend on.", AllowMultipleArgumentsPerToken = true };
        var changed = new Option<string[]>("--changed")
        {
            Description = "Build the images these changed paths touch (comma-separated or repeated; '-' reads one path per line from stdin) plus their dependents.",
            AllowMultipleArgumentsPerToken = true,
        };
        var output = new Option<string>("--output", "-o") { Description = "Output format: text (default) or json." };
        var batchId = new Option<string>("--batch-id") { Description = "Batch id the build ids derive from (default: check).", DefaultValueFactory = _ => "check" };
        var command = new Command("check", "Validate a manifest (every error with its line) and print the plan: images in build order, their destinations, their dependencies. Exit 0 when valid, 2 when not.")
        {
            file, sha, only, changed, output, batchId,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var format = (parse.GetValue(output) ?? "text").ToLowerInvariant();
            if (format is not ("text" or "json"))
            {
                return await UsageAsync(io, $"--output '{format}' is not supported: use text or json");
            }
            var onlyNames = Split(parse.GetValue(only));
            var changedPaths = Split(parse.GetValue(changed));
            if (onlyNames.Count > 0 && changedPaths.Count > 0)
            {
                return await UsageAsync(io, "--only and --changed cannot be combined");
            }
            if (changedPaths.Remove("-"))
            {
                while (await io.In.ReadLineAsync(cancellationToken) is { } line)
                {
                    if (line.Trim().Length > 0)
                    {
                        changedPaths.Add(line.Trim());
                    }
                }
            }
            var selection = onlyNames.Count > 0 ? ManifestSelection.Only(onlyNames)
                : parse.GetResult(changed) is not null ? ManifestSelection.Changed(changedPaths)
                : ManifestSelection.All;
            var path = parse.GetValue(file)!.FullName;
            var shaValue = parse.GetValue(sha) ?? ManifestTemplates.PlaceholderSha;

            Manifest parsed;
            SubmitBatch batch;
            try
            {
                parsed = ManifestParser.Load(path);
                batch = ManifestPlanner.Plan(parsed, new ManifestPlanRequest
                {
                    BatchId = parse.GetValue(batchId)!,
                    Sha = shaValue,
                    SubmittedAt = DateTimeOffset.UtcNow,
                    Selection = selection,
                });
            }
            catch (ManifestException e)
            {
                await WriteErrorsAsync(io, format, path, e.Errors);
                return 2;
            }
            catch (Exception e) when (e is ManifestSelectionException or ArgumentException)
            {
                return await UsageAsync(io, e.Message);
            }
            if (format == "json")
            {
                await io.Out.WriteLineAsync(JsonSerializer.Serialize(Json(path, parsed, batch, selection), s_json));
            }
            else
            {
                await WriteTextAsync(io.Out, path, parsed, batch, selection, parse.GetValue(sha) is null);
            }
            return 0;
        });
        return command;
    }

    private static List<string> Split(string[]? values) =>
        [.. (values ?? []).SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))];

    private static async Task<int> UsageAsync(CliIO io, string message)
    {
        await io.Error.WriteLineAsync($"buildfarm manifest check: {message}");
        return BuildFarmCli.UsageError;
    }

    private static async Task WriteErrorsAsync(CliIO io, string format, string path, IReadOnlyList<ManifestError> errors)
    {
        if (format == "json")
        {
            await io.Out.WriteLineAsync(JsonSerializer.Serialize(new
            {
                manifest = path,
                valid = false,
                errors = errors.Select(e => new { image = e.Image, field = e.Field, line = e.Line, column = e.Column, message = e.Message }),
            }, s_json));
            return;
        }
        foreach (var error in errors)
        {
            var image = error.Image is null ? "" : $"image '{error.Image}': ";
            var field = error.Field.Length == 0 ? "" : $"{error.Field}: ";
            await io.Error.WriteLineAsync($"{path}:{error.Line}:{error.Column}: error: {image}{field}{error.Message}");
        }
        await io.Error.WriteLineAsync($"{path}: {errors.Count} error(s); the manifest cannot be submitted.");
    }

    private static object Json(string path, Manifest manifest, SubmitBatch batch, ManifestSelection selection) => new
    {
        manifest = path,
        valid = true,
        imageCount = manifest.Images.Count,
        selection = selection.ToString(),
        batchId = batch.BatchId,
        images = batch.Images.Select((image, index) => new
        {
            order = index + 1,
            name = image.Name,
            buildId = image.BuildId,
            destinations = image.Spec.Destinations,
            dependsOn = image.DependsOn.Select(d => new { image = d.Image, buildArg = d.BuildArg }),
            notRebuilt = NotRebuilt(manifest, batch, image.Name),
            schedule = manifest[image.Name].Schedule,
        }),
    };

    /// <summary>Dependencies of <paramref name="image"/> left out of the batch (their Dockerfile ARG default applies).</summary>
    private static List<string> NotRebuilt(Manifest manifest, SubmitBatch batch, string image) =>
        [.. manifest[image].DependsOn.Select(d => d.Image).Where(d => batch.Images.All(i => i.Name != d))];

    private static async Task WriteTextAsync(TextWriter output, string path, Manifest manifest, SubmitBatch batch, ManifestSelection selection, bool placeholderSha)
    {
        await output.WriteLineAsync($"{path}: valid, {Plural.Of(manifest.Images.Count, "image")}; {selection}: {batch.Images.Count} to build, in this order"
            + (placeholderSha ? " (no --sha: {sha} shows a placeholder)" : "") + ":");
        var width = batch.Images.Count == 0 ? 0 : batch.Images.Max(i => i.Name.Length);
        for (var i = 0; i < batch.Images.Count; i++)
        {
            var image = batch.Images[i];
            var line = $"{i + 1,4}. {image.Name.PadRight(width)}";
            if (image.DependsOn.Count > 0)
            {
                line += "  after " + string.Join(", ", image.DependsOn.Select(d => d.BuildArg is null ? d.Image : $"{d.Image} ({d.BuildArg})"));
            }
            if (NotRebuilt(manifest, batch, image.Name) is { Count: > 0 } kept)
            {
                line += $"  [not rebuilt: {string.Join(", ", kept)}]";
            }
            if (manifest[image.Name].Schedule is { } schedule)
            {
                line += $"  [schedule '{schedule}' UTC]";
            }
            await output.WriteLineAsync(line);
            foreach (var destination in image.Spec.Destinations)
            {
                await output.WriteLineAsync($"{"",6}{destination}");
            }
        }
        if (batch.Images.Count == 0)
        {
            await output.WriteLineAsync("  nothing to build.");
        }
    }
}
