using BuildFarm.Contracts;

namespace BuildFarm.Kaniko.Logs;

/// <summary>
/// Maps Kaniko's final error text to one reason of the <see cref="FailureReasons"/> vocabulary.
/// Table-driven and ordered: the first matching rule wins, so a RUN that failed with an exit status is
/// <c>step_failed</c> even when its output mentioned a reset. docs/kaniko-log-analysis.md lists the table.
/// </summary>
public static class KanikoErrorReasons
{
    private const string ExitStatus = "waiting for process to exit: exit status ";
    private const string ResetByPeer = "connection reset by peer";

    /// <summary>One row: the reason when the text contains any of <see cref="AnyOf"/> (and, if set, any of <see cref="AndAnyOf"/>).</summary>
    public sealed record Rule(
        string Reason,
        StringComparison Comparison,
        IReadOnlyList<string> AnyOf,
        IReadOnlyList<string>? AndAnyOf = null,
        KanikoPhase? OnlyInPhase = null,
        IReadOnlyList<KanikoPhase>? NotInPhases = null)
    {
        public bool Matches(string text, KanikoPhase? phase)
        {
            if ((OnlyInPhase is { } only && phase != only)
                || (NotInPhases is not null && phase is { } current && NotInPhases.Contains(current)))
            {
                return false;
            }

            return ContainsAny(text, AnyOf, Comparison) && (AndAnyOf is null || ContainsAny(text, AndAnyOf, Comparison));
        }

        private static bool ContainsAny(string text, IReadOnlyList<string> needles, StringComparison comparison)
        {
            foreach (var needle in needles)
            {
                if (text.Contains(needle, comparison))
                {
                    return true;
                }
            }

            return false;
        }
    }

    private const StringComparison IgnoreCase = StringComparison.OrdinalIgnoreCase;

    private static readonly KanikoPhase[] _destinationPhases = [KanikoPhase.Push, KanikoPhase.Preflight];
    private const StringComparison Exact = StringComparison.Ordinal;

