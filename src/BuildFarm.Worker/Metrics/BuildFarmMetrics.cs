using System.Diagnostics.Metrics;
using BuildFarm.Kaniko;
using BuildFarm.Kaniko.Logs;

namespace BuildFarm.Worker.Metrics;

/// <summary>
/// The worker's one <see cref="Meter"/> and its instruments. Names are dotted with units so that the Prometheus
/// exporter produces exactly the names of docs/worker.md "Endpoints and metrics" (<c>buildfarm.kaniko.push.duration</c>, unit <c>s</c> →
/// <c>buildfarm_kaniko_push_duration_seconds</c>; counter <c>buildfarm.builds</c> → <c>buildfarm_builds_total</c>).
/// Labels are low-cardinality only: never a build id, tag or pod name.
/// </summary>
public sealed class BuildFarmMetrics : IDisposable
{
    public const string MeterName = "BuildFarm.Worker";

    /// <summary>The registry label when it is not known (the log never said where the base image came from).</summary>
    public const string UnknownRegistry = "unknown";

    private readonly Meter _meter;
    private readonly Histogram<double> _pull;
    private readonly Histogram<double> _extract;
    private readonly Histogram<double> _push;
    private readonly Histogram<double> _buildDuration;
    private readonly Histogram<double> _queueWait;
    private readonly Histogram<double> _podStartup;
    private readonly Counter<long> _resets;
    private readonly Counter<long> _attempts;
    private readonly Counter<long> _builds;
    private readonly Counter<long> _dedupeHits;
    private readonly UpDownCounter<long> _inFlight;
    private readonly Counter<long> _kubeApiRequests;
    private readonly Counter<long> _janitorDeletes;
    private readonly Counter<long> _logBytesStored;
    private readonly Counter<long> _logBytesTruncated;

    public BuildFarmMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        _meter = meterFactory.Create(MeterName);
        _pull = _meter.CreateHistogram<double>("buildfarm.kaniko.pull.duration", "s", "Base image manifest and config retrieval per attempt");
        _extract = _meter.CreateHistogram<double>("buildfarm.kaniko.extract.duration", "s", "Base image layer extraction per attempt");
        _push = _meter.CreateHistogram<double>("buildfarm.kaniko.push.duration", "s", "Image push per attempt");
        _buildDuration = _meter.CreateHistogram<double>("buildfarm.build.duration", "s", "Whole build, all attempts, by outcome");
        _queueWait = _meter.CreateHistogram<double>("buildfarm.queue.wait", "s", "From submission to a worker taking the build");
        _podStartup = _meter.CreateHistogram<double>("buildfarm.pod.startup", "s", "From pod creation to the Kaniko container running");
        _resets = _meter.CreateCounter<long>("buildfarm.connection_resets", description: "'connection reset by peer' in Kaniko logs, by phase and registry");
        _attempts = _meter.CreateCounter<long>("buildfarm.build_attempts", description: "Finished attempts (pods) by outcome and reason");
        _builds = _meter.CreateCounter<long>("buildfarm.builds", description: "Finished builds by outcome");
        _dedupeHits = _meter.CreateCounter<long>("buildfarm.dedupe_hits", description: "Builds answered by an identical build (in_flight, completed)");
        _inFlight = _meter.CreateUpDownCounter<long>("buildfarm.builds_in_flight", description: "Builds this worker is running");
        _kubeApiRequests = _meter.CreateCounter<long>("buildfarm.kube_api_requests", description: "Kubernetes API requests by verb and status code");
        _logBytesStored = _meter.CreateCounter<long>("buildfarm.log.stored", "By", "Bytes of attempt logs written to the log store");
        _logBytesTruncated = _meter.CreateCounter<long>("buildfarm.log.truncated", "By", "Bytes of attempt logs cut from the middle (over Logs:MaxAttemptBytes)");
        _janitorDeletes = _meter.CreateCounter<long>("buildfarm.janitor.pods_deleted", description: "Pods the janitor deleted, by phase (failed, succeeded)");
    }

    /// <summary>Records an attempt's phases and resets from its log analysis.</summary>
    /// <param name="analysis">The attempt's Kaniko log analysis.</param>
    /// <param name="pushRegistry">The destination registry host (the push phase's registry).</param>
    public void RecordAnalysis(KanikoLogAnalysis analysis, string pushRegistry)
    {
        ArgumentNullException.ThrowIfNull(analysis);
        // Pull and extract talk to the base image's registry (from "Retrieving image … from registry X").
        var pullRegistry = analysis.BaseRegistry ?? UnknownRegistry;
        if (analysis.Pull.Seconds is { } pull)
        {
            _pull.Record(pull, new KeyValuePair<string, object?>("registry", pullRegistry));
        }
        if (analysis.Extract.Seconds is { } extract)
        {
            _extract.Record(extract);
        }
        if (analysis.Push.Seconds is { } push)
        {
            _push.Record(push, new KeyValuePair<string, object?>("registry", pushRegistry));
        }
        foreach (var (phase, count) in analysis.Resets)
        {
            if (count > 0)
            {
                var registry = phase == KanikoPhase.Push ? pushRegistry : pullRegistry;
                _resets.Add(count, new("phase", phase.ToWire()), new("registry", registry));
            }
        }
    }

    /// <summary>One finished attempt; <paramref name="reason"/> is <c>none</c> for a success.</summary>
    public void RecordAttempt(string outcome, string reason) =>
        _attempts.Add(1, new("outcome", outcome), new("reason", reason));

    public void RecordBuild(string outcome, TimeSpan duration)
    {
        _builds.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
        _buildDuration.Record(Math.Max(0, duration.TotalSeconds), new KeyValuePair<string, object?>("outcome", outcome));
    }

    public void RecordDedupeHit(string kind) => _dedupeHits.Add(1, new KeyValuePair<string, object?>("kind", kind));

    public void BuildStarted() => _inFlight.Add(1);

    public void BuildEnded() => _inFlight.Add(-1);

    public void RecordQueueWait(TimeSpan wait) => _queueWait.Record(Math.Max(0, wait.TotalSeconds));

    public void RecordPodStartup(TimeSpan startup) => _podStartup.Record(Math.Max(0, startup.TotalSeconds));

    public void RecordKubeApiRequest(string verb, string code) =>
        _kubeApiRequests.Add(1, new("verb", verb), new("code", code));

    /// <summary>The janitor deleted a pod left behind (<paramref name="phase"/>: <c>failed</c> or <c>succeeded</c>).</summary>
    public void RecordJanitorDelete(string phase) => _janitorDeletes.Add(1, new KeyValuePair<string, object?>("phase", phase));

    /// <summary>One attempt's log, when it completed: bytes stored and bytes cut over the cap.</summary>
    public void RecordLog(long storedBytes, long truncatedBytes)
    {
        _logBytesStored.Add(storedBytes);
        _logBytesTruncated.Add(truncatedBytes);
    }

    public void Dispose() => _meter.Dispose();
}
