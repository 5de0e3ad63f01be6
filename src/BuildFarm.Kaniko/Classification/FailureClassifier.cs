using System.Globalization;
using System.Text.RegularExpressions;
using BuildFarm.Contracts;
using BuildFarm.Kaniko.Logs;

namespace BuildFarm.Kaniko.Classification;

/// <summary>How an attempt ended: success (with the pushed digest when the pod reported it), or one
/// reason from <see cref="FailureReasons"/> and whether it is retried in a new pod.</summary>
public sealed record FailureClassification(bool Succeeded, string? Reason, bool Transient, string Detail)
{
    /// <summary>The pushed digest (<c>sha256:…</c>) read from the termination message, on success.</summary>
    public string? Digest { get; init; }

    /// <summary>The name of the rule that decided (see docs/failure-reasons.md).</summary>
    public string Rule { get; init; } = "";
}

/// <summary>
/// Decides why a Kaniko attempt ended from its log analysis (null when the log is unavailable) and the pod
/// status. Rules are tried in order; the first that matches decides. Pod-level signals come before the log
/// when they explain the end (an OOM-killed pod's log just stops), the log comes before bare exit codes.
/// The table is documented in docs/failure-reasons.md.
/// </summary>
public static partial class FailureClassifier
{
    private sealed record Rule(string Name, Func<PodTermination, KanikoLogAnalysis?, FailureClassification?> Decide);

    private static readonly Rule[] Rules =
    [
        new("success", Success),
        new("pod-evicted", Evicted),
        new("node-lost", NodeLost),
        new("oom-killed", OomKilled),
        new("executor-image-pull", ExecutorImagePull),
        new("container-config", ContainerConfig),
        new("deadline-exceeded", DeadlineExceeded),
        new("log-failure", LogFailure),
        new("step-exit-code", StepExitCode),
    ];

    /// <summary>Rule names in the order they are tried (the last, <c>unknown</c>, always matches).</summary>
    public static IReadOnlyList<string> RuleNames { get; } = [.. Rules.Select(r => r.Name), "unknown"];

    public static FailureClassification Classify(PodTermination termination, KanikoLogAnalysis? analysis)
    {
        ArgumentNullException.ThrowIfNull(termination);
        foreach (var rule in Rules)
        {
            if (rule.Decide(termination, analysis) is { } decided)
            {
                return decided with { Rule = rule.Name };
            }
        }
        var detail = termination.Terminated
            ? $"exit code {Invariant(termination.ExitCode!.Value)}" + (termination.TerminatedReason is { } r ? $" ({r})" : "")
              + (analysis is null ? ", log unavailable" : $", log outcome {analysis.Outcome.ToString().ToLowerInvariant()}")
            : $"pod {termination.PodPhase ?? "in unknown phase"}, container not terminated";
        return Failure(FailureReasons.Unknown, detail) with { Rule = "unknown" };
    }

    private static FailureClassification? Success(PodTermination t, KanikoLogAnalysis? analysis)
    {
        if (t.ExitCode != 0 || analysis?.Outcome == KanikoOutcome.Failed)
        {
            return null;
        }
        var message = t.TerminatedMessage?.Trim();
        var digest = message is not null && DigestRegex().IsMatch(message) ? message : null;
        digest ??= analysis is { Pushed.Count: > 0 } ? analysis.Pushed[^1].Digest : null;
        return new FailureClassification(true, null, false, digest is null ? "exit code 0; no digest reported" : $"pushed {digest}")
        {
            Digest = digest,
        };
    }

    private static FailureClassification? Evicted(PodTermination t, KanikoLogAnalysis? analysis)
    {
        if (Is(t.PodReason, "Evicted"))
        {
            return Failure(FailureReasons.PodEvicted, "pod evicted: " + (t.PodMessage ?? "no message"));
        }
        if (t.DisruptionReason is "EvictionByEvictionAPI" or "PreemptionByScheduler")
        {
            return Failure(FailureReasons.PodEvicted, $"pod disrupted ({t.DisruptionReason})");
        }
        if (t.DisruptionReason is "TerminationByKubelet" && !MentionsNodeShutdown(t.PodMessage))
        {
            return Failure(FailureReasons.PodEvicted, "pod terminated by the kubelet: " + (t.PodMessage ?? "no message"));
        }
        return null;
    }

    private static FailureClassification? NodeLost(PodTermination t, KanikoLogAnalysis? analysis)
    {
        if (Is(t.PodReason, "NodeLost") || Is(t.PodReason, "NodeShutdown"))
        {
            return Failure(FailureReasons.NodeLost, $"pod {t.PodReason}: " + (t.PodMessage ?? "no message"));
        }
        if (t.PodMessage is { } message && (NodeUnresponsiveRegex().IsMatch(message) || MentionsNodeShutdown(message)))
        {
            return Failure(FailureReasons.NodeLost, message);
        }
        if (t.DisruptionReason is "DeletionByTaintManager" or "DeletionByPodGC" or "TerminationByKubelet")
        {
            return Failure(FailureReasons.NodeLost, $"pod disrupted ({t.DisruptionReason}): its node went away");
        }
        if (Is(t.TerminatedReason, "ContainerStatusUnknown"))
        {
            return Failure(FailureReasons.NodeLost, "container status unknown: " + (t.TerminatedMessage ?? "the container could not be located"));
        }
        return null;
    }

