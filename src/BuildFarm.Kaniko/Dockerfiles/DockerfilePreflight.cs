using System.Text.RegularExpressions;
using BuildFarm.Contracts;

namespace BuildFarm.Kaniko.Dockerfiles;

/// <summary>
/// Checks a Dockerfile before any Kaniko pod starts: errors for what breaks Kaniko (touching <c>/workspace</c> or
/// <c>/kaniko</c>) or makes the Dockerfile invalid, warnings for what makes builds fragile (floating base tags,
/// <c>git://</c> contexts, unpinned remote ADD). Pure: text in, findings out, sorted by line.
/// </summary>
public static partial class DockerfilePreflight
{
    private static readonly HashSet<string> _posixShells = new(StringComparer.Ordinal) { "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox" };

    [GeneratedRegex(@"\$\{?([A-Za-z_][A-Za-z0-9_]*)")]
    private static partial Regex VariableReferenceRegex();

    [GeneratedRegex(@"^[0-9]*<<-?[^<]")]
    private static partial Regex HeredocOpenerRegex();

    public static IReadOnlyList<PreflightFinding> Check(string text, PreflightOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        options ??= new PreflightOptions();
        var findings = new List<PreflightFinding>();
        var dockerfile = DockerfileParser.Parse(text);
        findings.AddRange(dockerfile.Errors.Select(e => new PreflightFinding(e.Line, e.Code, e.Message)));

        if (dockerfile.Instructions.Count == 0 && dockerfile.Errors.Count == 0)
        {
            findings.Add(new PreflightFinding(1, PreflightCodes.EmptyDockerfile,
                "the Dockerfile has no instructions: it needs at least FROM <image>."));
        }
        else
        {
            var stages = DockerfileStages.Resolve(dockerfile, options.BuildArgs);
            findings.AddRange(stages.Errors.Select(e => new PreflightFinding(e.Line, e.Code, e.Message)));
            var workspaceContext = KanikoPaths.IsWorkspaceContext(options.Context);
            foreach (var stage in stages.Stages)
            {
                CheckFrom(stage, stages, dockerfile.EscapeChar, findings);
                foreach (var step in stage.Steps)
                {
                    CheckStep(step, stage, stages, dockerfile.EscapeChar, workspaceContext, findings);
                }
            }
        }

        if (options.Context is { } context && context.StartsWith("git://", StringComparison.OrdinalIgnoreCase))
        {
            findings.Add(new PreflightFinding(0, PreflightCodes.GitContext,
                $"the build context '{context}' is a git:// repository: Kaniko clones it itself and private repositories may fail to clone (kaniko#719). For a private repository, fetch the source first and pass a tar.gz context (https://, s3://, gs://), or make sure the pod has GIT_TOKEN or GIT_USERNAME/GIT_PASSWORD."));
        }

        return [.. findings.OrderBy(f => f.Line).ThenBy(f => f.Code, StringComparer.Ordinal)];
    }

    /// <summary>The reason a build fails with for these findings, or null when none is an error. An invalid
    /// Dockerfile (<c>dockerfile_invalid</c>) wins over a <c>filesystem_conflict</c>: it must be fixed first.</summary>
    public static string? FailureReason(IEnumerable<PreflightFinding> findings)
    {
        ArgumentNullException.ThrowIfNull(findings);
        var reasons = findings.Where(f => f.Severity == PreflightSeverity.Error).Select(f => f.Reason).ToList();
        return reasons.Contains(FailureReasons.DockerfileInvalid) ? FailureReasons.DockerfileInvalid : reasons.FirstOrDefault();
    }

    private static void CheckFrom(BuildStage stage, DockerfileStages stages, char escape, List<PreflightFinding> findings)
    {
        if (stage.BaseStage is not null)
        {
            return;
        }
        var line = stage.From.Line;
        var words = DockerfileParser.SplitRawWords(stage.From.Arguments);
        if (words.Count is not (1 or 3))
        {
            return; // already reported as malformed
        }
        var image = stage.BaseImage;
        if (image is null)
        {
            // Only the platform the builder picks is unknown (FROM golang:1.22-${TARGETARCH}): any platform will do to see whether the tag floats.
            image = WordExpander.Expand(words[0], name => _samplePlatform.TryGetValue(name, out var sample) && stages.GlobalArgs.Lookup(name).State == VariableState.Unknown
                ? VariableLookup.Of(sample)
                : stages.GlobalArgs.Lookup(name), escape);
        }
        if (image is not null && stages.FindStage(image, stage.Index) is not null)
        {
            return; // FROM gobuild-$BUILDARCH-$TARGETARCH: names an earlier stage on this platform (moby/buildkit's test Dockerfile)
        }
        if (image is null || !ImageReferences.IsComplete(image))
        {
            var names = VariableReferenceRegex().Matches(words[0]).Select(m => m.Groups[1].Value).Distinct().ToList();
            var why = names.Count == 0 ? "" : $" ({string.Join(", ", names.Select(n => $"{n} is {Describe(stages.GlobalArgs.Lookup(n))}"))})";
            findings.Add(new PreflightFinding(line, PreflightCodes.UnresolvedBaseImage,
                $"the base image '{words[0]}' cannot be resolved before the build{why}, so its tag cannot be checked: declare ARG <name>=<image:version> before the first FROM or pass --build-arg <name>=<image:version>."));
            return;
        }
        if (ImageReferences.FloatingReason(image) is { } floating)
        {
            findings.Add(new PreflightFinding(line, PreflightCodes.FloatingBaseTag,
                $"the base image {floating}: it changes under you, so builds are not reproducible and a new release can break them. Pin a version tag ('{ImageReferences.WithoutTag(image)}:<version>') or a digest ('{ImageReferences.WithoutTag(image)}@sha256:…')."));
        }
    }

