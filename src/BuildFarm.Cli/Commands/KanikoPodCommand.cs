using System.CommandLine;
using System.Globalization;
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
        var build = new BuildSpecOptions();
        var buildId = new Option<string>("--build-id") { Description = "Build id for the pod name and labels (default: the first 12 digits of the build key)." };
        var attempt = new Option<string>("--attempt") { Description = "Attempt number, 1 or more (default 1)." };
        var executorImage = new Option<string>("--executor-image") { Description = "Executor image, pinned by digest (the debug image with --debug)." };
        var allowUnpinned = new Option<bool>("--allow-unpinned") { Description = "Accept an executor image without @sha256 digest." };
        var output = new Option<string>("--output", "-o") { Description = "Output format: yaml (default) or json." };
        var debug = new Option<bool>("--debug") { Description = "Print the debug pod (:debug image idling in /busybox/sh)." };

        // Stray tokens (a mistyped option, a value without option) land here so that they are reported
        // like every other input error, with exit 2, rather than by the parser with exit 1.
        var unexpected = new Argument<string[]>("unexpected") { Arity = ArgumentArity.ZeroOrMore, Hidden = true };
        var command = new Command("pod", "Print the Kaniko pod the farm would create for a build.");
        build.AddTo(command);
        foreach (var option in new Option[] { buildId, attempt, executorImage, allowUnpinned, output, debug })
        {
            command.Options.Add(option);
        }
        command.Arguments.Add(unexpected);
        // A value-taking option given without its value parses as empty and is reported by the action.
        foreach (var option in new Option[] { buildId, attempt, executorImage, output })
        {
            option.Arity = ArgumentArity.ZeroOrOne;
        }
        command.SetAction(parseResult =>
        {
            var errors = new List<string>();
            foreach (var token in parseResult.GetValue(unexpected) ?? [])
            {
                errors.Add($"unexpected argument '{token}'");
            }
            foreach (var option in new Option<string>[] { buildId, attempt, executorImage, output })
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
            var spec = build.Read(parseResult, errors);

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
            if (errors.Count > 0 || spec is null)
            {
                return Fail(io, errors);
            }

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
            // A multi-platform spec is one pod per platform: YAML documents separated by ---, or a JSON List.
            var pods = new List<V1Pod>();
            try
            {
                if (!isDebug && BuildPlatforms.IsMultiPlatform(spec))
                {
                    pods.AddRange(BuildPlatforms.Of(spec).Select(p => KanikoPodFactory.CreateForPlatform(spec, id, p, attemptNumber, options, key)));
                }
                else
                {
                    pods.Add(isDebug
                        ? KanikoPodFactory.CreateDebug(spec, id, attemptNumber, options, key)
                        : KanikoPodFactory.Create(spec, id, attemptNumber, options, key));
                }
            }
            catch (ArgumentException e)
            {
                return Fail(io, [e.Message]);
            }
            string text;
            if (format == "json")
            {
                text = pods.Count == 1 ? KubernetesJson.Serialize(pods[0]) : KubernetesJson.Serialize(new V1PodList { ApiVersion = "v1", Kind = "List", Items = pods });
            }
            else
            {
                text = string.Join("---\n", pods.Select(p => KubernetesYaml.Serialize(p)).Select(t => t.EndsWith('\n') ? t : t + "\n"));
            }
            io.Out.Write(text.EndsWith('\n') ? text : text + "\n");
            return 0;
        });
        return command;
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