    private static FailureClassification? OomKilled(PodTermination t, KanikoLogAnalysis? analysis) =>
        Is(t.TerminatedReason, "OOMKilled")
            ? Failure(FailureReasons.OomKilled, $"container OOMKilled (exit code {Invariant(t.ExitCode ?? 137)}); raise the memory limit or try --compressed-caching=false")
            : null;

    private static FailureClassification? ExecutorImagePull(PodTermination t, KanikoLogAnalysis? analysis)
    {
        if (t.Terminated || t.WaitingReason is not ("ImagePullBackOff" or "ErrImagePull" or "InvalidImageName" or "ErrImageNeverPull"))
        {
            return null;
        }
        var message = t.WaitingMessage ?? "";
        var detail = $"executor image could not be pulled ({t.WaitingReason}): {message}".TrimEnd(' ', ':');
        if (t.WaitingReason is "InvalidImageName" or "ErrImageNeverPull")
        {
            return Failure(FailureReasons.Unknown, detail + "; fix the Kaniko executor image setting");
        }
        if (PullUnauthorizedRegex().IsMatch(message))
        {
            return Failure(FailureReasons.Unauthorized, detail);
        }
        if (PullNotFoundRegex().IsMatch(message))
        {
            return Failure(FailureReasons.Unknown, detail + "; the executor image does not exist: fix the Kaniko executor image setting");
        }
        return Failure(FailureReasons.RegistryUnavailable, detail);
    }

    private static FailureClassification? ContainerConfig(PodTermination t, KanikoLogAnalysis? analysis) =>
        !t.Terminated && t.WaitingReason is "CreateContainerConfigError" or "CreateContainerError"
            ? Failure(FailureReasons.Unknown, $"container could not be created ({t.WaitingReason}): {t.WaitingMessage}")
            : null;

    private static FailureClassification? DeadlineExceeded(PodTermination t, KanikoLogAnalysis? analysis) =>
        Is(t.PodReason, "DeadlineExceeded")
            ? Failure(FailureReasons.DeadlineExceeded, "activeDeadlineSeconds reached: " + (t.PodMessage ?? "no message"))
            : null;

    private static FailureClassification? LogFailure(PodTermination t, KanikoLogAnalysis? analysis)
    {
        if (analysis is not { Outcome: KanikoOutcome.Failed })
        {
            return null;
        }
        var reason = analysis.Reason is { } r && FailureReasons.IsKnown(r) ? r : FailureReasons.Unknown;
        var detail = analysis.Error ?? "the log reports a failure";
        if (analysis.StepExitCode is { } step)
        {
            detail = $"RUN exited with {Invariant(step)}: {detail}";
        }
        if (analysis.FailedPhase is { } phase)
        {
            detail = $"{phase.ToWire()}: {detail}";
        }
        return Failure(reason, detail);
    }

    private static FailureClassification? StepExitCode(PodTermination t, KanikoLogAnalysis? analysis)
    {
        // Kaniko >= 1.7 exits with the failing RUN's code (kaniko-facts §8); 1 is any other error, 137 a SIGKILL.
        if (t.ExitCode is not { } code || code < 2 || code == 137 || analysis?.Outcome == KanikoOutcome.Succeeded)
        {
            return null;
        }
        return Failure(FailureReasons.StepFailed, $"exit code {Invariant(code)}: a RUN step failed (Kaniko propagates its exit code)");
    }

    private static FailureClassification Failure(string reason, string detail) =>
        new(false, reason, FailureReasons.IsTransient(reason), detail);

    private static bool Is(string? value, string expected) => string.Equals(value, expected, StringComparison.OrdinalIgnoreCase);

    private static bool MentionsNodeShutdown(string? message) =>
        message is not null && message.Contains("node shutdown", StringComparison.OrdinalIgnoreCase);

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^sha256:[a-f0-9]{64}$", RegexOptions.CultureInvariant)]
    private static partial Regex DigestRegex();

    [GeneratedRegex(@"\bnode\b.*\bunresponsive\b", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex NodeUnresponsiveRegex();

    [GeneratedRegex(@"unauthorized|authentication required|\b401\b|\b403\b|denied|forbidden", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex PullUnauthorizedRegex();

    [GeneratedRegex(@"not found|manifest unknown|name unknown|\b404\b|does not exist", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex PullNotFoundRegex();
}
