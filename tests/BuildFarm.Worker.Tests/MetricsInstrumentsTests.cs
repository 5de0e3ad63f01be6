using System.Diagnostics.Metrics;
using System.Net;
using System.Text;
using BuildFarm.Coordination.InMemory;
using BuildFarm.Kaniko.Logs;
using BuildFarm.Worker.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace BuildFarm.Worker.Tests;

/// <summary>The worker's instruments: bucket advice per histogram, refused pod creates by kind, slots in use, labels.</summary>
public sealed class MetricsInstrumentsTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly IMeterFactory _meters;
    private readonly BuildFarmMetrics _metrics;
    private readonly MeterRecorder _recorder;

    public MetricsInstrumentsTests()
    {
        _meters = _services.GetRequiredService<IMeterFactory>();
        _recorder = new MeterRecorder(_meters);
        _metrics = new BuildFarmMetrics(_meters);
    }

    public void Dispose()
    {
        _recorder.Dispose();
        _metrics.Dispose();
        _services.Dispose();
    }

    [Fact]
    public void Histograms_AdviseTheirOwnBuckets_NotTheExportersDefaults()
    {
        var advice = new Dictionary<string, IReadOnlyList<double>?>(StringComparer.Ordinal);
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (ReferenceEquals(instrument.Meter.Scope, _meters) && instrument is Histogram<double> histogram)
                {
                    advice[instrument.Name] = histogram.Advice?.HistogramBucketBoundaries;
                }
            },
        };
        listener.Start();
        Assert.Equal(BuildFarmMetrics.PhaseBuckets, advice["buildfarm.kaniko.pull.duration"]);
        Assert.Equal(BuildFarmMetrics.PhaseBuckets, advice["buildfarm.kaniko.extract.duration"]);
        Assert.Equal(BuildFarmMetrics.PhaseBuckets, advice["buildfarm.kaniko.build.duration"]);
        Assert.Equal(BuildFarmMetrics.PhaseBuckets, advice["buildfarm.kaniko.push.duration"]);
        Assert.Equal(BuildFarmMetrics.BuildBuckets, advice["buildfarm.build.duration"]);
        Assert.Equal(BuildFarmMetrics.WaitBuckets, advice["buildfarm.queue.wait"]);
        Assert.Equal(BuildFarmMetrics.WaitBuckets, advice["buildfarm.pod.startup"]);
        Assert.Equal(7, advice.Count);
    }

    [Theory]
    [InlineData(nameof(BuildFarmMetrics.PhaseBuckets), 0.1, 3600, 0.1, 100, 4.0 / 3)]
    [InlineData(nameof(BuildFarmMetrics.WaitBuckets), 0.001, 3600, 0.05, 100, 4.0 / 3)]
    [InlineData(nameof(BuildFarmMetrics.BuildBuckets), 1, 21600, 1, 3600, 5.0 / 3)]
    public void Buckets_CoverTheirRange_DenseWhereTheValuesFall(string name, double first, double last, double denseFrom, double denseTo, double denseRatio)
    {
        var buckets = (IReadOnlyList<double>)typeof(BuildFarmMetrics).GetField(name)!.GetValue(null)!;
        AssertBuckets(name, buckets, first, last, denseFrom, denseTo, denseRatio);
    }

    /// <summary>From <paramref name="first"/> to <paramref name="last"/>, increasing, never more than 2.5× apart, and at most
    /// <paramref name="denseRatio"/> apart between <paramref name="denseFrom"/> and <paramref name="denseTo"/>.</summary>
    internal static void AssertBuckets(string name, IReadOnlyList<double> buckets, double first, double last, double denseFrom, double denseTo, double denseRatio)
    {
        Assert.Equal(first, buckets[0]);
        Assert.Equal(last, buckets[^1]);
        for (var i = 1; i < buckets.Count; i++)
        {
            var ratio = buckets[i] / buckets[i - 1];
            Assert.True(ratio > 1 && ratio <= 2.5, $"{name}: {buckets[i - 1]} → {buckets[i]}");
            if (buckets[i - 1] >= denseFrom && buckets[i] <= denseTo)
            {
                Assert.True(ratio <= denseRatio + 1e-9, $"{name}: {buckets[i - 1]} → {buckets[i]} is more than {denseRatio:0.##}× apart");
            }
        }
    }

    [Fact]
    public void RecordAttempt_CarriesTheDestinationsRegistry()
    {
        _metrics.RecordAttempt("failed", "connection_reset", "registry.example.com");
        _metrics.RecordAttempt("succeeded", "none", "mirror.example.org");
        Assert.Equal(1, _recorder.Sum("buildfarm.build_attempts", "registry=registry.example.com", "reason=connection_reset"));
        Assert.Equal(1, _recorder.Sum("buildfarm.build_attempts", "registry=mirror.example.org", "outcome=succeeded"));
    }

    [Fact]
    public void RecordAnalysis_CacheHitsAndMisses_ByTheCacheRepositorysRegistry_ElseTheDestinations()
    {
        var analysis = new KanikoLogAnalysis { CacheHits = 3, CacheMisses = 2 };
        _metrics.RecordAnalysis(analysis, "registry.example.com");
        _metrics.RecordAnalysis(analysis, "registry.example.com", "cache.example.net:5000/team/cache");
        Assert.Equal(3, _recorder.Sum("buildfarm.kaniko.cache_hits", "registry=registry.example.com"));
        Assert.Equal(2, _recorder.Sum("buildfarm.kaniko.cache_misses", "registry=registry.example.com"));
        Assert.Equal(3, _recorder.Sum("buildfarm.kaniko.cache_hits", "registry=cache.example.net"));
        Assert.Equal(2, _recorder.Sum("buildfarm.kaniko.cache_misses", "registry=cache.example.net"));
        _metrics.RecordAnalysis(new KanikoLogAnalysis(), "registry.example.com");
        Assert.Equal(3, _recorder.Sum("buildfarm.kaniko.cache_hits", "registry=registry.example.com"));
    }

    [Theory]
    [InlineData("POST", 403, "pods \"bf-1\" is forbidden: exceeded quota: kaniko-pods, requested: pods=1, used: pods=4, limited: pods=4", "quota")]
    [InlineData("POST", 403, "pods is forbidden: User \"system:serviceaccount:buildfarm:worker\" cannot create resource \"pods\" in API group \"\" in the namespace \"builds\"", "misconfigured")]
    [InlineData("POST", 403, "pods \"bf-1\" is forbidden: maximum memory usage per Container is 8Gi, but limit is 16Gi", "rejected")]
    [InlineData("POST", 409, "pods \"bf-1\" already exists", null)]
    [InlineData("POST", 429, "Too many requests", null)]
    [InlineData("GET", 403, "pods is forbidden: exceeded quota", null)]
    public async Task KubeApiHandler_RefusedPodCreates_CountedByKind_AndTheBodyStillReadable(string method, int code, string message, string? kind)
    {
        var body = $$"""{"kind":"Status","apiVersion":"v1","status":"Failure","message":"{{message.Replace("\"", "\\\"", StringComparison.Ordinal)}}","code":{{code}}}""";
        using var handler = new KubeApiMetricsHandler(_metrics) { InnerHandler = new Answer((HttpStatusCode)code, body) };
        using var client = new HttpClient(handler);
        using var request = new HttpRequestMessage(new HttpMethod(method), "http://127.0.0.1/api/v1/namespaces/builds/pods");
        using var response = await client.SendAsync(request);
        Assert.Equal(body, await response.Content.ReadAsStringAsync());
        Assert.Equal(kind is null ? 0 : 1, _recorder.Sum("buildfarm.pod_create_refusals"));
        if (kind is not null)
        {
            Assert.Equal(1, _recorder.Sum("buildfarm.pod_create_refusals", $"kind={kind}"));
        }
    }

    [Fact]
    public async Task MeteredRegistrySlots_CountHeldSlotsOnce_AndGiveThemBack()
    {
        var slots = new MeteredRegistrySlots(new InMemoryRegistrySlots(TimeProvider.System), _metrics);
        var first = await slots.TryAcquireAsync("registry.example.com", "b1", 2, TimeSpan.FromMinutes(1), default);
        var again = await slots.TryAcquireAsync("registry.example.com", "b1", 2, TimeSpan.FromMinutes(1), default);
        var second = await slots.TryAcquireAsync("registry.example.com", "b2", 2, TimeSpan.FromMinutes(1), default);
        var refused = await slots.TryAcquireAsync("registry.example.com", "b3", 2, TimeSpan.FromMinutes(1), default);
        Assert.NotNull(first);
        Assert.NotNull(again);
        Assert.NotNull(second);
        Assert.Null(refused);
        Assert.Equal(2, _recorder.Sum("buildfarm.registry_slots_in_use", "registry=registry.example.com"));
        await slots.ReleaseAsync(first!, default);
        await slots.ReleaseAsync(again!, default);
        Assert.Equal(1, _recorder.Sum("buildfarm.registry_slots_in_use", "registry=registry.example.com"));
        await slots.ReleaseAsync(second!, default);
        Assert.Equal(0, _recorder.Sum("buildfarm.registry_slots_in_use", "registry=registry.example.com"));
    }

    private sealed class Answer(HttpStatusCode code, string body) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(code) { Content = new StringContent(body, Encoding.UTF8, "application/json"), RequestMessage = request });
    }
}