    private static readonly Dictionary<string, string> _samplePlatform = new(StringComparer.Ordinal)
    {
        ["TARGETPLATFORM"] = "linux/amd64", ["TARGETOS"] = "linux", ["TARGETARCH"] = "amd64", ["TARGETVARIANT"] = "",
        ["BUILDPLATFORM"] = "linux/amd64", ["BUILDOS"] = "linux", ["BUILDARCH"] = "amd64", ["BUILDVARIANT"] = "",
    };

    private static string Describe(VariableLookup lookup) => lookup.State switch
    {
        VariableState.Unset => "declared without a default",
        VariableState.Unknown => "not declared before FROM or not static",
        _ => $"'{lookup.Value}'",
    };

    /// <summary>Whether creating or writing into <paramref name="root"/> is an error: always for <c>/kaniko</c>, for
    /// <c>/workspace</c> only when the build context is there (docs/dockerfile-preflight.md, "Why /workspace and /kaniko").</summary>
    private static bool WriteIsError(string root, bool workspaceContext) => root == KanikoPaths.Kaniko || workspaceContext;

    private static void CheckStep(StageStep step, BuildStage stage, DockerfileStages stages, char escape, bool workspaceContext, List<PreflightFinding> findings)
    {
        var instruction = step.Instruction;
        var line = instruction.Line;
        if (instruction.Arguments.Length == 0 && instruction.ExecForm is null && instruction.Heredocs.Count == 0)
        {
            if (instruction.Keyword is "RUN" or "CMD" or "ENTRYPOINT")
            {
                // BuildKit's parser takes these with no arguments (an empty command line); Kaniko then runs or
                // records an empty shell command ('/bin/sh -c ""'). Odd, not broken.
                var effect = instruction.Keyword == "RUN" ? "runs an empty shell command ('/bin/sh -c \"\"'), which does nothing" : "sets an empty shell command ('/bin/sh -c \"\"') as the image's " + instruction.Keyword.ToLowerInvariant();
                findings.Add(new PreflightFinding(line, PreflightCodes.EmptyCommand,
                    $"{instruction.Keyword} has no command: Kaniko accepts it and {effect}. Give it a command or remove the line."));
                return;
            }

            // Every other instruction needs at least one argument: BuildKit's parser rejects it without.
            findings.Add(new PreflightFinding(line, PreflightCodes.MissingArguments,
                $"{instruction.Keyword} has no arguments: Kaniko's Dockerfile parser rejects it. Give it what it needs (see the Dockerfile reference) or remove the line."));
            return;
        }

        switch (instruction.Keyword)
        {
            case "RUN":
                CheckRun(step, workspaceContext, findings);
                CheckJsonLookalike(instruction, findings);
                break;
            case "CMD" or "ENTRYPOINT":
                CheckJsonLookalike(instruction, findings);
                break;
            case "SHELL":
                if (instruction.ExecForm is not { Count: > 0 })
                {
                    findings.Add(new PreflightFinding(line, PreflightCodes.InvalidJsonForm,
                        $"SHELL needs the JSON form: write SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"] (double quotes, comma-separated)."));
                }
                break;
            case "WORKDIR":
            {
                var path = WordExpander.Expand(instruction.Arguments, step.Variables.Lookup, escape);
                var resolved = path is null ? null : ShellPaths.Resolve(path, step.Workdir);
                if (resolved is not null && KanikoPaths.ProtectedRoot(resolved) is { } root)
                {
                    var creates = resolved == root ? $"makes {root} the working directory" : $"makes {resolved} the working directory, creating {root}";
                    findings.Add(WriteIsError(root, workspaceContext)
                        ? new PreflightFinding(line, PreflightCodes.WorkdirInKanikoPath, $"WORKDIR {instruction.Arguments} {creates} in the image. {KanikoPaths.Why(root)}")
                        : new PreflightFinding(line, PreflightCodes.WritesIntoWorkspace, $"WORKDIR {instruction.Arguments} {creates} in the image. {KanikoPaths.WhyWorkspaceWrite}"));
                }
                break;
            }
            case "VOLUME":
            {
                var paths = instruction.ExecForm is { } exec
                    ? exec.Select(p => WordExpander.Expand(p, step.Variables.Lookup, escape)).ToList()
                    : WordExpander.ExpandWords(instruction.Arguments, step.Variables.Lookup, escape);
                foreach (var path in paths)
                {
                    var resolved = path is null ? null : ShellPaths.Resolve(path, step.Workdir);
                    if (resolved is not null && KanikoPaths.ProtectedRoot(resolved) is { } root)
                    {
                        findings.Add(new PreflightFinding(line, PreflightCodes.VolumeOnKanikoPath,
                            $"VOLUME {resolved} declares a volume {(resolved == root ? "on" : "inside")} {root}. {KanikoPaths.Why(root)}"));
                    }
                }
                break;
            }
            case "COPY" or "ADD":
                CheckCopy(step, stage, stages, escape, workspaceContext, findings);
                break;
        }
    }

    private static void CheckJsonLookalike(DockerfileInstruction instruction, List<PreflightFinding> findings)
    {
        var arguments = instruction.Arguments.Trim();
        // A quoted first element is what marks an attempted exec form; "RUN [ -f /x ]" is a shell test.
        if (instruction.ExecForm is null && arguments.StartsWith('[') && arguments.EndsWith(']')
            && arguments[1..].TrimStart() is { Length: > 0 } inner && inner[0] is '"' or '\'' or '\u201C' or '\u2018')
        {
            findings.Add(new PreflightFinding(instruction.Line, PreflightCodes.ShellFormLooksLikeJson,
                $"{instruction.Keyword} {arguments} looks like the exec form but is not valid JSON, so it runs as a shell command ('/bin/sh -c \"{arguments}\"'): use double quotes and commas, e.g. [\"npm\", \"start\"]."));
        }
    }

    private static void CheckRun(StageStep step, bool workspaceContext, List<PreflightFinding> findings)
    {
        var instruction = step.Instruction;
        IReadOnlyList<RunConflict> conflicts;
        if (instruction.ExecForm is { Count: > 0 } exec)
        {
            conflicts = RunCommandAnalyzer.AnalyzeExec(exec, step.Variables, step.Workdir);
        }
        else
        {
            var shellName = ShellPaths.BaseName(step.Shell.Count > 0 ? step.Shell[0] : "sh");
            if (!_posixShells.Contains(shellName))
            {
                return; // SHELL ["powershell", …]: not a POSIX shell, not analyzed
            }
            var script = RunScript(instruction);
            if (script is null)
            {
                return;
            }
            conflicts = RunCommandAnalyzer.AnalyzeShell(script, step.Variables, step.Workdir);
        }
        foreach (var conflict in conflicts)
        {
            var where = conflict.Path == conflict.Root ? conflict.Path : $"{conflict.Path} inside {conflict.Root}";
            // Removing, moving, symlinking or overwriting /workspace itself, or "mkdir /workspace" (no -p), breaks
            // whatever the context; creating or writing into it only collides with a /workspace context.
            findings.Add(conflict.Replaces || WriteIsError(conflict.Root, workspaceContext)
                ? new PreflightFinding(instruction.Line, PreflightCodes.RunTouchesKanikoPath,
                    $"RUN {conflict.Action} {where} (`{conflict.Command}`). {KanikoPaths.Why(conflict.Root)}")
                : new PreflightFinding(instruction.Line, PreflightCodes.WritesIntoWorkspace,
                    $"RUN {conflict.Action} {where} (`{conflict.Command}`). {KanikoPaths.WhyWorkspaceWrite}"));
        }
    }

    /// <summary>The shell script a shell-form RUN executes; null when a here-document script has a non-shell shebang.</summary>
    private static string? RunScript(DockerfileInstruction instruction)
    {
        if (instruction.Heredocs.Count == 0)
        {
            return instruction.Arguments;
        }
        var words = DockerfileParser.SplitRawWords(instruction.Arguments);
        if (words.Count > 0 && words.All(w => HeredocOpenerRegex().IsMatch(w)))
        {
            // RUN <<EOF: the first here-document is the script (run with its shebang, or the shell).
            var body = instruction.Heredocs[0].Body;
            if (body.StartsWith("#!", StringComparison.Ordinal))
            {
                var interpreter = body[2..body.IndexOf('\n', StringComparison.Ordinal)].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
                var program = interpreter.Length == 0 ? "" : ShellPaths.BaseName(interpreter[0]);
                if (program == "env" && interpreter.Length > 1)
                {
                    program = ShellPaths.BaseName(interpreter[^1]);
                }
                if (!_posixShells.Contains(program))
                {
                    return null;
                }
            }
            return body;
        }
        // RUN cmd <<EOF …: the shell sees the line followed by the here-document bodies.
        var script = new System.Text.StringBuilder(instruction.Arguments).Append('\n');
        foreach (var heredoc in instruction.Heredocs)
        {
            script.Append(heredoc.Body).Append(heredoc.Delimiter).Append('\n');
        }
        return script.ToString();
    }

    private static void CheckCopy(StageStep step, BuildStage stage, DockerfileStages stages, char escape, bool workspaceContext, List<PreflightFinding> findings)
    {
        var instruction = step.Instruction;
        var line = instruction.Line;
        var words = instruction.ExecForm is { } exec
            ? exec.Select(p => WordExpander.Expand(p, step.Variables.Lookup, escape)).ToList()
            : WordExpander.ExpandWords(instruction.Arguments, step.Variables.Lookup, escape);
        if (words.Count < 2)
        {
            findings.Add(new PreflightFinding(line, PreflightCodes.MissingArguments,
                $"{instruction.Keyword} needs at least one source and a destination: write {instruction.Keyword} <src>... <dest>."));
            return;
        }

        var destination = words[^1];
        var resolved = destination is null ? null : ShellPaths.Resolve(destination, step.Workdir);
        if (resolved is not null && KanikoPaths.ProtectedRoot(resolved) is { } root)
        {
            var where = resolved == root ? root : $"{resolved} inside {root}";
            findings.Add(WriteIsError(root, workspaceContext)
                ? new PreflightFinding(line, PreflightCodes.CopyIntoKanikoPath,
                    $"{instruction.Keyword} writes into {where} (destination '{destination}'). {KanikoPaths.Why(root)}")
                : new PreflightFinding(line, PreflightCodes.WritesIntoWorkspace,
                    $"{instruction.Keyword} writes into {where} (destination '{destination}'). {KanikoPaths.WhyWorkspaceWrite}"));
        }

        if (instruction.Keyword == "ADD")
        {
            foreach (var source in words.Take(words.Count - 1))
            {
                if (source is not null && IsGitSource(source))
                {
                    findings.Add(new PreflightFinding(line, PreflightCodes.AddGitRepository,
                        $"ADD {source} names a git repository: Kaniko does not clone repositories in ADD (BuildKit does). It downloads an http(s) URL as a single file and looks for anything else in the build context, so the build fails or gets the wrong content. Clone it in a RUN step (RUN git clone --depth 1 --branch <ref> <url> <dir>) or put it in the build context."));
                }
                else if (source is not null && instruction.Flag("checksum") is null
                    && (source.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || source.StartsWith("https://", StringComparison.OrdinalIgnoreCase)))
                {
                    findings.Add(new PreflightFinding(line, PreflightCodes.RemoteAddWithoutChecksum,
                        $"ADD downloads {source} at build time without verifying it: the content can change between builds. Add --checksum=sha256:<digest>, or download it in a RUN step that checks a known hash."));
                }
            }
        }

        if (instruction.Flag("from") is { Length: > 0 } from
            && WordExpander.Expand(from, step.Variables.Lookup, escape) is { Length: > 0 } fromImage
            && !fromImage.All(char.IsAsciiDigit)
            && stages.FindStage(fromImage, stage.Index) is null
            && ImageReferences.FloatingReason(fromImage) is { } floating)
        {
            findings.Add(new PreflightFinding(line, PreflightCodes.FloatingBaseTag,
                $"{instruction.Keyword} --from image {floating}: it changes under you, so builds are not reproducible. Pin a version tag or a digest ('{ImageReferences.WithoutTag(fromImage)}@sha256:…'), or copy from a named stage."));
        }
    }

    /// <summary>A git source in BuildKit's sense (dockerfile 1.5+): <c>git@host:repo</c>, <c>ssh://</c>, <c>git://</c>,
    /// or an http(s) URL whose path ends in <c>.git</c> (optionally followed by <c>#ref</c>).</summary>
    private static bool IsGitSource(string source)
    {
        if (source.StartsWith("git@", StringComparison.Ordinal) || source.StartsWith("git://", StringComparison.OrdinalIgnoreCase)
            || source.StartsWith("ssh://", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        if (!source.StartsWith("http://", StringComparison.OrdinalIgnoreCase) && !source.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        var path = source.Split('#', 2)[0].Split('?', 2)[0].TrimEnd('/');
        return path.EndsWith(".git", StringComparison.OrdinalIgnoreCase);
    }
}