    /// <summary>The rules, in the order they are tried.</summary>
    public static IReadOnlyList<Rule> Rules { get; } =
    [
        // The user's RUN failed: permanent, whatever its output said.
        new(FailureReasons.StepFailed, IgnoreCase, [ExitStatus]),
        // A RUN child killed by a signal: in practice the kernel OOM killer picking the child (kaniko-facts §8).
        new(FailureReasons.OomKilled, IgnoreCase, ["signal: killed"]),
        // The executor itself ran out of memory: Go's "fatal error: runtime: out of memory" (kaniko#1333).
        new(FailureReasons.OomKilled, IgnoreCase, ["runtime: out of memory"]),
        new(FailureReasons.DockerfileInvalid, IgnoreCase,
            ["dockerfile parse error", "parsing dockerfile", "unknown instruction", "error parsing dockerfile",
             "is not a valid target build stage", "please provide a valid path to a dockerfile", "reading dockerfile at path"]),
        // While resolving a base image, an unparsable reference is the FROM line's (FROM CentOS: tektoncd/pipeline#1241).
        new(FailureReasons.DockerfileInvalid, IgnoreCase, ["could not parse reference", "invalid reference format"],
            OnlyInPhase: KanikoPhase.Pull),
        new(FailureReasons.ContextNotFound, IgnoreCase,
            ["unknown build context prefix", "error resolving source context", "context not found",
             "failed to get files used from context", "error resolving context"]),
        new(FailureReasons.ConnectionReset, IgnoreCase, [ResetByPeer]),
        new(FailureReasons.NetworkError, IgnoreCase,
            ["stream error", "unexpected eof", "i/o timeout", "tls handshake timeout", "no such host",
             "connection refused", "http2: client connection lost", "http2: server sent goaway", "broken pipe",
             "connection timed out", "network is unreachable", "context deadline exceeded",
             "connection closed by foreign host", "server misbehaving", "no route to host", "host is unreachable",
             "use of closed network connection", "client.timeout exceeded", "request canceled while waiting for connection",
             "timeout awaiting response headers"]),
        // io.EOF as Go prints it at the end of a wrapped error: the peer closed the connection.
        new(FailureReasons.NetworkError, Exact, [": EOF"]),
        new(FailureReasons.RegistryUnavailable, Exact, ["TOOMANYREQUESTS", "UNAVAILABLE"]),
        new(FailureReasons.RegistryUnavailable, IgnoreCase,
            ["toomanyrequests", "500 internal server error", "502 bad gateway", "503 service unavailable", "504 gateway time",
             "service unavailable", "too many requests", "status code 5", "status code 429", "status 429",
             "bad gateway", "gateway timeout"]),
        new(FailureReasons.Unauthorized, Exact, ["UNAUTHORIZED", "DENIED", "FORBIDDEN"]),
        new(FailureReasons.Unauthorized, IgnoreCase,
            ["authentication required", "401 unauthorized", "403 forbidden", "status code 401", "status code 403",
             "access denied", "access to the resource is denied", "unauthorized:", "no basic auth credentials",
             // ECR spells the registry code in lower case: "…/app:1: denied: User: arn:… is not authorized to perform: ecr:…"
             ": denied: ", "is not authorized to perform"]),
        // A missing manifest or repository names the base image, not the destination: on push or in the push check
        // ("NAME_UNKNOWN: repository name not known to registry") it is the farm's destination that is wrong.
        new(FailureReasons.BaseImageNotFound, Exact, ["MANIFEST_UNKNOWN", "NAME_UNKNOWN"], NotInPhases: _destinationPhases),
        new(FailureReasons.BaseImageNotFound, IgnoreCase, ["manifest unknown"], NotInPhases: _destinationPhases),
        // "not found" only names the base image when the failure happened while retrieving it.
        new(FailureReasons.BaseImageNotFound, IgnoreCase, ["not found"], OnlyInPhase: KanikoPhase.Pull),
        new(FailureReasons.FilesystemConflict, IgnoreCase, ["whiteout", "device or resource busy"]),
        // /workspace and /kaniko only count when the error is about replacing them, not a missing COPY source.
        new(FailureReasons.FilesystemConflict, IgnoreCase, ["/workspace", "/kaniko"],
            AndAnyOf: ["file exists", "is a directory", "not a directory", "symlink", "directory not empty",
                       "read-only file system", "unlinkat", "rename", "make way for"]),
    ];

    /// <summary>
    /// The reason for a fatal error text. <paramref name="phase"/> is the phase it happened in (it decides
    /// whether a bare "not found" means the base image). Unrecognised text gives <c>unknown</c>.
    /// </summary>
    public static string Classify(string errorText, KanikoPhase? phase)
    {
        ArgumentNullException.ThrowIfNull(errorText);
        errorText = WithoutGluedTail(errorText);
        if (BareExitStatus(errorText) is not null)
        {
            return FailureReasons.StepFailed;
        }

        foreach (var rule in Rules)
        {
            if (rule.Matches(errorText, phase))
            {
                return rule.Reason;
            }
        }

        return FailureReasons.Unknown;
    }

    /// <summary>The N of <c>waiting for process to exit: exit status N</c> (the failing RUN's exit code), or null.</summary>
    public static int? StepExitCode(string errorText)
    {
        ArgumentNullException.ThrowIfNull(errorText);
        errorText = WithoutGluedTail(errorText);
        if (BareExitStatus(errorText) is { } bare)
        {
            return bare;
        }

        var at = errorText.LastIndexOf(ExitStatus, StringComparison.OrdinalIgnoreCase);
        if (at < 0)
        {
            return null;
        }

        return LeadingInt(errorText.AsSpan(at + ExitStatus.Length));
    }

