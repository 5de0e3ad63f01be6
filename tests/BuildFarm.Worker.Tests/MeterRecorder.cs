using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using BuildFarm.Worker.Metrics;

namespace BuildFarm.Worker.Tests;

/// <summary>
/// Sums the counters of ONE worker host's meter (its <see cref="IMeterFactory"/> is the meter's scope), so that other
/// hosts running in parallel tests do not mix in. Keyed by instrument name and the sorted tags (<c>phase=push,registry=x</c>).
/// </summary>
internal sealed class MeterRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<(string Instrument, string Tags), long> _sums = new();

    public MeterRecorder(IMeterFactory scope)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == BuildFarmMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, scope))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var key = string.Join(",", tags.ToArray().Select(t => $"{t.Key}={t.Value}").Order(StringComparer.Ordinal));
            _sums.AddOrUpdate((instrument.Name, key), value, (_, sum) => sum + value);
        });
        _listener.Start();
    }

    /// <summary>The sum over every tag set of <paramref name="instrument"/> whose tags contain all of <paramref name="tags"/>.</summary>
    public long Sum(string instrument, params string[] tags) =>
        _sums.Where(s => s.Key.Instrument == instrument && tags.All(t => s.Key.Tags.Split(',').Contains(t))).Sum(s => s.Value);

    public IEnumerable<string> Keys(string instrument) => _sums.Keys.Where(k => k.Instrument == instrument).Select(k => k.Tags);

    public void Dispose() => _listener.Dispose();
}
