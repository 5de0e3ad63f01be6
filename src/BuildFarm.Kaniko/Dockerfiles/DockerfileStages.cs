namespace BuildFarm.Kaniko.Dockerfiles;

/// <summary>An instruction with what is statically known when it runs.</summary>
/// <param name="Instruction">The instruction.</param>
/// <param name="Variables">ENV and ARG values in scope before the instruction.</param>
/// <param name="Workdir">The working directory before the instruction; null when unknown (set by the base image).</param>
/// <param name="Shell">The shell that runs shell-form RUN (<c>SHELL</c>), e.g. <c>["/bin/sh","-c"]</c>.</param>
public sealed record StageStep(DockerfileInstruction Instruction, VariableScope Variables, string? Workdir, IReadOnlyList<string> Shell);

/// <summary>One build stage.</summary>
/// <param name="Index">0-based stage index (usable in <c>COPY --from=0</c>).</param>
/// <param name="Name">Lower-case <c>AS</c> name, or null.</param>
/// <param name="From">The FROM instruction.</param>
/// <param name="BaseImage">The FROM reference after ARG expansion; null when it is not static.</param>
/// <param name="BaseStage">Index of the earlier stage this one is built on, or null for an image or <c>scratch</c>.</param>
/// <param name="Steps">The instructions after FROM.</param>
/// <param name="Variables">ENV and ARG values at the end of the stage.</param>
/// <param name="Workdir">The working directory at the end of the stage (null when unknown).</param>
/// <param name="Shell">The SHELL at the end of the stage.</param>
public sealed record BuildStage(
    int Index,
    string? Name,
    DockerfileInstruction From,
    string? BaseImage,
    int? BaseStage,
    IReadOnlyList<StageStep> Steps,
    VariableScope Variables,
    string? Workdir,
    IReadOnlyList<string> Shell);

/// <summary>The stages of a Dockerfile with global ARGs resolved.</summary>
/// <param name="GlobalArgs">ARGs declared before the first FROM (usable in FROM lines).</param>
/// <param name="Stages">The stages in file order.</param>
/// <param name="Errors">Structural problems: no FROM, instructions before FROM, duplicate stage names, bad FROM.</param>
public sealed record DockerfileStages(VariableScope GlobalArgs, IReadOnlyList<BuildStage> Stages, IReadOnlyList<DockerfileDiagnostic> Errors)
{
    private static readonly IReadOnlyList<string> _defaultShell = ["/bin/sh", "-c"];

    /// <summary>ARGs the builder fills in itself (per target platform, or from the proxy environment): declared
    /// without a value they are not unset but unknown.</summary>
    public static IReadOnlySet<string> BuilderArgs { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT", "BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT",
        "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy",
    };

