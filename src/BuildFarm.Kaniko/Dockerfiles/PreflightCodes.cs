using BuildFarm.Contracts;

namespace BuildFarm.Kaniko.Dockerfiles;

/// <summary>Whether a finding blocks the build.</summary>
public enum PreflightSeverity
{
    /// <summary>Reported; the build still runs.</summary>
    Warning,
    /// <summary>Blocks the build before any pod starts.</summary>
    Error,
}

/// <summary>The stable finding codes of <see cref="DockerfilePreflight"/>. docs/dockerfile-preflight.md explains each.</summary>
public static class PreflightCodes
{
    // Errors that break Kaniko: reason filesystem_conflict.
    public const string RunTouchesKanikoPath = "BFK001";
    public const string WorkdirInKanikoPath = "BFK002";
    public const string CopyIntoKanikoPath = "BFK003";
    public const string VolumeOnKanikoPath = "BFK004";

    // Errors in the Dockerfile itself: reason dockerfile_invalid.
    public const string EmptyDockerfile = "BFK100";
    public const string MissingFrom = "BFK101";
    public const string UnknownInstruction = "BFK102";
    public const string UnterminatedHeredoc = "BFK103";
    public const string InvalidDirective = "BFK104";
    public const string MissingArguments = "BFK105";
    public const string InvalidJsonForm = "BFK106";
    public const string DuplicateStageName = "BFK107";

    // Warnings: the build runs.
    public const string FloatingBaseTag = "BFK200";
    public const string UnresolvedBaseImage = "BFK201";
    public const string GitContext = "BFK202";
    public const string RemoteAddWithoutChecksum = "BFK203";
    public const string ShellFormLooksLikeJson = "BFK204";

    /// <summary><c>ADD</c> of a git repository, which Kaniko does not clone (it fetches an http(s) URL as one file).</summary>
    public const string AddGitRepository = "BFK205";

    /// <summary><c>WORKDIR</c>, <c>COPY</c>/<c>ADD</c> or a <c>RUN</c> command creates or writes into <c>/workspace</c>
    /// while the build context is elsewhere (with a <c>/workspace</c> context it is BFK001/002/003).</summary>
    public const string WritesIntoWorkspace = "BFK206";

    /// <summary><c>RUN</c>, <c>CMD</c> or <c>ENTRYPOINT</c> with nothing after it: BuildKit accepts it (an empty shell command).</summary>
    public const string EmptyCommand = "BFK207";

    /// <summary>
    /// The rule a code stands for, in fixed words (no Dockerfile text): what a finding may say where the Dockerfile was
    /// read from the farm's own disk (the worker's preflight) and must not be quoted.
    /// </summary>
    public static string Rule(string code) => code switch
    {
        RunTouchesKanikoPath => "RUN touches /workspace or /kaniko",
        WorkdirInKanikoPath => "WORKDIR in /workspace or /kaniko",
        CopyIntoKanikoPath => "COPY/ADD into /workspace or /kaniko",
        VolumeOnKanikoPath => "VOLUME on /workspace or /kaniko",
        EmptyDockerfile => "no instructions",
        MissingFrom => "missing FROM, or an instruction other than ARG before the first FROM",
        UnknownInstruction => "unknown instruction",
        UnterminatedHeredoc => "here-document never closed",
        InvalidDirective => "invalid parser directive",
        MissingArguments => "instruction without its arguments",
        InvalidJsonForm => "SHELL not in JSON form",
        DuplicateStageName => "two stages with the same name",
        FloatingBaseTag => "floating base image tag",
        UnresolvedBaseImage => "base image cannot be resolved before the build",
        GitContext => "git:// context",
        RemoteAddWithoutChecksum => "remote ADD without --checksum",
        ShellFormLooksLikeJson => "exec form that is not valid JSON",
        AddGitRepository => "ADD of a git repository",
        WritesIntoWorkspace => "writes into /workspace (an error only with a /workspace context)",
        EmptyCommand => "RUN, CMD or ENTRYPOINT without a command",
        _ => "see docs/dockerfile-preflight.md",
    };

    /// <summary>Severity of a code: BFK0xx and BFK1xx are errors, BFK2xx warnings.</summary>
    public static PreflightSeverity SeverityOf(string code) =>
        Number(code) >= 200 ? PreflightSeverity.Warning : PreflightSeverity.Error;

    /// <summary>The <see cref="FailureReasons"/> value a build fails with for an error code; null for warnings.</summary>
    public static string? ReasonOf(string code) => Number(code) switch
    {
        < 100 => FailureReasons.FilesystemConflict,
        < 200 => FailureReasons.DockerfileInvalid,
        _ => null,
    };

    private static int Number(string code)
    {
        ArgumentNullException.ThrowIfNull(code);
        if (code.Length != 6 || !code.StartsWith("BFK", StringComparison.Ordinal)
            || !int.TryParse(code.AsSpan(3), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number))
        {
            throw new ArgumentException($"'{code}' is not a preflight code (BFKnnn).", nameof(code));
        }
        return number;
    }
}

/// <summary>One preflight finding.</summary>
/// <param name="Line">1-based Dockerfile line; 0 for findings about the build context.</param>
/// <param name="Code">Stable code, <c>BFKnnn</c> (see <see cref="PreflightCodes"/>).</param>
/// <param name="Message">What is wrong and what to do instead.</param>
public sealed record PreflightFinding(int Line, string Code, string Message)
{
    public PreflightSeverity Severity => PreflightCodes.SeverityOf(Code);

    /// <summary>The failure reason (<see cref="FailureReasons"/>) for an error; null for a warning.</summary>
    public string? Reason => PreflightCodes.ReasonOf(Code);

    /// <summary><c>error</c> or <c>warning</c>.</summary>
    public string SeverityText => Severity == PreflightSeverity.Error ? "error" : "warning";
}

/// <summary>What the caller knows beyond the Dockerfile text.</summary>
public sealed record PreflightOptions
{
    /// <summary>Build args (<c>--build-arg</c>); they override ARG defaults.</summary>
    public IReadOnlyDictionary<string, string> BuildArgs { get; init; } = new Dictionary<string, string>();

    /// <summary>The build context (<c>git://…</c>, <c>https://…tar.gz</c>, <c>dir://…</c>, …), if known. With
    /// <c>dir:///workspace</c> (or a directory inside it) creating or writing into <c>/workspace</c> is an error;
    /// with any other context, or none, a warning (BFK206).</summary>
    public string? Context { get; init; }
}
