using System.CommandLine;
using System.Globalization;
using BuildFarm.Contracts;
using BuildFarm.Kaniko.Pods;
using BuildFarm.Kaniko.Specs;
using k8s;
using k8s.Models;

namespace BuildFarm.Cli.Commands;

/// <summary>
/// <c>buildfarm kaniko pod</c>: prints the Kaniko pod (or, with <c>--debug</c>, the debug pod) the farm would
/// create for a build. The spec goes through <see cref="BuildSpecValidator"/> first. Exit 0 with the pod on
/// stdout; exit 2 with one message per problem on stderr, each naming the field.
/// </summary>
public static class KanikoPodCommand
{
    private const string Prefix = "buildfarm kaniko pod";

    public static Command Create(CliIO io)
    {
        var context = new Option<string>("--context") { Description = "Build context: git://…, https://….tar.gz, s3://bucket/key, gs://bucket/key or dir:///path (required)." };
        var destination = new Option<string[]>("--destination", "-d") { Description = "Image reference to push to; repeat for more (at least one)." };
        var contextSubPath = new Option<string>("--context-sub-path") { Description = "Folder inside the context that is the image's context." };
        var dockerfile = new Option<string>("--dockerfile", "-f") { Description = "Dockerfile path relative to the context (default Dockerfile)." };
        var buildArg = new Option<string[]>("--build-arg") { Description = "Build argument KEY=VALUE; repeat for more." };
        var target = new Option<string>("--target") { Description = "Stage to build." };
        var label = new Option<string[]>("--label") { Description = "Image label KEY=VALUE; repeat for more." };
        var cacheRepo = new Option<string>("--cache-repo") { Description = "Use Kaniko's layer cache in this repository." };
        var platform = new Option<string>("--platform") { Description = "Target platform os/arch[/variant] (--custom-platform)." };
        var buildId = new Option<string>("--build-id") { Description = "Build id for the pod name and labels (default: the first 12 digits of the build key)." };
        var attempt = new Option<string>("--attempt") { Description = "Attempt number, 1 or more (default 1)." };
        var executorImage = new Option<string>("--executor-image") { Description = "Executor image, pinned by digest (the debug image with --debug)." };
        var allowUnpinned = new Option<bool>("--allow-unpinned") { Description = "Accept an executor image without @sha256 digest." };
        var output = new Option<string>("--output", "-o") { Description = "Output format: yaml (default) or json." };
        var debug = new Option<bool>("--debug") { Description = "Print the debug pod (:debug image idling in /busybox/sh)." };

        // Stray tokens (a mistyped option, a value without option) land here so that they are reported
        // like every other input error, with exit 2, rather than by the parser with exit 1.
        var unexpected = new Argument<string[]>("unexpected") { Arity = ArgumentArity.ZeroOrMore, Hidden = true };
        var command = new Command("pod", "Print the Kaniko pod the farm would create for a build.")
        {
            context, destination, contextSubPath, dockerfile, buildArg, target, label, cacheRepo, platform,
            buildId, attempt, executorImage, allowUnpinned, output, debug, unexpected,
        };
        // A value-taking option given without its value parses as empty and is reported by the action.
        foreach (var option in new Option[] { context, contextSubPath, dockerfile, target, cacheRepo, platform, buildId, attempt, executorImage, output })
        {
            option.Arity = ArgumentArity.ZeroOrOne;
        }
        foreach (var option in new Option[] { destination, buildArg, label })
        {
            option.Arity = ArgumentArity.ZeroOrMore;
        }
        command.SetAction(parseResult =>
        {
            var errors = new List<string>();
            foreach (var token in parseResult.GetValue(unexpected) ?? [])
            {
                errors.Add($"unexpected argument '{token}'");
            }
            foreach (var option in new Option<string>[] { contextSubPath, dockerfile, target, cacheRepo, platform, buildId, attempt, executorImage, output })
            {
                if (parseResult.GetResult(option) is { Implicit: false } && string.IsNullOrEmpty(parseResult.GetValue(option)))
                {
                    errors.Add($"{option.Name}: needs a value");
                }
            }

            var format = parseResult.GetValue(output) ?? "yaml";
            if (format is not ("yaml" or "json"))
            {
                errors.Add($"--output: '{format}' must be yaml or json");
            }
            var attemptNumber = 1;
            if (parseResult.GetValue(attempt) is { } attemptText
                && (!int.TryParse(attemptText, NumberStyles.None, CultureInfo.InvariantCulture, out attemptNumber) || attemptNumber < 1))
            {
                errors.Add($"--attempt: '{attemptText}' must be a whole number, 1 or more");
            }
            var buildArgs = ParsePairs("--build-arg", parseResult.GetValue(buildArg), errors);
            var labels = ParsePairs("--label", parseResult.GetValue(label), errors);
            var contextValue = parseResult.GetValue(context);
            if (string.IsNullOrEmpty(contextValue))
            {
                errors.Add($"--context: is required ({BuildContext.AllowedForms})");
            }

            var isDebug = parseResult.GetValue(debug);
            var options = new KanikoPodOptions { AllowUnpinnedImages = parseResult.GetValue(allowUnpinned) };
            if (parseResult.GetValue(executorImage) is { } image)
            {
                if (isDebug)
                {
                    options.DebugImage = image;
                }
                else
                {
                    options.ExecutorImage = image;
                }
            }
            errors.AddRange(options.Validate().Select(e => e.StartsWith("ExecutorImage", StringComparison.Ordinal) || e.StartsWith("DebugImage", StringComparison.Ordinal)
                ? "--executor-image: " + e[(e.IndexOf(':', StringComparison.Ordinal) + 2)..]
                : e));
            if (errors.Count > 0 || contextValue is null)
            {
                return Fail(io, errors);
            }

            var cacheRepoValue = parseResult.GetValue(cacheRepo);
            var spec = new BuildSpec
            {
                Context = contextValue,
                ContextSubPath = parseResult.GetValue(contextSubPath),
                Dockerfile = parseResult.GetValue(dockerfile) ?? "Dockerfile",
                Destinations = parseResult.GetValue(destination) ?? [],
                BuildArgs = buildArgs,
                Target = parseResult.GetValue(target),
                Labels = labels,
                Cache = cacheRepoValue is not null,
                CacheRepo = cacheRepoValue,
                Platform = parseResult.GetValue(platform),
            };
            var validation = BuildSpecValidator.Validate(spec);
            if (!validation.IsValid)
            {
                return Fail(io, validation.Errors.Select(e => e.ToString()));
            }
            foreach (var warning in validation.Warnings)
            {
                io.Error.WriteLine($"{Prefix}: warning: {warning}");
            }

            var key = BuildKey.Compute(spec, options.ExecutorImage);
            var id = parseResult.GetValue(buildId) ?? key[..12];
            if (string.IsNullOrWhiteSpace(id))
            {
                return Fail(io, ["--build-id: must not be empty"]);
            }
            V1Pod pod;
            try
            {
                pod = isDebug
                    ? KanikoPodFactory.CreateDebug(spec, id, attemptNumber, options, key)
                    : KanikoPodFactory.Create(spec, id, attemptNumber, options, key);
            }
            catch (ArgumentException e)
            {
                return Fail(io, [e.Message]);
            }
            var text = format == "json" ? KubernetesJson.Serialize(pod) : KubernetesYaml.Serialize(pod);
            io.Out.Write(text.EndsWith('\n') ? text : text + "\n");
            return 0;
        });
        return command;
    }

    private static Dictionary<string, string> ParsePairs(string option, string[]? values, List<string> errors)
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

    private static int Fail(CliIO io, IEnumerable<string> errors)
    {
        foreach (var error in errors)
        {
            io.Error.WriteLine($"{Prefix}: {error}");
        }
        return 2;
    }
}
