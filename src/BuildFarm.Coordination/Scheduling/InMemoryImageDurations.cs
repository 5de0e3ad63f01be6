namespace BuildFarm.Coordination.Scheduling;

/// <summary>Image durations in process (demo and unit tests), with the same semantics as the Redis ones.</summary>
public sealed class InMemoryImageDurations(ImageDurationOptions options, TimeProvider time) : IImageDurations
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (double Mean, DateTimeOffset Expires)> _means = new(StringComparer.Ordinal);

    public Task<IReadOnlyDictionary<string, double>> ExpectedAsync(IReadOnlyCollection<string> images, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(images);
        ImageDurations.CheckCount(images.Count, nameof(images));
        cancellationToken.ThrowIfCancellationRequested();
        var now = time.GetUtcNow();
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        lock (_gate)
        {
            foreach (var image in images)
            {
                result[image] = _means.TryGetValue(image, out var stored) && stored.Expires > now ? stored.Mean : options.DefaultSeconds;
            }
        }
        return Task.FromResult<IReadOnlyDictionary<string, double>>(result);
    }

    public Task RecordAsync(IReadOnlyList<DurationSample> samples, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(samples);
        ImageDurations.CheckCount(samples.Count, nameof(samples));
        cancellationToken.ThrowIfCancellationRequested();
        var now = time.GetUtcNow();
        lock (_gate)
        {
            foreach (var (image, seconds) in samples)
            {
                double? mean = _means.TryGetValue(image, out var stored) && stored.Expires > now ? stored.Mean : null;
                _means[image] = (ImageDurations.Fold(mean, seconds, options.Alpha), now + options.Ttl);
            }
        }
        return Task.CompletedTask;
    }
}
