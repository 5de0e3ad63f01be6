using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using BuildFarm.Cli.Progress;
using BuildFarm.Client;
using BuildFarm.Contracts;

namespace BuildFarm.Cli.Commands;

/// <summary><c>buildfarm submit</c>: a manifest (a batch) or one build, optionally waiting for the outcome.</summary>
public static class SubmitCommand
{
    public static Command Create(CliIO io)
    {
        ArgumentNullException.ThrowIfNull(io);
        var connection = new ApiConnection();
        var manifest = new Option<FileInfo?>("--manifest") { Description = "A monorepo manifest (YAML): submit its images as one batch." };
        var sha = new Option<string?>("--sha") { Description = "The commit the manifest is built at ({sha}, {short_sha} in destinations)." };
        var only = new Option<string[]>("--only") { Description = "Build only these images (comma-separated), plus what they depend on.", AllowMultipleArgumentsPerToken = true };
        var changed = new Option<string[]>("--changed") { Description = "Changed paths (comma-separated): build the images under them plus their dependents.", AllowMultipleArgumentsPerToken = true };
        var build = new BuildSpecOptions();
        var wait = new Option<bool>("--wait") { Description = "Follow the builds live until they end; exit 0 only when every build succeeded." };
        var command = new Command("submit", "Submit a manifest (a batch of images) or one build to the farm's API.")
        {
            manifest, sha, only, changed,
        };
        build.AddTo(command);
        command.Options.Add(wait);
        connection.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var problems = Check(parse, manifest, sha, only, changed, build, out var spec);
            if (problems.Count > 0)
            {
                foreach (var p in problems)
                {
                    await io.Error.WriteLineAsync("buildfarm submit: " + p);
                }
                return ExitCodes.Usage;
            }
            var json = connection.Json(parse);
            if (parse.GetValue(manifest) is { } file)
            {
                string yaml;
                try
                {
                    yaml = await File.ReadAllTextAsync(file.FullName, cancellationToken);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    await io.Error.WriteLineAsync($"buildfarm submit: cannot read the manifest {file.FullName}: {e.Message}");
                    return ExitCodes.Usage;
                }
                var options = new ManifestSubmitOptions
                {
                    Sha = parse.GetValue(sha),
                    Only = SplitList(parse.GetValue(only)),
                    Changed = SplitList(parse.GetValue(changed)),
                };
                return await connection.RunAsync(parse, io, "submit", async client =>
                {
                    var batch = await client.SubmitManifestAsync(yaml, options, null, cancellationToken);
                    return await AfterBatchAsync(client, batch, io, json, parse.GetValue(wait), cancellationToken);
                });
            }
            return await connection.RunAsync(parse, io, "submit", async client =>
            {
                var build = await client.SubmitBuildAsync(new SubmitBuildRequest { Spec = spec! }, null, cancellationToken);
                if (parse.GetValue(wait))
                {
                    return await Following.BuildAsync(client, build, io, json, cancellationToken);
                }
                if (json)
                {
                    await io.Out.WriteLineAsync(JsonSerializer.Serialize(build, BuildFarmJson.Options));
                }
                else
                {
                    await io.Out.WriteLineAsync($"build {build.BuildId} {build.State.ToWire()}{StatusCommand.TenantNote(build.Tenant)}");
                    await io.Out.WriteLineAsync($"follow it with: buildfarm watch {build.BuildId}");
                }
                return ExitCodes.Ok;
            });
        });
        return command;
    }

    private static async Task<int> AfterBatchAsync(BuildFarmClient client, BatchStatus batch, CliIO io, bool json, bool wait, CancellationToken cancellationToken)
    {
        if (wait)
        {
            return await Following.BatchAsync(client, batch, io, json, cancellationToken);
        }
        if (json)
        {
            await io.Out.WriteLineAsync(JsonSerializer.Serialize(batch, BuildFarmJson.Options));
            return ExitCodes.Ok;
        }
        await io.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"batch {batch.BatchId}: {Plural.Of(batch.Total, "image")} submitted{StatusCommand.TenantNote(batch.Tenant)}"));
        CliConsole.Create(io).Write(StatusCommand.BatchTable(batch));
        await io.Out.WriteLineAsync($"follow it with: buildfarm watch {batch.BatchId}");
        return ExitCodes.Ok;
    }

    /// <summary>Every problem with the options' combination, each naming the option; <paramref name="spec"/> is the one build (null for a manifest).</summary>
    private static List<string> Check(ParseResult parse, Option<FileInfo?> manifest, Option<string?> sha, Option<string[]> only, Option<string[]> changed,
        BuildSpecOptions build, out BuildSpec? spec)
    {
        spec = null;
        var problems = new List<string>();
        var isManifest = parse.GetValue(manifest) is not null;
        var isBuild = parse.GetResult(build.Context) is { Implicit: false };
        if (isManifest == isBuild)
        {
            problems.Add("give either --manifest FILE (a batch) or --context C --destination D (one build)");
            return problems;
        }
        if (isManifest)
        {
            foreach (var name in build.Given(parse))
            {
                problems.Add($"{name} is for one build (--context); a manifest names each image's own");
            }
            return problems;
        }
        foreach (var (name, given) in new[]
        {
            ("--sha", parse.GetValue(sha) is not null),
            ("--only", parse.GetValue(only) is { Length: > 0 }),
            ("--changed", parse.GetValue(changed) is { Length: > 0 }),
        })
        {
            if (given)
            {
                problems.Add($"{name} is for a manifest (--manifest)");
            }
        }
        if (parse.GetValue(build.Destination) is not { Length: > 0 })
        {
            problems.Add("--destination is required with --context");
        }
        spec = build.Read(parse, problems);
        return problems;
    }

    /// <summary>Comma-separated and repeated values, trimmed, empty ones dropped.</summary>
    internal static IReadOnlyList<string> SplitList(string[]? values) =>
        [.. (values ?? []).SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))];
}
