using System.Globalization;
using BuildFarm.ClusterSim.Scenarios;
using BuildFarm.Contracts;

namespace BuildFarm.Cli.Demo;

/// <summary>
/// The demo's default scenario and what "every build ended as the scenario intends" means (docs/demo.md).
/// </summary>
public static class DemoScenario
{
    /// <summary>Simulated seconds per wall second in the default demo: a typical build takes about half a second.</summary>
    public const double TimeScale = 60;

    /// <summary>
    /// The default: the simulator's fast timings (scenarios/fast.yaml) at <see cref="TimeScale"/>, 4 nodes of 10 pod slots,
    /// and connection resets during pull and push that Kaniko's own retries absorb (so the resets column shows the farm's
    /// most common transient failure while every build still succeeds).
    /// </summary>
    public static string DefaultYaml() =>
        ScenarioLoader.FastYaml().Replace("timeScale: 400", "timeScale: " + TimeScale.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
        + "capacity: { nodes: 4, podsPerNode: 10 }\n"
        + "faults: { pullReset: 0.05, pushReset: 0.1 }\n";

    public static Scenario Default() => ScenarioLoader.Parse(DefaultYaml(), "demo scenario");

    /// <summary>
    /// The builds that did NOT end as <paramref name="scenario"/> intends, each with why; empty when all did.
    /// A build ends as intended when it succeeded; or failed permanently with a reason the scenario's faults produce
    /// (<c>unauthorized</c>, <c>base_image_not_found</c>, <c>step_failed</c>, <c>oom_killed</c>); or failed with a transient
    /// reason the scenario injects after using all <paramref name="maxAttempts"/> attempts; or ended as
    /// <c>dependency_failed</c> because one of its dependencies failed. Anything else (still running, cancelled, a reason
    /// no fault of the scenario produces such as <c>unknown</c> or <c>deadline_exceeded</c>) is not intended.
    /// </summary>
    public static IReadOnlyList<string> Unintended(Scenario scenario, IReadOnlyList<BuildRecord> builds, int maxAttempts)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(builds);
        var byId = builds.ToDictionary(b => b.BuildId, StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var b in builds)
        {
            var name = b.Name ?? b.BuildId;
            switch (b.State)
            {
                case BuildState.Succeeded:
                    break;
                case BuildState.Cancelled:
                    problems.Add($"{name}: cancelled");
                    break;
                case BuildState.Failed:
                    var reason = b.Reason ?? FailureReasons.Unknown;
                    if (reason == FailureReasons.DependencyFailed)
                    {
                        if (!b.DependsOn.Any(d => byId.TryGetValue(d, out var dep) && dep.State == BuildState.Failed))
                        {
                            problems.Add($"{name}: dependency_failed, but none of its dependencies failed");
                        }
                    }
                    else if (PermanentFaults(scenario).Contains(reason))
                    {
                        break;
                    }
                    else if (TransientFaults(scenario).Contains(reason))
                    {
                        if (b.Attempts.Count < maxAttempts)
                        {
                            problems.Add($"{name}: failed with the transient reason {reason} after {b.Attempts.Count} of {Plural.Of(maxAttempts, "attempt")}");
                        }
                    }
                    else
                    {
                        problems.Add($"{name}: failed with {reason}, which no fault of the scenario produces" + (b.Detail is { } d ? $" ({d})" : ""));
                    }
                    break;
                default:
                    problems.Add($"{name}: did not end (state {b.State.ToWire()})");
                    break;
            }
        }
        return problems;
    }

    /// <summary>Each permanent fault rate and the failure reason it produces.</summary>
    private static readonly (Func<FaultSettings, double?> Rate, string Reason)[] s_permanent =
    [
        (f => f.Unauthorized, FailureReasons.Unauthorized),
        (f => f.BaseImageNotFound, FailureReasons.BaseImageNotFound),
        (f => f.RunFailure, FailureReasons.StepFailed),
        (f => f.OomKilled, FailureReasons.OomKilled),
    ];

    /// <summary>Each transient fault rate and the failure reason it produces.</summary>
    private static readonly (Func<FaultSettings, double?> Rate, string Reason)[] s_transient =
    [
        (f => f.PullReset, FailureReasons.ConnectionReset),
        (f => f.ExtractReset, FailureReasons.ConnectionReset),
        (f => f.PushReset, FailureReasons.ConnectionReset),
        (f => f.PullTimeout, FailureReasons.NetworkError),
        (f => f.PushTimeout, FailureReasons.NetworkError),
        (f => f.Evicted, FailureReasons.PodEvicted),
        (f => f.NodeLost, FailureReasons.NodeLost),
        (f => f.ExecutorImagePullBackOff, FailureReasons.RegistryUnavailable),
    ];

    /// <summary>Permanent failure reasons the scenario's faults produce.</summary>
    public static IReadOnlySet<string> PermanentFaults(Scenario scenario) => Reasons(scenario, s_permanent);

    /// <summary>Transient failure reasons the scenario's faults produce (final only once every attempt failed).</summary>
    public static IReadOnlySet<string> TransientFaults(Scenario scenario)
    {
        var set = Reasons(scenario, s_transient);
        if (scenario.Api.ErrorRate > 0 || scenario.Api.ThrottleRate > 0 || scenario.Api.DropWatchRate > 0 || scenario.Api.DropLogRate > 0)
        {
            set.Add(FailureReasons.KubeApiUnavailable);
            set.Add(FailureReasons.NetworkError);
        }
        return set;
    }

    /// <summary>The reasons of the rates that are above zero in the scenario's faults or in any registry's own.</summary>
    private static HashSet<string> Reasons(Scenario scenario, (Func<FaultSettings, double?> Rate, string Reason)[] table)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (rate, reason) in table)
        {
            if (rate(scenario.Faults) > 0 || scenario.Registries.Values.Any(r => r.Faults is { } f && rate(f) > 0))
            {
                set.Add(reason);
            }
        }
        return set;
    }
}