    /// <summary>
    /// The error text up to a <c>connection reset by peer</c> that is glued to more text (<c>…reset by peererr: …</c>,
    /// a line break lost when the log was copied through another tool); otherwise the text itself. A reset is a
    /// system-call error, the innermost cause that ends a Go error chain: whatever is glued to it comes from another
    /// line and must not decide the reason (a step runner's <c>err: signal: killed</c> is no OOM kill).
    /// </summary>
    public static string WithoutGluedTail(string errorText)
    {
        ArgumentNullException.ThrowIfNull(errorText);
        var from = 0;
        int at;
        while ((at = errorText.IndexOf(ResetByPeer, from, IgnoreCase)) >= 0)
        {
            var end = at + ResetByPeer.Length;
            if (end < errorText.Length && char.IsLetterOrDigit(errorText[end]))
            {
                return errorText[..end];
            }

            from = end;
        }

        return errorText;
    }

    /// <summary>Kaniko v0.1 (2018) printed a failed RUN as the bare <c>exit status N</c> (kaniko#187).</summary>
    private static int? BareExitStatus(string errorText)
    {
        const string Bare = "exit status ";
        var text = errorText.AsSpan().Trim();
        if (!text.StartsWith(Bare, StringComparison.Ordinal))
        {
            return null;
        }

        var rest = text[Bare.Length..];
        foreach (var c in rest)
        {
            if (!char.IsAsciiDigit(c))
            {
                return null;
            }
        }

        return LeadingInt(rest);
    }

    private static int? LeadingInt(ReadOnlySpan<char> digits)
    {
        var end = 0;
        if (end < digits.Length && digits[end] == '-')
        {
            end++;
        }

        while (end < digits.Length && char.IsAsciiDigit(digits[end]))
        {
            end++;
        }

        return int.TryParse(digits[..end], System.Globalization.NumberStyles.AllowLeadingSign,
            System.Globalization.CultureInfo.InvariantCulture, out var code) ? code : null;
    }

    /// <summary>
    /// The phase a fatal error belongs to from its wrapper text (kaniko-facts §6.7), or null when the wrapper
    /// does not say (the analyzer then uses the phase current when the error was printed).
    /// </summary>
    public static KanikoPhase? PhaseFromWrapper(string errorText)
    {
        ArgumentNullException.ThrowIfNull(errorText);
        errorText = WithoutGluedTail(errorText);
        if (errorText.StartsWith("error checking push permissions", IgnoreCase))
        {
            return KanikoPhase.Preflight;
        }

        if (errorText.Contains("failed to get filesystem from image", IgnoreCase)
            || errorText.Contains("extracting fs from image", IgnoreCase))
        {
            return KanikoPhase.Extract;
        }

        if (errorText.Contains("unable to complete operation", IgnoreCase)
            || errorText.Contains("getting stage builder for stage", IgnoreCase)
            || errorText.Contains("MANIFEST_UNKNOWN", Exact))
        {
            return KanikoPhase.Pull;
        }

        if (errorText.StartsWith("error pushing image", IgnoreCase)
            || errorText.Contains("failed to push to destination", IgnoreCase))
        {
            return KanikoPhase.Push;
        }

        // "error building image: GET https://…/v2/library/golang/manifests/1.16.6: TOOMANYREQUESTS" (v1.x before
        // v1.19 did not wrap the base-image lookup, gardener/cc-utils#636): reading a manifest is the pull.
        if (errorText.Contains("/manifests/", IgnoreCase)
            && (errorText.Contains("GET http", IgnoreCase) || errorText.Contains("HEAD http", IgnoreCase)))
        {
            return KanikoPhase.Pull;
        }

        if (BareExitStatus(errorText) is not null)
        {
            return KanikoPhase.Build;
        }

        if (errorText.Contains("waiting for process to exit", IgnoreCase)
            || errorText.Contains("failed to execute command", IgnoreCase)
            || errorText.Contains("failed to take snapshot", IgnoreCase)
            || errorText.Contains("failed to save snapshot", IgnoreCase)
            || errorText.Contains("failed to get files used from context", IgnoreCase)
            || errorText.Contains("timed out snapshotting fs", IgnoreCase))
        {
            return KanikoPhase.Build;
        }

        return null;
    }
}
