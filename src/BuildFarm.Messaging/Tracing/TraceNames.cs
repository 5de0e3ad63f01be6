using System.Diagnostics;
using BuildFarm.Hosting.Telemetry;

namespace BuildFarm.Messaging.Tracing;

/// <summary>The farm's span source, span names and attribute keys (docs/tracing.md lists them).</summary>
public static class TraceNames
{
    public const string SourceName = BuildFarmTracing.FarmSourceName;

    /// <summary>The source every farm span comes from.</summary>
    public static readonly ActivitySource Source = new(SourceName);

    public const string BuildSpan = "build";
    public const string AttemptSpan = "attempt";
    public const string PodCreateSpan = "pod.create";
    public const string PodStartupSpan = "pod.startup";
    /// <summary>Kaniko phase spans: <c>kaniko.pull</c>, <c>kaniko.extract</c>, <c>kaniko.build</c>, <c>kaniko.push</c>.</summary>
    public const string PhaseSpanPrefix = "kaniko.";
    public const string BatchSubmitSpan = "batch.submit";

    public const string BuildId = "buildfarm.build.id";
    public const string BatchId = "buildfarm.batch.id";
    public const string Attempt = "buildfarm.attempt";
    public const string Pod = "buildfarm.pod";
    public const string Registry = "buildfarm.registry";
    public const string Outcome = "buildfarm.outcome";
    public const string Reason = "buildfarm.reason";
    public const string Adopted = "buildfarm.pod.adopted";
    public const string PhaseSeconds = "kaniko.phase.seconds";
    public const string PhaseCount = "kaniko.phase.count";
    public const string PhaseResets = "kaniko.phase.resets";
}
