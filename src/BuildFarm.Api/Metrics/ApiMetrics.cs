using System.Diagnostics;
using System.Diagnostics.Metrics;
using BuildFarm.Api.Options;
using Microsoft.Extensions.Options;

namespace BuildFarm.Api.Metrics;

/// <summary>
/// The API's one <see cref="Meter"/> (<c>BuildFarm.Api</c>). Exported names (docs/api.md "Metrics"):
/// <c>buildfarm_api_builds_submitted_total{kind}</c>, <c>buildfarm_api_batches_submitted_total{source}</c>,
/// <c>buildfarm_api_requests_rejected_total{reason}</c>, <c>buildfarm_api_publish_failures_total{reason}</c>,
/// <c>buildfarm_api_idempotent_replays_total</c>, <c>buildfarm_api_cancels_total</c>,
/// <c>buildfarm_api_publish_duration_seconds</c>, <c>buildfarm_api_sse_streams</c>. Labels are low-cardinality: no
/// tenant, unless <c>Api:Metrics:TenantLabel</c> adds one to the submit and cancel counters.
/// </summary>
public sealed class ApiMetrics : IDisposable
{
    public const string MeterName = "BuildFarm.Api";

    private readonly Meter _meter;
    private readonly Counter<long> _builds;
    private readonly Counter<long> _batches;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _publishFailures;
    private readonly Counter<long> _replays;
    private readonly Counter<long> _cancels;
    private readonly Histogram<double> _publishDuration;
    private readonly UpDownCounter<long> _sseStreams;
    private readonly bool _tenantLabel;

    /// <summary>
    /// Bucket bounds (seconds) of API latencies (the broker's publish confirm): 1 ms to 10 s (past <c>Api:PublishTimeout</c>'s
    /// default 5 s a publish has failed), ten per decade (neighbours at most 1.33× apart) so that interpolated quantiles,
    /// p99 included, stay within 15%.
    /// docs/dashboards.md "Histogram buckets".
    /// </summary>
    public static readonly IReadOnlyList<double> LatencyBuckets =
        [0.001, 0.00125, 0.0015, 0.002, 0.0025, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01, 0.0125,
            0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.125, 0.15, 0.2,
            0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.25, 1.5, 2, 2.5, 3,
            4, 5, 6, 8, 10];

    public ApiMetrics(IMeterFactory meterFactory, IOptions<ApiOptions> options)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        ArgumentNullException.ThrowIfNull(options);
        _tenantLabel = options.Value.Metrics.TenantLabel;
        _meter = meterFactory.Create(MeterName);
        _builds = _meter.CreateCounter<long>("buildfarm.api.builds_submitted", description: "Builds accepted, by kind (single, batch)");
        _batches = _meter.CreateCounter<long>("buildfarm.api.batches_submitted", description: "Batches accepted, by source (json, manifest)");
        _rejected = _meter.CreateCounter<long>("buildfarm.api.requests_rejected", description: "Requests refused before anything was stored, by reason");
        _publishFailures = _meter.CreateCounter<long>("buildfarm.api.publish_failures", description: "Publishes the broker did not confirm in time (the submit was rolled back, 503)");
        _replays = _meter.CreateCounter<long>("buildfarm.api.idempotent_replays", description: "Submits answered from an earlier request with the same Idempotency-Key");
        _cancels = _meter.CreateCounter<long>("buildfarm.api.cancels", description: "CancelBuild commands published");
        _publishDuration = _meter.CreateHistogram("buildfarm.api.publish.duration", "s", "Time for the broker to confirm a submit's publish",
            tags: null, new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        _sseStreams = _meter.CreateUpDownCounter<long>("buildfarm.api.sse_streams", description: "Open Server-Sent Event streams");
    }

    public void BuildsSubmitted(string kind, int count, string tenant) => _builds.Add(count, Tags(tenant, ("kind", kind)));

    public void BatchSubmitted(string source, string tenant) => _batches.Add(1, Tags(tenant, ("source", source)));

    /// <summary>Reasons: <c>validation</c>, <c>too_large</c>, <c>no_key</c>, <c>unknown_key</c>, <c>missing_scope</c>, <c>idempotency_conflict</c>, <c>unsupported_media_type</c>.</summary>
    public void Rejected(string reason) => _rejected.Add(1, new KeyValuePair<string, object?>("reason", reason));

    /// <summary>Reasons: <c>timeout</c>, <c>error</c>.</summary>
    public void PublishFailed(string reason) => _publishFailures.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void PublishConfirmed(TimeSpan elapsed) => _publishDuration.Record(elapsed.TotalSeconds);

    public void IdempotentReplay() => _replays.Add(1);

    public void CancelPublished(string tenant) => _cancels.Add(1, Tags(tenant));

    public void StreamOpened() => _sseStreams.Add(1);

    public void StreamClosed() => _sseStreams.Add(-1);

    public void Dispose() => _meter.Dispose();

    private TagList Tags(string tenant, params ReadOnlySpan<(string Name, string Value)> labels)
    {
        var tags = new TagList();
        foreach (var (name, value) in labels)
        {
            tags.Add(name, value);
        }
        if (_tenantLabel)
        {
            tags.Add("tenant", tenant);
        }
        return tags;
    }
}
