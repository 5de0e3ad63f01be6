using System.Diagnostics;
using System.Diagnostics.Metrics;
using BuildFarm.Kaniko;
using BuildFarm.Kaniko.Logs;
using BuildFarm.Kaniko.Specs;

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
    private readonly Histogram<double> _build;
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
    private readonly Counter<long> _cacheHits;
    private readonly Counter<long> _cacheMisses;
    private readonly Counter<long> _podCreateRefusals;
    private readonly Counter<long> _oomRetries;
    private readonly UpDownCounter<long> _registrySlotsInUse;

    /// <summary>
    /// Bucket bounds (seconds) of Kaniko's phases (pull, extract, build, push): 0.1 s to 1 h; from 0.1 s to 100 s ten per
    /// decade (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8: neighbours at most 1.33× apart) so that a quantile interpolated inside
    /// a bucket, p99 included, stays within 15% of the truth; coarser above; a phase longer than the pod's default
    /// deadline (1 h) lands in +Inf. docs/dashboards.md "Histogram buckets".
    /// </summary>
    public static readonly IReadOnlyList<double> PhaseBuckets =
        [0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.25,
            1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 12.5, 15, 20,
            25, 30, 40, 50, 60, 80, 100, 120, 150, 200, 300, 450,
            600, 900, 1200, 1800, 2700, 3600];

    /// <summary>Bucket bounds (seconds) of whole builds (all attempts, retries and back-off included): 1 s to 6 h.</summary>
    public static readonly IReadOnlyList<double> BuildBuckets =
        [1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 450, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 10800, 14400, 21600];

    /// <summary>
    /// Bucket bounds (seconds) of waits (queue wait, pod start-up): 1 ms (an idle farm takes a build at once) to 1 h (a
    /// backlog, a pod waiting for a node or an image pull); ten per decade from 50 ms to 100 s.
    /// </summary>
    public static readonly IReadOnlyList<double> WaitBuckets =
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.06, 0.08, 0.1, 0.125, 0.15, 0.2,
            0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.25, 1.5, 2, 2.5, 3,
            4, 5, 6, 8, 10, 12.5, 15, 20, 25, 30, 40, 50,
            60, 80, 100, 120, 150, 200, 300, 450, 600, 900, 1200, 1800,
            2700, 3600];

    public BuildFarmMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        _meter = meterFactory.Create(MeterName);
        _pull = Seconds("buildfarm.kaniko.pull.duration", "Base image manifest and config retrieval per attempt", PhaseBuckets);
        _extract = Seconds("buildfarm.kaniko.extract.duration", "Base image layer extraction per attempt", PhaseBuckets);
        _build = Seconds("buildfarm.kaniko.build.duration", "Dockerfile steps (RUN, COPY, snapshots) per attempt", PhaseBuckets);
        _push = Seconds("buildfarm.kaniko.push.duration", "Image push per attempt", PhaseBuckets);
        _buildDuration = Seconds("buildfarm.build.duration", "Whole build, all attempts, by outcome", BuildBuckets);
        _queueWait = Seconds("buildfarm.queue.wait", "From submission to a worker taking the build", WaitBuckets);
        _podStartup = Seconds("buildfarm.pod.startup", "From pod creation to the Kaniko container running", WaitBuckets);
        _resets = _meter.CreateCounter<long>("buildfarm.connection_resets", description: "'connection reset by peer' in Kaniko logs, by phase and registry");
        _attempts = _meter.CreateCounter<long>("buildfarm.build_attempts", description: "Finished attempts (pods) by outcome and reason");
        _builds = _meter.CreateCounter<long>("buildfarm.builds", description: "Finished builds by outcome");
        _dedupeHits = _meter.CreateCounter<long>("buildfarm.dedupe_hits", description: "Builds answered by an identical build (in_flight, completed)");
        _inFlight = _meter.CreateUpDownCounter<long>("buildfarm.builds_in_flight", description: "Builds this worker is running");
        _kubeApiRequests = _meter.CreateCounter<long>("buildfarm.kube_api_requests", description: "Kubernetes API requests by verb and status code");
        _logBytesStored = _meter.CreateCounter<long>("buildfarm.log.stored", "By", "Bytes of attempt logs written to the log store");
        _logBytesTruncated = _meter.CreateCounter<long>("buildfarm.log.truncated", "By", "Bytes of attempt logs cut from the middle (over Logs:MaxAttemptBytes)");
        _janitorDeletes = _meter.CreateCounter<long>("buildfarm.janitor.pods_deleted", description: "Pods the janitor deleted, by phase (failed, succeeded)");
        _cacheHits = _meter.CreateCounter<long>("buildfarm.kaniko.cache_hits", description: "Kaniko layer cache hits, by the cache's registry");
        _podCreateRefusals = _meter.CreateCounter<long>("buildfarm.pod_create_refusals",
            description: "Pod creates the API server refused, by kind: quota (wait and create again), misconfigured (RBAC, namespace), rejected (admission)");
        _oomRetries = _meter.CreateCounter<long>("buildfarm.oom_retries",
            description: "OOM-killed attempts by what followed: raised (retried with twice the memory), succeeded or failed (the raised retry), at_cap (not retried)");
        _registrySlotsInUse = _meter.CreateUpDownCounter<long>("buildfarm.registry_slots_in_use", description: "Registry slots this worker holds, by registry");
        _cacheMisses = _meter.CreateCounter<long>("buildfarm.kaniko.cache_misses", description: "Kaniko layer cache misses (not found or expired), by the cache's registry");
    }

    /// <summary>
    /// A histogram in seconds whose bucket bounds are given as instrument advice: the OpenTelemetry SDK uses advised
    /// bounds unless a view overrides them, so the exporter's defaults (0, 5, 10, 25 … 10000, meant for milliseconds)
    /// never apply and the hosts' metric set-up needs no view per instrument.
    /// </summary>
    private Histogram<double> Seconds(string name, string description, IReadOnlyList<double> buckets) =>
        _meter.CreateHistogram(name, "s", description, tags: null, new InstrumentAdvice<double> { HistogramBucketBoundaries = buckets });

    /// <summary>Records an attempt's phases and resets from its log analysis.</summary>
    /// <param name="analysis">The attempt's Kaniko log analysis.</param>
    /// <param name="pushRegistry">The destination registry host (the push phase's registry).</param>
    /// <param name="cacheRepo">The build's <c>cacheRepo</c>, if it set one: the cache counters carry its registry, else the
    /// destination's (Kaniko's default cache repository is the destination's repository + <c>/cache</c>).</param>
    /// <param name="platform">The attempt's platform in a multi-platform build (a <c>platform</c> label on the phase
    /// durations); null for a single-platform build, whose series carry no such label.</param>
    public void RecordAnalysis(KanikoLogAnalysis analysis, string pushRegistry, string? cacheRepo = null, string? platform = null)
    {
        ArgumentNullException.ThrowIfNull(analysis);
        // Pull and extract talk to the base image's registry (from "Retrieving image … from registry X").
        var pullRegistry = analysis.BaseRegistry ?? UnknownRegistry;
        if (analysis.Pull.Seconds is { } pull)
        {
            _pull.Record(pull, Tags(platform, new KeyValuePair<string, object?>("registry", pullRegistry)));
        }
        if (analysis.Extract.Seconds is { } extract)
        {
            _extract.Record(extract, Tags(platform));
        }
        if (analysis.Build.Seconds is { } build)
        {
            _build.Record(build, Tags(platform));
        }
        if (analysis.Push.Seconds is { } push)
        {
            _push.Record(push, Tags(platform, new KeyValuePair<string, object?>("registry", pushRegistry)));
        }
        foreach (var (phase, count) in analysis.Resets)
        {
            if (count > 0)
            {
                var registry = phase == KanikoPhase.Push ? pushRegistry : pullRegistry;
                _resets.Add(count, new("phase", phase.ToWire()), new("registry", registry));
            }
        }
        if (analysis.CacheHits > 0 || analysis.CacheMisses > 0)
        {
            var cacheRegistry = cacheRepo is not null && ImageReference.TryParse(cacheRepo, out var reference) ? reference.RegistryHost : pushRegistry;
            var label = new KeyValuePair<string, object?>("registry", cacheRegistry);
            if (analysis.CacheHits > 0)
            {
                _cacheHits.Add(analysis.CacheHits, label);
            }
            if (analysis.CacheMisses > 0)
            {
                _cacheMisses.Add(analysis.CacheMisses, label);
            }
        }
    }

    /// <summary>
    /// One finished attempt; <paramref name="reason"/> is <c>none</c> for a success. <paramref name="registry"/> is the
    /// destination's registry host (the one push resets carry), so resets at a registry divide by attempts to it.
    /// </summary>
    /// <remarks><paramref name="platform"/>: the attempt's platform in a multi-platform build (a <c>platform</c> label);
    /// null for a single-platform build, whose series carry no such label.</remarks>
    public void RecordAttempt(string outcome, string reason, string registry, string? platform = null) =>
        _attempts.Add(1, Tags(platform, new("outcome", outcome), new("reason", reason), new("registry", registry)));

    /// <summary>The tags given, and <c>platform</c> when there is one.</summary>
    private static TagList Tags(string? platform, params ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var list = new TagList(tags);
        if (platform is not null)
        {
            list.Add("platform", platform);
        }
        return list;
    }

    /// <summary>A connection reset outside a Kaniko log: the worker's own registry requests (phase <c>index</c>).</summary>
    public void RecordConnectionReset(string phase, string registry) => _resets.Add(1, new("phase", phase), new("registry", registry));

    public void RecordBuild(string outcome, TimeSpan duration)
    {
        _builds.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
        _buildDuration.Record(Math.Max(0, duration.TotalSeconds), new KeyValuePair<string, object?>("outcome", outcome));
    }

    /// <summary>An OOM kill's retry (docs/worker.md): <paramref name="outcome"/> is <c>raised</c>, <c>succeeded</c>,
    /// <c>failed</c> or <c>at_cap</c>.</summary>
    public void RecordOomRetry(string outcome) => _oomRetries.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

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

    /// <summary>A refused pod create: <paramref name="kind"/> is <c>quota</c>, <c>misconfigured</c> or <c>rejected</c>.</summary>
    public void RecordPodCreateRefusal(string kind) => _podCreateRefusals.Add(1, new KeyValuePair<string, object?>("kind", kind));

    /// <summary>This worker took (+1) or gave back (−1) a slot of <paramref name="registry"/>.</summary>
    public void RecordRegistrySlot(string registry, int delta) =>
        _registrySlotsInUse.Add(delta, new KeyValuePair<string, object?>("registry", registry));

    public void Dispose() => _meter.Dispose();
}
