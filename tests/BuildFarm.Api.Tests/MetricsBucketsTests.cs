using System.Diagnostics.Metrics;
using BuildFarm.Api.Metrics;
using BuildFarm.Api.Options;
using Microsoft.Extensions.DependencyInjection;

namespace BuildFarm.Api.Tests;

/// <summary>The publish-confirm histogram advises its own buckets (1 ms to 10 s), not the exporter's millisecond defaults.</summary>
public sealed class MetricsBucketsTests
{
    [Fact]
    public void PublishDuration_AdvisesLatencyBuckets_TenPerDecadeFrom1msTo10s()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meters = services.GetRequiredService<IMeterFactory>();
        IReadOnlyList<double>? advised = null;
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (ReferenceEquals(instrument.Meter.Scope, meters) && instrument.Name == "buildfarm.api.publish.duration")
                {
                    advised = ((Histogram<double>)instrument).Advice?.HistogramBucketBoundaries;
                }
            },
        };
        listener.Start();
        using var metrics = new ApiMetrics(meters, Microsoft.Extensions.Options.Options.Create(new ApiOptions()));
        Assert.Equal(ApiMetrics.LatencyBuckets, advised);
        var buckets = ApiMetrics.LatencyBuckets;
        Assert.Equal(0.001, buckets[0]);
        Assert.Equal(10, buckets[^1]);
        for (var i = 1; i < buckets.Count; i++)
        {
            Assert.InRange(buckets[i] / buckets[i - 1], 1.0001, 4.0 / 3 + 1e-9);
        }
    }
}
