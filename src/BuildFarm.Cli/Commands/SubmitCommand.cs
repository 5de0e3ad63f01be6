using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using BuildFarm.Cli.Progress;
using BuildFarm.Client;
using BuildFarm.Contracts;
using BuildFarm.Status;

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
        var context = new Option<string?>("--context") { Description = "One build: its context (git://, https://…tar.gz, s3://, gs://, dir://)." };
        var destination = new Option<string[]>("--destination") { Description = "One build: an image reference to push to (repeatable)." };
        var dockerfile = new Option<string?>("--dockerfile") { Description = "One build: the Dockerfile path in the context (default Dockerfile)." };
        var buildArg = new Option<string[]>("--build-arg") { Description = "One build: K=V (repeatable)." };
        var target = new Option<string?>("--target") { Description = "One build: the stage to build." };
        var wait = new Option<bool>("--wait") { Description = "Follow the builds live until they end; exit 0 only when every build succeeded." };
        var command = new Command("submit", "Submit a manifest (a batch of images) or one build to the farm's API.")
        {
            manifest, sha, only, changed, context, destination, dockerfile, buildArg, target, wait,
        };
        connection.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var problems = Check(parse, manifest, sha, only, changed, context, destination, dockerfile, buildArg, target);
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
            var spec = new BuildSpec
            {
                Context = parse.GetValue(context)!,
                Destinations = parse.GetValue(destination) ?? [],
                Dockerfile = parse.GetValue(dockerfile) ?? "Dockerfile",
                BuildArgs = ParseBuildArgs(parse.GetValue(buildArg), out _),
                Target = parse.GetValue(target),
            };
            return await connection.RunAsync(parse, io, "submit", async client =>
            {
                var build = await client.SubmitBuildAsync(new SubmitBuildRequest { Spec = spec }, null, cancellationToken);
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
        await io.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"batch {batch.BatchId}: {batch.Total} images submitted{StatusCommand.TenantNote(batch.Tenant)}"));
        CliConsole.Create(io).Write(StatusCommand.BatchTable(batch));
        await io.Out.WriteLineAsync($"follow it with: buildfarm watch {batch.BatchId}");
        return ExitCodes.Ok;
    }

    /// <summary>Every problem with the options' combination, each naming the option.</summary>
    private static List<string> Check(ParseResult parse, Option<FileInfo?> manifest, Option<string?> sha, Option<string[]> only, Option<string[]> changed,
        Option<string?> context, Option<string[]> destination, Option<string?> dockerfile, Option<string[]> buildArg, Option<string?> target)
    {
        var problems = new List<string>();
        var isManifest = parse.GetValue(manifest) is not null;
        var isBuild = parse.GetValue(context) is not null;
        if (isManifest == isBuild)
        {
            problems.Add("give either --manifest FILE (a batch) or --context C --destination D (one build)");
            return problems;
        }
        if (isManifest)
        {
            foreach (var (name, given) in new[]
            {
                ("--destination", parse.GetValue(destination) is { Length: > 0 }),
                ("--dockerfile", parse.GetValue(dockerfile) is not null),
                ("--build-arg", parse.GetValue(buildArg) is { Length: > 0 }),
                ("--target", parse.GetValue(target) is not null),
            })
            {
                if (given)
                {
                    problems.Add($"{name} is for one build (--context); a manifest names each image's own");
                }
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
        if (parse.GetValue(destination) is not { Length: > 0 })
        {
            problems.Add("--destination is required with --context");
        }
        ParseBuildArgs(parse.GetValue(buildArg), out var argErrors);
        problems.AddRange(argErrors);
        return problems;
    }

    /// <summary>K=V pairs; errors name each bad one.</summary>
    internal static Dictionary<string, string> ParseBuildArgs(string[]? pairs, out List<string> errors)
    {
        errors = [];
        var args = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs ?? [])
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                errors.Add($"--build-arg '{pair}': expected KEY=VALUE");
                continue;
            }
            var key = pair[..eq];
            if (args.ContainsKey(key))
            {
                errors.Add($"--build-arg '{key}': given twice");
                continue;
            }
            args[key] = pair[(eq + 1)..];
        }
        return args;
    }

    /// <summary>Comma-separated and repeated values, trimmed, empty ones dropped.</summary>
    internal static IReadOnlyList<string> SplitList(string[]? values) =>
        [.. (values ?? []).SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))];
}