    /// <summary>The stage named <paramref name="name"/> (case-insensitive) or with that index, among the
    /// stages before <paramref name="before"/>; null when it names none (then it is an image).</summary>
    public BuildStage? FindStage(string name, int before)
    {
        ArgumentNullException.ThrowIfNull(name);
        for (var i = 0; i < Math.Min(before, Stages.Count); i++)
        {
            if (string.Equals(Stages[i].Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return Stages[i];
            }
        }
        if (int.TryParse(name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index)
            && index < Math.Min(before, Stages.Count))
        {
            return Stages[index];
        }
        return null;
    }

    /// <summary>Walks the parsed instructions and tracks ARG/ENV scoping, WORKDIR and SHELL per stage.
    /// <paramref name="buildArgs"/> override ARG defaults, as <c>--build-arg</c> does.</summary>
    public static DockerfileStages Resolve(Dockerfile dockerfile, IReadOnlyDictionary<string, string>? buildArgs = null)
    {
        ArgumentNullException.ThrowIfNull(dockerfile);
        buildArgs ??= new Dictionary<string, string>();
        var escape = dockerfile.EscapeChar;
        var errors = new List<DockerfileDiagnostic>();
        var stages = new List<BuildStage>();
        var global = VariableScope.Empty(complete: false);
        var globalNames = new HashSet<string>(StringComparer.Ordinal);

        // The stage being built.
        DockerfileInstruction? from = null;
        string? name = null, baseImage = null, workdir = null;
        int? baseStage = null;
        var scope = VariableScope.Empty(complete: false);
        var shell = _defaultShell;
        var steps = new List<StageStep>();
        var sawFrom = false;
        var beforeFrom = new List<DockerfileDiagnostic>();

        void Close()
        {
            if (from is not null)
            {
                stages.Add(new BuildStage(stages.Count, name, from, baseImage, baseStage, [.. steps], scope, workdir, shell));
            }
        }

        foreach (var instruction in dockerfile.Instructions)
        {
            switch (instruction.Keyword)
            {
                case "FROM":
                    Close();
                    sawFrom = true;
                    from = instruction;
                    steps = [];
                    (baseImage, name) = ParseFrom(instruction, global, escape, errors);
                    if (name is not null && stages.Any(s => s.Name == name))
                    {
                        errors.Add(new(instruction.Line, PreflightCodes.DuplicateStageName,
                            $"the stage name '{name}' is used twice: give each FROM … AS a unique name."));
                    }
                    var parent = baseImage is null ? null : stages.Find(s => string.Equals(s.Name, baseImage, StringComparison.OrdinalIgnoreCase));
                    baseStage = parent?.Index;
                    if (parent is not null)
                    {
                        scope = parent.Variables.EnvOnly();
                        workdir = parent.Workdir;
                        shell = parent.Shell;
                    }
                    else
                    {
                        var scratch = string.Equals(baseImage, "scratch", StringComparison.OrdinalIgnoreCase);
                        scope = VariableScope.Empty(complete: scratch);
                        workdir = scratch ? "/" : null;
                        shell = _defaultShell;
                    }
                    continue;

                case "ARG":
                    foreach (var (argName, value) in ParseArg(instruction.Arguments, sawFrom ? scope : global, escape))
                    {
                        VariableLookup resolved;
                        if (buildArgs.TryGetValue(argName, out var supplied))
                        {
                            resolved = VariableLookup.Of(supplied);
                        }
                        else if (value is not null)
                        {
                            resolved = value.Value;
                        }
                        else if (sawFrom && globalNames.Contains(argName))
                        {
                            resolved = global.Lookup(argName);
                        }
                        else if (BuilderArgs.Contains(argName))
                        {
                            resolved = VariableLookup.Unknown;
                        }
                        else
                        {
                            resolved = VariableLookup.Unset;
                        }
                        if (sawFrom)
                        {
                            scope = scope.WithArg(argName, resolved);
                        }
                        else
                        {
                            global = global.WithArg(argName, resolved);
                            globalNames.Add(argName);
                        }
                    }
                    if (!sawFrom)
                    {
                        continue;
                    }
                    break;
            }

            if (!sawFrom)
            {
                beforeFrom.Add(new(instruction.Line, PreflightCodes.MissingFrom,
                    $"{instruction.Keyword} comes before the first FROM: only ARG may precede FROM; start the build stage with FROM <image>."));
                continue;
            }

            steps.Add(new StageStep(instruction, scope, workdir, shell));
            switch (instruction.Keyword)
            {
                case "ENV":
                    var before = scope;
                    foreach (var (key, value) in ParseEnv(instruction.Arguments, before, escape))
                    {
                        scope = scope.WithEnv(key, value);
                    }
                    break;
                case "WORKDIR":
                    var path = WordExpander.Expand(instruction.Arguments, scope.Lookup, escape);
                    workdir = path is null ? null : ShellPaths.Resolve(path, workdir);
                    break;
                case "SHELL":
                    if (instruction.ExecForm is { Count: > 0 } exec)
                    {
                        shell = exec;
                    }
                    break;
            }
        }
        Close();

        if (sawFrom)
        {
            errors.InsertRange(0, beforeFrom);
        }
        else if (dockerfile.Instructions.Count > 0)
        {
            errors.Add(new(dockerfile.Instructions[0].Line, PreflightCodes.MissingFrom,
                "the Dockerfile has no FROM instruction: every build stage starts with FROM <image> (or FROM scratch)."));
        }
        return new DockerfileStages(global, stages, errors);
    }

    private static (string? Image, string? Name) ParseFrom(DockerfileInstruction instruction, VariableScope global, char escape, List<DockerfileDiagnostic> errors)
    {
        var words = DockerfileParser.SplitRawWords(instruction.Arguments);
        if (words.Count is not (1 or 3) || (words.Count == 3 && !string.Equals(words[1], "AS", StringComparison.OrdinalIgnoreCase)))
        {
            errors.Add(new(instruction.Line, PreflightCodes.MissingArguments,
                words.Count == 0
                    ? "FROM needs an image: write FROM <image>[:tag|@digest] [AS <name>]."
                    : $"FROM '{instruction.Arguments}' is not 'FROM <image> [AS <name>]': write FROM <image>[:tag|@digest] [AS <name>]."));
            return (null, null);
        }
        var image = WordExpander.Expand(words[0], global.Lookup, escape);
        var name = words.Count == 3 ? words[2].ToLowerInvariant() : null;
        return (image, name);
    }

    /// <summary><c>ARG A</c>, <c>ARG A=1</c>, <c>ARG A=1 B="x y"</c>. A null value means no default given.</summary>
    internal static IEnumerable<(string Name, VariableLookup? Value)> ParseArg(string arguments, VariableScope scope, char escape)
    {
        foreach (var word in DockerfileParser.SplitRawWords(arguments))
        {
            var equals = word.IndexOf('=', StringComparison.Ordinal);
            if (equals < 0)
            {
                yield return (word, null);
                continue;
            }
            var value = WordExpander.Expand(word[(equals + 1)..], scope.Lookup, escape);
            yield return (word[..equals], VariableLookup.FromExpansion(value));
        }
    }

    /// <summary><c>ENV K=V K2="v 2"</c> or the legacy <c>ENV K value with spaces</c>. All values are expanded
    /// with the scope before the instruction, as Docker does.</summary>
    internal static IEnumerable<(string Name, VariableLookup Value)> ParseEnv(string arguments, VariableScope scope, char escape)
    {
        var words = DockerfileParser.SplitRawWords(arguments);
        if (words.Count == 0)
        {
            yield break;
        }
        if (!words[0].Contains('=', StringComparison.Ordinal))
        {
            var key = words[0];
            var rest = arguments.TrimStart()[key.Length..].Trim();
            yield return (key, VariableLookup.FromExpansion(WordExpander.Expand(rest, scope.Lookup, escape)));
            yield break;
        }
        foreach (var word in words)
        {
            var equals = word.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                continue;
            }
            var value = WordExpander.Expand(word[(equals + 1)..], scope.Lookup, escape);
            yield return (word[..equals], VariableLookup.FromExpansion(value));
        }
    }
}
