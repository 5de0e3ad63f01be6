using System.Diagnostics;
using BuildFarm.Kaniko;
using BuildFarm.Kaniko.Logs;
using BuildFarm.Messaging.Tracing;

namespace BuildFarm.Worker.Builds;

/// <summary>
/// The spans of a build laid from times already known rather than measured here (docs/tracing.md): the pod's start-up
/// from its creation timestamp to the container's start, and Kaniko's phases from the log's own timestamps.
/// Each is a child of the current span (the attempt).
/// </summary>
internal static class BuildSpans
{
    private static readonly (KanikoPhase Phase, string Name)[] Phases =
    [
        (KanikoPhase.Pull, TraceNames.PhaseSpanPrefix + "pull"),
        (KanikoPhase.Extract, TraceNames.PhaseSpanPrefix + "extract"),
        (KanikoPhase.Build, TraceNames.PhaseSpanPrefix + "build"),
        (KanikoPhase.Push, TraceNames.PhaseSpanPrefix + "push"),
    ];

    /// <summary>A span from the pod's creation to its container's start (nothing when either is unknown or they are out of order).</summary>
    public static void PodStartup(DateTimeOffset? createdAt, DateTimeOffset? containerStarted)
    {
        if (createdAt is not { } from || containerStarted is not { } to || to < from)
        {
            return;
        }
        using var span = TraceNames.Source.StartActivity(TraceNames.PodStartupSpan, ActivityKind.Internal, default(ActivityContext), startTime: from);
        span?.SetEndTime(to.UtcDateTime);
    }

    /// <summary>
    /// One span per Kaniko phase that took time: it starts where the log shows the phase first began and lasts exactly
    /// the analyzer's seconds for it (a phase whose time is split, such as a second pull in a later stage, is laid as one
    /// span from its first start). Nothing without an absolute clock in the log.
    /// </summary>
    public static void KanikoPhases(KanikoLogAnalysis analysis)
    {
        ArgumentNullException.ThrowIfNull(analysis);
        if (!TraceNames.Source.HasListeners())
        {
            return;
        }
        foreach (var (phase, name) in Phases)
        {
            var timing = phase switch
            {
                KanikoPhase.Pull => analysis.Pull,
                KanikoPhase.Extract => analysis.Extract,
                KanikoPhase.Build => analysis.Build,
                _ => analysis.Push,
            };
            if (timing.Seconds is not { } seconds || !analysis.PhaseStarts.TryGetValue(phase, out var start))
            {
                continue;
            }
            using var span = TraceNames.Source.StartActivity(name, ActivityKind.Internal, default(ActivityContext), startTime: start);
            if (span is null)
            {
                continue;
            }
            span.SetTag(TraceNames.PhaseSeconds, seconds);
            span.SetTag(TraceNames.PhaseCount, timing.Count);
            span.SetTag(TraceNames.PhaseResets, analysis.ResetsIn(phase));
            if (analysis.FailedPhase == phase)
            {
                span.SetStatus(ActivityStatusCode.Error, analysis.Reason);
            }
            span.SetEndTime(start.UtcDateTime + TimeSpan.FromTicks((long)Math.Round(seconds * TimeSpan.TicksPerSecond)));
        }
    }
}
